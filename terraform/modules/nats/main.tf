# A 3-node NATS cluster with JetStream on its own instances: fixed private
# addresses (the routes name each other), two nodes in the first AZ and one in
# the second, each node's JetStream store on its encrypted root volume.

data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

data "aws_subnet" "private" {
  count = length(var.subnet_ids)
  id    = var.subnet_ids[count.index]
}

locals {
  nodes = [for i in range(3) : {
    name      = "nats-${i}"
    subnet_id = var.subnet_ids[i % length(var.subnet_ids)]
    ip        = cidrhost(data.aws_subnet.private[i % length(var.subnet_ids)].cidr_block, 10 + i)
  }]
  routes = join(",", [for n in local.nodes : "nats-route://${n.ip}:6222"])
}

resource "aws_security_group" "nats" {
  name_prefix = "${var.name}-nats-"
  description = "NATS: clients on 4222 from livefleet parts, routes on 6222 between the nodes, monitoring on 8222 inside the VPC"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-nats" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each                     = toset(var.client_security_group_ids)
  security_group_id            = aws_security_group.nats.id
  description                  = "NATS clients (livefleet parts)"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 4222
  to_port                      = 4222
}

resource "aws_vpc_security_group_ingress_rule" "routes" {
  security_group_id            = aws_security_group.nats.id
  description                  = "NATS cluster routes between the nodes"
  referenced_security_group_id = aws_security_group.nats.id
  ip_protocol                  = "tcp"
  from_port                    = 6222
  to_port                      = 6222
}

resource "aws_vpc_security_group_ingress_rule" "monitoring" {
  security_group_id = aws_security_group.nats.id
  description       = "NATS monitoring endpoint (Prometheus exporters) inside the VPC"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = 8222
  to_port           = 8222
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.nats.id
  description       = "Package and image downloads through the NAT gateways"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "routes" {
  security_group_id            = aws_security_group.nats.id
  description                  = "NATS cluster routes between the nodes"
  referenced_security_group_id = aws_security_group.nats.id
  ip_protocol                  = "tcp"
  from_port                    = 6222
  to_port                      = 6222
}

resource "aws_cloudwatch_log_group" "nats" {
  name              = "/livefleet/${var.name}/nats"
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

resource "aws_iam_role" "nats" {
  name_prefix        = "${var.name}-nats-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.nats.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.nats.arn}:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  role   = aws_iam_role.nats.id
  policy = data.aws_iam_policy_document.logs.json
}

resource "aws_iam_instance_profile" "nats" {
  name_prefix = "${var.name}-nats-"
  role        = aws_iam_role.nats.name
}

resource "aws_instance" "nats" {
  count                  = 3
  ami                    = data.aws_ssm_parameter.al2023.value
  instance_type          = var.instance_type
  subnet_id              = local.nodes[count.index].subnet_id
  private_ip             = local.nodes[count.index].ip
  vpc_security_group_ids = [aws_security_group.nats.id]
  iam_instance_profile   = aws_iam_instance_profile.nats.name
  monitoring             = true
  ebs_optimized          = true

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    http_endpoint               = "enabled"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.volume_size_gb
    encrypted   = true
  }

  user_data = templatefile("${path.module}/user-data.sh.tftpl", {
    name      = local.nodes[count.index].name
    ip        = local.nodes[count.index].ip
    routes    = local.routes
    image     = var.image
    log_group = aws_cloudwatch_log_group.nats.name
    max_store = var.jetstream_max_store
  })
  user_data_replace_on_change = true

  tags = merge(var.tags, { Name = "${var.name}-${local.nodes[count.index].name}" })
}
