output "rtmp_endpoint" {
  description = "Where publishers stream: <rtmp_endpoint>/<stream key> (OBS: Server = this, Stream Key = the key)."
  value       = module.control.rtmp_endpoint
}

output "playback_domain" {
  description = "Playback domain; point it at cloudfront_domain_name (CNAME or alias)."
  value       = var.playback_domain
}

output "playback_base_url" {
  description = "Live playback: <base>/<channel>/master.m3u8 (HLS) or manifest.mpd (DASH)."
  value       = module.storage.playback_base_url
}

output "cloudfront_domain_name" {
  description = "The distribution's own domain name."
  value       = module.storage.distribution_domain_name
}

output "chat_url" {
  description = "Chat WebSocket endpoint (Centrifugo protocol); point the web domain at alb_dns_name."
  value       = "wss://${module.control.web_dns_name}/connection/websocket"
}

output "admin_api_url" {
  description = "Admin API base URL (bearer token from admin_token_secret_arn)."
  value       = "https://${module.control.web_dns_name}/v1"
}

output "alb_dns_name" {
  description = "DNS name of the ALB serving chat and the admin API."
  value       = module.control.web_dns_name
}

output "nats_urls" {
  description = "NATS URLs of the cluster (for livefleet commands run inside the VPC)."
  value       = module.nats.urls
}

output "bucket_name" {
  description = "Media bucket."
  value       = module.storage.bucket_name
}

output "worker_autoscaling_group" {
  description = "Name of the GPU worker auto-scaling group."
  value       = module.workers.autoscaling_group_name
}
