variable "name" {
  description = "Name prefix of the control resources."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the control nodes and load balancers."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (NATS and Prometheus live inside it)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets of the load balancers."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets of the control nodes."
  type        = list(string)
}

variable "replicas" {
  description = "Control nodes (scheduler replicas and ingests); two or more for a scheduler that survives a node."
  type        = number
  default     = 2

  validation {
    condition     = var.replicas >= 1 && var.replicas <= 9
    error_message = "replicas must be between 1 and 9."
  }
}

variable "instance_type" {
  description = "Instance type of a control node."
  type        = string
  default     = "c7i.large"
}

variable "image" {
  description = "Control container image (docker/Dockerfile, target control)."
  type        = string
}

variable "nats_urls" {
  description = "Comma-separated NATS URLs."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the ALB (chat and admin API over HTTPS/WSS), in this region."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "admin_token_secret_arn" {
  description = "Secrets Manager secret holding the admin API's bearer token."
  type        = string
}

variable "webhook_url" {
  description = "Where the schedulers POST broadcast and VOD events (docs/operations.md#webhooks); empty: no webhooks."
  type        = string
  default     = ""

  validation {
    condition     = var.webhook_url == "" || can(regex("^https?://", var.webhook_url))
    error_message = "webhook_url must be an http or https URL, or empty."
  }
}

variable "webhook_secret_arn" {
  description = "Secrets Manager secret holding the key that signs webhooks (HMAC-SHA256); empty: unsigned."
  type        = string
  default     = ""
}

variable "playback_base_url" {
  description = "Playback URL base the admin API hands out (<base>/<channel>/master.m3u8)."
  type        = string
}

variable "rtmp_allowed_cidrs" {
  description = "CIDRs allowed to publish RTMP (the NLB preserves client addresses)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "enable_chat" {
  description = "Run the chat relay (`livefleet chat`) on the control nodes and route /connection/* and /v1/chat/* on the ALB to it."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Protect the load balancers from deletion."
  type        = bool
  default     = true
}

variable "access_log_bucket" {
  description = "Optional S3 bucket for the ALB's access logs."
  type        = string
  default     = null
}

variable "metric_namespace" {
  description = "CloudWatch namespace the scheduler's metrics are published in."
  type        = string
  default     = "Livefleet"
}

variable "log_retention_days" {
  description = "Days the control logs are kept."
  type        = number
  default     = 365
}

variable "log_kms_key_arn" {
  description = "KMS key ARN that encrypts the log groups."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
