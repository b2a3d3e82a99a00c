output "rtmp_endpoint" {
  description = "RTMP publish URL base: <endpoint>/<stream key>."
  value       = "rtmp://${aws_lb.rtmp.dns_name}:1935/live"
}

output "web_dns_name" {
  description = "DNS name of the ALB (point the chat / API domain at it)."
  value       = aws_lb.web.dns_name
}

output "security_group_id" {
  description = "Security group of the control nodes."
  value       = aws_security_group.control.id
}
