# livefleet on AWS: a VPC over two AZs, a 3-node NATS cluster, control nodes
# (scheduler, RTMP ingest behind an NLB, chat and admin API behind an ALB), an
# auto-scaling group of GPU workers scaled on the scheduler's free capacity,
# and the media bucket behind CloudFront.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  tags = merge(var.tags, { Application = "livefleet", Deployment = var.name })
}

# One key for every log group.
resource "aws_kms_key" "logs" {
  description             = "livefleet ${var.name} log groups"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.logs_key.json
  tags                    = local.tags
}

data "aws_iam_policy_document" "logs_key" {
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself; the account statement is AWS's default key policy, which keeps the key manageable.
  #checkov:skip=CKV_AWS_356:See CKV_AWS_111: in a key policy "*" means this key.
  #checkov:skip=CKV_AWS_109:See CKV_AWS_111: the account's own root keeps administering its key.
  statement {
    sid       = "Account"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/livefleet/*"]
    }
  }
}

module "network" {
  source             = "./modules/network"
  name               = var.name
  cidr               = var.vpc_cidr
  single_nat_gateway = var.single_nat_gateway
  log_kms_key_arn    = aws_kms_key.logs.arn
  tags               = local.tags
}

module "storage" {
  source                   = "./modules/storage"
  name                     = var.name
  playback_domain          = var.playback_domain
  playback_certificate_arn = var.playback_certificate_arn
  live_expiration_days     = var.live_expiration_days
  archive_transition_days  = var.archive_transition_days
  cors_allowed_origins     = var.cors_allowed_origins
  web_acl_arn              = var.web_acl_arn
  tags                     = local.tags
}

module "nats" {
  source                    = "./modules/nats"
  name                      = var.name
  vpc_id                    = module.network.vpc_id
  vpc_cidr                  = module.network.vpc_cidr
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = [module.control.security_group_id, module.workers.security_group_id]
  instance_type             = var.nats_instance_type
  log_kms_key_arn           = aws_kms_key.logs.arn
  tags                      = local.tags
}

module "control" {
  source                 = "./modules/control"
  name                   = var.name
  vpc_id                 = module.network.vpc_id
  vpc_cidr               = module.network.vpc_cidr
  public_subnet_ids      = module.network.public_subnet_ids
  private_subnet_ids     = module.network.private_subnet_ids
  replicas               = var.control_replicas
  image                  = var.control_image
  nats_urls              = module.nats.urls
  certificate_arn        = var.web_certificate_arn
  admin_token_secret_arn = var.admin_token_secret_arn
  webhook_url            = var.webhook_url
  webhook_secret_arn     = var.webhook_secret_arn
  playback_base_url      = module.storage.playback_base_url
  rtmp_allowed_cidrs     = var.rtmp_allowed_cidrs
  enable_chat            = var.enable_chat
  log_kms_key_arn        = aws_kms_key.logs.arn
  tags                   = local.tags
}

module "workers" {
  source              = "./modules/workers"
  name                = var.name
  vpc_id              = module.network.vpc_id
  vpc_cidr            = module.network.vpc_cidr
  subnet_ids          = module.network.private_subnet_ids
  instance_type       = var.worker_instance_type
  image               = var.worker_image
  nats_urls           = module.nats.urls
  bucket_name         = module.storage.bucket_name
  bucket_arn          = module.storage.bucket_arn
  min_size            = var.worker_min_size
  max_size            = var.worker_max_size
  capacity_nvenc_pps  = var.worker_capacity_nvenc_pps
  scale_out_below_pps = var.scale_out_below_pps
  scale_in_above_pps  = var.scale_in_above_pps
  log_kms_key_arn     = aws_kms_key.logs.arn
  tags                = local.tags
}
