# A complete livefleet deployment in one region, with its own admin token.
# See README.md for the certificates and images it needs.

provider "aws" {
  region = var.region
}

resource "aws_secretsmanager_secret" "admin_token" {
  #checkov:skip=CKV2_AWS_57:The admin token is rotated by an operator (docs/operations.md); there is no rotation Lambda for a bearer token the scheduler reads at start.
  name_prefix = "livefleet-${var.name}-admin-"
  description = "Bearer token of the livefleet admin API"
  kms_key_id  = aws_kms_key.secrets.arn
}

resource "aws_kms_key" "secrets" {
  #checkov:skip=CKV2_AWS_64:The default key policy (the account's root) is what the example needs; production accounts attach their own.
  description             = "livefleet ${var.name} secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "random_password" "admin_token" {
  length  = 40
  special = false
}

resource "aws_secretsmanager_secret_version" "admin_token" {
  secret_id     = aws_secretsmanager_secret.admin_token.id
  secret_string = random_password.admin_token.result
}

module "livefleet" {
  source = "../../"

  name                     = var.name
  playback_domain          = var.playback_domain
  playback_certificate_arn = var.playback_certificate_arn
  web_certificate_arn      = var.web_certificate_arn
  admin_token_secret_arn   = aws_secretsmanager_secret.admin_token.arn
  control_image            = var.control_image
  worker_image             = var.worker_image
  worker_instance_type     = "g4dn.xlarge"
  worker_min_size          = 1
  worker_max_size          = 4
  single_nat_gateway       = true
  enable_chat              = false

  tags = {
    Environment = "example"
  }
}
