# The control nodes: the scheduler replicas (HA through the NATS lease), the
# RTMP ingest behind a network load balancer on TCP 1935, and the chat relay
# and admin API behind an application load balancer with HTTPS/WSS. Their
# CloudWatch agent publishes the scheduler's free-capacity metric, which
# scales the worker group.

data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

data "aws_region" "current" {}

locals {
  ports = {
    rtmp      = 1935
    admin     = 8090
    chat      = 8000
    scheduler = 9200
    ingest    = 9300
  }
}

# ---- security groups -------------------------------------------------------

resource "aws_security_group" "control" {
  name_prefix = "${var.name}-control-"
  description = "livefleet control nodes: RTMP from the NLB, admin and chat from the ALB, metrics inside the VPC"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-control" })

  lifecycle {
    create_before_destroy = true
  }
}

# The NLB keeps the publisher's address (client IP preservation), so RTMP is
# open to the publishers' CIDRs here as on the NLB.
resource "aws_vpc_security_group_ingress_rule" "rtmp" {
  for_each          = toset(var.rtmp_allowed_cidrs)
  security_group_id = aws_security_group.control.id
  description       = "RTMP publishers through the NLB"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = local.ports.rtmp
  to_port           = local.ports.rtmp
}

resource "aws_vpc_security_group_ingress_rule" "from_alb" {
  for_each                     = toset(["admin", "chat"])
  security_group_id            = aws_security_group.control.id
  description                  = "${each.key} from the ALB"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports[each.key]
  to_port                      = local.ports[each.key]
}

resource "aws_vpc_security_group_ingress_rule" "metrics" {
  for_each          = toset(["scheduler", "ingest"])
  security_group_id = aws_security_group.control.id
  description       = "Prometheus scrapes the ${each.key}'s /metrics"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = local.ports[each.key]
  to_port           = local.ports[each.key]
}

resource "aws_vpc_security_group_egress_rule" "nats" {
  security_group_id = aws_security_group.control.id
  description       = "NATS"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = 4222
  to_port           = 4222
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.control.id
  description       = "Container registry, CloudWatch, S3"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "livefleet ALB: HTTPS/WSS from viewers and operators"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

# HTTPS only: every client (chat SDKs over WSS, API clients) is given https/wss URLs.
resource "aws_vpc_security_group_ingress_rule" "alb" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS and WSS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb" {
  for_each                     = toset(["admin", "chat"])
  security_group_id            = aws_security_group.alb.id
  description                  = "To the control nodes' ${each.key}"
  referenced_security_group_id = aws_security_group.control.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports[each.key]
  to_port                      = local.ports[each.key]
}

# ---- load balancers --------------------------------------------------------

resource "aws_lb" "rtmp" {
  #checkov:skip=CKV_AWS_91:NLB access logs cover TLS listeners only; RTMP is plain TCP, and the ingest logs every publish with the peer address.
  name_prefix                      = "lfrtmp"
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = var.public_subnet_ids
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection
  tags                             = var.tags
}

resource "aws_lb_target_group" "rtmp" {
  name_prefix          = "lfrtmp"
  port                 = local.ports.rtmp
  protocol             = "TCP"
  vpc_id               = var.vpc_id
  deregistration_delay = 30
  preserve_client_ip   = "true"

  health_check {
    protocol            = "TCP"
    port                = tostring(local.ports.rtmp)
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "rtmp" {
  #checkov:skip=CKV_AWS_2:RTMP over TCP: publishers (OBS, ffmpeg) speak plain RTMP on 1935; an RTMPS listener would be a TLS listener with the same certificate.
  #checkov:skip=CKV_AWS_103:See CKV_AWS_2: not a TLS listener.
  load_balancer_arn = aws_lb.rtmp.arn
  port              = local.ports.rtmp
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.rtmp.arn
  }
}

resource "aws_lb" "web" {
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is the operator's choice (associate one with the ALB); the admin API requires a bearer token and chat a signed token to send.
  name_prefix                = "lfweb"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  # WebSocket chat connections stay open; the ALB closes idle ones after this.
  idle_timeout = 3600

  access_logs {
    bucket  = var.access_log_bucket
    prefix  = "alb"
    enabled = var.access_log_bucket != null
  }

  tags = var.tags
}

resource "aws_lb_target_group" "admin" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; the targets are in private subnets and accept the ALB's security group only.
  name_prefix = "lfadm"
  port        = local.ports.admin
  protocol    = "HTTP"
  vpc_id      = var.vpc_id

  health_check {
    path    = "/healthz"
    matcher = "200"
  }

  tags = var.tags
}

