output "urls" {
  description = "Comma-separated NATS URLs of the three nodes (the livefleet --nats-url value)."
  value       = join(",", [for n in local.nodes : "nats://${n.ip}:4222"])
}

output "security_group_id" {
  description = "Security group of the NATS nodes."
  value       = aws_security_group.nats.id
}

output "private_ips" {
  description = "Private addresses of the three nodes."
  value       = [for n in local.nodes : n.ip]
}
