# The GPU worker group: a launch template on NVIDIA's driver AMI (looked up
# from SSM), an auto-scaling group across the private subnets, and scaling on
# the scheduler's free-capacity metric. Each instance checks its GPU with
# `livefleet worker gpu-check` before it starts the worker container.

data "aws_ssm_parameter" "ami" {
  name = var.ami_ssm_parameter
}

data "aws_region" "current" {}

resource "aws_security_group" "worker" {
  name_prefix = "${var.name}-worker-"
  description = "livefleet workers: metrics from inside the VPC; out to NATS, the bucket and image registries"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-worker" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "metrics" {
  security_group_id = aws_security_group.worker.id
  description       = "Prometheus scrapes /metrics"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = var.metrics_port
  to_port           = var.metrics_port
}

resource "aws_vpc_security_group_egress_rule" "nats" {
  security_group_id = aws_security_group.worker.id
  description       = "NATS (media, assignments, heartbeats)"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = 4222
  to_port           = 4222
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.worker.id
  description       = "S3 (gateway endpoint), container registry, CloudWatch"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/livefleet/${var.name}/worker"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "worker" {
  name_prefix        = "${var.name}-worker-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

# Least privilege: objects under the live and archive prefixes only (write,
# read back for the archive copy, delete for the DVR window), and the
# worker's own log group.
data "aws_iam_policy_document" "worker" {
  statement {
    sid     = "MediaObjects"
    actions = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "${var.bucket_arn}/live/*",
      "${var.bucket_arn}/vod/*",
    ]
  }

  # HeadBucket (the worker's start-up check) and listing need ListBucket on
  # the bucket itself; it reveals key names, never contents.
  statement {
    sid       = "ListMedia"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.worker.arn}:*"]
  }
}

resource "aws_iam_role_policy" "worker" {
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.worker.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy_attachment" "ecr" {
  role       = aws_iam_role.worker.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
}

resource "aws_iam_instance_profile" "worker" {
  name_prefix = "${var.name}-worker-"
  role        = aws_iam_role.worker.name
}

resource "aws_launch_template" "worker" {
  name_prefix   = "${var.name}-worker-"
  image_id      = data.aws_ssm_parameter.ami.value
  instance_type = var.instance_type
  ebs_optimized = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.worker.arn
  }

  vpc_security_group_ids = [aws_security_group.worker.id]

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    http_endpoint               = "enabled"
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/sda1"
    ebs {
      volume_type           = "gp3"
      volume_size           = var.volume_size_gb
      encrypted             = true
      delete_on_termination = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/user-data.sh.tftpl", {
    image        = var.image
    nats_urls    = var.nats_urls
    bucket       = var.bucket_name
    region       = data.aws_region.current.name
    log_group    = aws_cloudwatch_log_group.worker.name
    metrics_port = var.metrics_port
    capacity     = var.capacity_nvenc_pps
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-worker", Role = "livefleet-worker" })
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "worker" {
  name_prefix               = "${var.name}-worker-"
  min_size                  = var.min_size
  max_size                  = var.max_size
  desired_capacity          = var.min_size
  vpc_zone_identifier       = var.subnet_ids
  health_check_type         = "EC2"
  health_check_grace_period = 300
  # A worker's channels move to others when it stops heartbeating; give it
  # time to drain (`livefleet node drain`) before the instance goes.
  default_instance_warmup = 300

  launch_template {
    id      = aws_launch_template.worker.id
    version = "$Latest"
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  tag {
    key                 = "Name"
    value               = "${var.name}-worker"
    propagate_at_launch = true
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }
}

# Scaling on the free encoding capacity the scheduler reports (the control
# nodes' CloudWatch agent publishes livefleet_scheduler_free_capacity_pixels_per_second
# into the Livefleet namespace; the leader's value is the Maximum).
resource "aws_autoscaling_policy" "out" {
  name                   = "${var.name}-worker-out"
  autoscaling_group_name = aws_autoscaling_group.worker.name
  policy_type            = "SimpleScaling"
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = 1
  cooldown               = 300
}

resource "aws_autoscaling_policy" "in" {
  name                   = "${var.name}-worker-in"
  autoscaling_group_name = aws_autoscaling_group.worker.name
  policy_type            = "SimpleScaling"
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = -1
  cooldown               = 900
}

resource "aws_cloudwatch_metric_alarm" "low_free_capacity" {
  alarm_name          = "${var.name}-free-capacity-low"
  alarm_description   = "Less than ${var.scale_out_below_pps} px/s of ${var.encoder} capacity free: add a worker"
  namespace           = var.metric_namespace
  metric_name         = "livefleet_scheduler_free_capacity_pixels_per_second"
  dimensions          = { encoder = var.encoder }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = var.scale_out_below_pps
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_autoscaling_policy.out.arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "high_free_capacity" {
  alarm_name          = "${var.name}-free-capacity-high"
  alarm_description   = "More than ${var.scale_in_above_pps} px/s of ${var.encoder} capacity free for 15 minutes: remove a worker"
  namespace           = var.metric_namespace
  metric_name         = "livefleet_scheduler_free_capacity_pixels_per_second"
  dimensions          = { encoder = var.encoder }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.scale_in_above_pps
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_autoscaling_policy.in.arn]
  tags                = var.tags
}
