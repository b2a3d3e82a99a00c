variable "name" {
  description = "Name prefix of every network resource."
  type        = string
}

variable "cidr" {
  description = "IPv4 CIDR block of the VPC; split into two public and two private subnets (/20 each for a /16)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && tonumber(split("/", var.cidr)[1]) <= 20
    error_message = "cidr must be an IPv4 CIDR block of /20 or larger."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both AZs (cheaper; private subnets lose egress if its AZ fails) instead of one per AZ."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Days the VPC flow logs are kept."
  type        = number
  default     = 365
}

variable "log_kms_key_arn" {
  description = "KMS key ARN that encrypts the flow log group."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
