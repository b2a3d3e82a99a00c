variable "name" {
  description = "Name prefix of the bucket and the CloudFront resources."
  type        = string
}

variable "playback_domain" {
  description = "Domain viewers play from (a CNAME of the distribution), for example play.example.com."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.playback_domain))
    error_message = "playback_domain must be a lower-case DNS name."
  }
}

variable "playback_certificate_arn" {
  description = "ACM certificate (in us-east-1, as CloudFront requires) covering playback_domain."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:us-east-1:", var.playback_certificate_arn))
    error_message = "playback_certificate_arn must be an ACM certificate ARN in us-east-1."
  }
}

variable "live_expiration_days" {
  description = "Days after which objects under live/ (the DVR window's segments and playlists) are deleted; the archive under vod/ is kept."
  type        = number
  default     = 2

  validation {
    condition     = var.live_expiration_days >= 1
    error_message = "live_expiration_days must be at least 1."
  }
}

variable "archive_transition_days" {
  description = "Days after which archived broadcasts (vod/) move to STANDARD_IA; null keeps them in STANDARD."
  type        = number
  default     = null
}

variable "manifest_ttl_seconds" {
  description = "Seconds CloudFront caches a playlist or MPD; about half a segment keeps the live edge fresh."
  type        = number
  default     = 1

  validation {
    condition     = var.manifest_ttl_seconds >= 0 && var.manifest_ttl_seconds <= 10
    error_message = "manifest_ttl_seconds must be between 0 and 10: longer and players see a stale live edge."
  }
}

variable "cors_allowed_origins" {
  description = "Origins whose web players may fetch the media (CORS); the default allows any origin."
  type        = list(string)
  default     = ["*"]
}

variable "price_class" {
  description = "CloudFront price class: PriceClass_100, PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "web_acl_arn" {
  description = "Optional AWS WAF (v2, CLOUDFRONT scope) web ACL ARN for the distribution."
  type        = string
  default     = null
}

variable "log_bucket_domain" {
  description = "Optional S3 bucket domain (ACL-enabled) for CloudFront standard logs."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let terraform destroy delete a bucket that still holds media (tests and demos only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