resource "aws_lb_target_group" "chat" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; the targets are in private subnets and accept the ALB's security group only.
  name_prefix = "lfchat"
  port        = local.ports.chat
  protocol    = "HTTP"
  vpc_id      = var.vpc_id

  health_check {
    path    = "/healthz"
    matcher = "200"
  }

  stickiness {
    type    = "lb_cookie"
    enabled = false
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.web.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.admin.arn
  }
}

resource "aws_lb_listener_rule" "chat" {
  count        = var.enable_chat ? 1 : 0
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.chat.arn
  }

  condition {
    path_pattern {
      values = ["/connection/*", "/v1/chat/*"]
    }
  }
}


# ---- instances -------------------------------------------------------------

resource "aws_cloudwatch_log_group" "control" {
  name              = "/livefleet/${var.name}/control"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "metrics" {
  name              = "/livefleet/${var.name}/scheduler-metrics"
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

resource "aws_iam_role" "control" {
  name_prefix        = "${var.name}-control-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "control" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.control.arn}:*"]
  }

  # The CloudWatch agent writes the scheduler's metrics as embedded metric
  # format events into their log group; CloudWatch turns them into metrics.
  statement {
    sid       = "SchedulerMetrics"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.metrics.arn}:*"]
  }

  statement {
    sid       = "AdminToken"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = compact([var.admin_token_secret_arn, var.webhook_secret_arn])
  }
}

resource "aws_iam_role_policy" "control" {
  role   = aws_iam_role.control.id
  policy = data.aws_iam_policy_document.control.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.control.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy_attachment" "ecr" {
  role       = aws_iam_role.control.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
}

resource "aws_iam_instance_profile" "control" {
  name_prefix = "${var.name}-control-"
  role        = aws_iam_role.control.name
}

resource "aws_launch_template" "control" {
  name_prefix   = "${var.name}-control-"
  image_id      = data.aws_ssm_parameter.al2023.value
  instance_type = var.instance_type
  ebs_optimized = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.control.arn
  }

  vpc_security_group_ids = [aws_security_group.control.id]

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    http_endpoint               = "enabled"
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_type           = "gp3"
      volume_size           = 30
      encrypted             = true
      delete_on_termination = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/user-data.sh.tftpl", {
    image             = var.image
    nats_urls         = var.nats_urls
    region            = data.aws_region.current.name
    log_group         = aws_cloudwatch_log_group.control.name
    admin_secret      = var.admin_token_secret_arn
    webhook_url       = var.webhook_url
    webhook_secret    = var.webhook_secret_arn
    rtmp_base_url     = "rtmp://${aws_lb.rtmp.dns_name}:${local.ports.rtmp}/live"
    playback_base_url = var.playback_base_url
    enable_chat       = var.enable_chat
    namespace         = var.metric_namespace
    metrics_log_group = aws_cloudwatch_log_group.metrics.name
    ports             = local.ports
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-control", Role = "livefleet-control" })
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "control" {
  name_prefix               = "${var.name}-control-"
  min_size                  = var.replicas
  max_size                  = var.replicas
  desired_capacity          = var.replicas
  vpc_zone_identifier       = var.private_subnet_ids
  health_check_type         = "ELB"
  health_check_grace_period = 300
  target_group_arns = concat(
    [aws_lb_target_group.rtmp.arn, aws_lb_target_group.admin.arn],
    var.enable_chat ? [aws_lb_target_group.chat.arn] : [],
  )

  launch_template {
    id      = aws_launch_template.control.id
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
    value               = "${var.name}-control"
    propagate_at_launch = true
  }
}
