variable "name" {
  description = "Name prefix of the worker resources."
  type        = string
}

variable "vpc_id" {
  description = "VPC the workers run in."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (NATS and Prometheus live inside it)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the auto-scaling group."
  type        = list(string)
}

variable "instance_type" {
  description = "GPU instance type: g4dn (T4), g5 (A10G), g6 (L4) have NVENC; p4d/p5 (A100/H100) do not."
  type        = string
  default     = "g4dn.xlarge"

  validation {
    condition     = can(regex("^(g4dn|g4ad|g5|g5g|g6|g6e|gr6|p3|p4d|p5)\\.", var.instance_type))
    error_message = "instance_type must be an NVIDIA GPU instance type (g4dn, g5, g6, ...)."
  }
}

variable "ami_ssm_parameter" {
  description = "SSM parameter holding the AMI with the NVIDIA driver, Docker and the NVIDIA container toolkit."
  type        = string
  default     = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
}

variable "image" {
  description = "Worker container image (docker/Dockerfile.worker-gpu), for example <account>.dkr.ecr.<region>.amazonaws.com/livefleet-worker-gpu:<tag>."
  type        = string
}

variable "nats_urls" {
  description = "Comma-separated NATS URLs."
  type        = string
}

variable "bucket_name" {
  description = "Media bucket the workers write."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the media bucket (the IAM policy is scoped to its live/ and vod/ prefixes)."
  type        = string
}

variable "min_size" {
  description = "Fewest workers."
  type        = number
  default     = 1
}

variable "max_size" {
  description = "Most workers."
  type        = number
  default     = 10

  validation {
    condition     = var.max_size >= 1
    error_message = "max_size must be at least 1."
  }
}

variable "capacity_nvenc_pps" {
  description = "Pixels per second one instance's NVENC encodes in real time (measure with `livefleet worker calibrate`; about 1.2 Gpx/s on a T4)."
  type        = number
  default     = 1200000000
}

variable "encoder" {
  description = "Encoder kind whose free capacity scales the group: nvenc or x264."
  type        = string
  default     = "nvenc"

  validation {
    condition     = contains(["nvenc", "x264"], var.encoder)
    error_message = "encoder must be nvenc or x264."
  }
}

variable "scale_out_below_pps" {
  description = "Add a worker when the fleet's free capacity stays below this many pixels per second (default: a 1080p30 ladder's 125 Mpx/s, twice)."
  type        = number
  default     = 250000000
}

variable "scale_in_above_pps" {
  description = "Remove a worker when the free capacity stays above this for 15 minutes; keep it above one instance's capacity plus scale_out_below_pps, or the group flaps."
  type        = number
  default     = 1600000000
}

variable "metric_namespace" {
  description = "CloudWatch namespace the scheduler's metrics are published in."
  type        = string
  default     = "Livefleet"
}

variable "metrics_port" {
  description = "Port of the worker's /metrics."
  type        = number
  default     = 9100
}

variable "volume_size_gb" {
  description = "Root volume size (GiB)."
  type        = number
  default     = 100
}

variable "log_retention_days" {
  description = "Days the worker logs are kept."
  type        = number
  default     = 365
}

variable "log_kms_key_arn" {
  description = "KMS key ARN that encrypts the log group."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
