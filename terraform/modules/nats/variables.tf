variable "name" {
  description = "Name prefix of the NATS resources."
  type        = string
}

variable "vpc_id" {
  description = "VPC the nodes run in."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (the monitoring endpoint is open to it)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets to spread the three nodes over (two AZs: two nodes in the first, one in the second)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must name at least two subnets in different AZs."
  }
}

variable "client_security_group_ids" {
  description = "Security groups of the instances that connect to NATS (workers, control nodes)."
  type        = list(string)
}

variable "instance_type" {
  description = "Instance type of a NATS node."
  type        = string
  default     = "m7i.large"
}

variable "volume_size_gb" {
  description = "Size of each node's encrypted root volume, which holds its JetStream store (GiB)."
  type        = number
  default     = 100

  validation {
    condition     = var.volume_size_gb >= 20
    error_message = "volume_size_gb must be at least 20."
  }
}

variable "jetstream_max_store" {
  description = "JetStream file store limit per node (NATS size syntax, for example 64G); keep it below the volume size."
  type        = string
  default     = "64G"
}

variable "image" {
  description = "NATS server container image."
  type        = string
  default     = "nats:2.10-alpine"
}

variable "log_retention_days" {
  description = "Days the NATS logs are kept."
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
