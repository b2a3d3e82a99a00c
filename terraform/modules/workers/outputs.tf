output "autoscaling_group_name" {
  description = "Name of the worker auto-scaling group."
  value       = aws_autoscaling_group.worker.name
}

output "security_group_id" {
  description = "Security group of the workers."
  value       = aws_security_group.worker.id
}

output "role_arn" {
  description = "IAM role of the workers."
  value       = aws_iam_role.worker.arn
}
