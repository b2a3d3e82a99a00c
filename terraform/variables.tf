variable "name" {
  description = "Deployment name: the prefix of every resource (lower-case letters, digits, hyphens)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per AZ (cheaper, less available)."
  type        = bool
  default     = false
}

variable "playback_domain" {
  description = "Domain viewers play from (CloudFront alias), for example play.example.com."
  type        = string
}

variable "playback_certificate_arn" {
  description = "ACM certificate in us-east-1 covering playback_domain."
  type        = string
}

variable "web_certificate_arn" {
  description = "ACM certificate in this region for the ALB (chat over WSS, admin API over HTTPS)."
  type        = string
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

variable "control_image" {
  description = "Control image (docker/Dockerfile, target control) the control nodes run."
  type        = string
}

variable "worker_image" {
  description = "GPU worker image (docker/Dockerfile.worker-gpu)."
  type        = string
}

variable "control_replicas" {
  description = "Control nodes (scheduler replicas and ingests)."
  type        = number
  default     = 2
}

variable "nats_instance_type" {
  description = "Instance type of the NATS nodes."
  type        = string
  default     = "m7i.large"
}

variable "worker_instance_type" {
  description = "GPU worker instance type."
  type        = string
  default     = "g4dn.xlarge"
}

variable "worker_min_size" {
  description = "Fewest GPU workers."
  type        = number
  default     = 1
}

variable "worker_max_size" {
  description = "Most GPU workers."
  type        = number
  default     = 10
}

variable "worker_capacity_nvenc_pps" {
  description = "Pixels per second one worker's NVENC encodes in real time (`livefleet worker calibrate`)."
  type        = number
  default     = 1200000000
}

variable "scale_out_below_pps" {
  description = "Add a worker when the free NVENC capacity stays below this (pixels per second)."
  type        = number
  default     = 250000000
}

variable "scale_in_above_pps" {
  description = "Remove a worker when the free NVENC capacity stays above this for 15 minutes (pixels per second)."
  type        = number
  default     = 1600000000
}

variable "live_expiration_days" {
  description = "Days before objects under live/ are deleted by the bucket's lifecycle rule; vod/ is kept."
  type        = number
  default     = 2
}

variable "archive_transition_days" {
  description = "Days before archived broadcasts move to STANDARD_IA; null keeps them in STANDARD."
  type        = number
  default     = null
}

variable "cors_allowed_origins" {
  description = "Origins whose web players may fetch the media."
  type        = list(string)
  default     = ["*"]
}

variable "web_acl_arn" {
  description = "Optional WAF web ACL (CLOUDFRONT scope) for the playback distribution."
  type        = string
  default     = null
}

variable "rtmp_allowed_cidrs" {
  description = "CIDRs allowed to publish RTMP."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "enable_chat" {
  description = "Run the chat relay on the control nodes behind the ALB."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
