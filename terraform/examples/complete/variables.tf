variable "region" {
  description = "AWS region of the deployment (one with G4dn capacity)."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Deployment name."
  type        = string
  default     = "livefleet-demo"
}

variable "playback_domain" {
  description = "Domain viewers play from."
  type        = string
}

variable "playback_certificate_arn" {
  description = "ACM certificate (us-east-1) for playback_domain."
  type        = string
}

variable "web_certificate_arn" {
  description = "ACM certificate (this region) for the chat and admin API domain."
  type        = string
}

variable "control_image" {
  description = "Control image in a registry the instances can pull from (ECR)."
  type        = string
}

variable "worker_image" {
  description = "GPU worker image in a registry the instances can pull from (ECR)."
  type        = string
}
