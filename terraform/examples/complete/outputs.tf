output "rtmp_endpoint" {
  description = "Where publishers stream."
  value       = module.livefleet.rtmp_endpoint
}

output "playback_base_url" {
  description = "Live playback URL base."
  value       = module.livefleet.playback_base_url
}

output "chat_url" {
  description = "Chat WebSocket endpoint."
  value       = module.livefleet.chat_url
}

output "admin_api_url" {
  description = "Admin API base URL."
  value       = module.livefleet.admin_api_url
}

output "admin_token_secret_arn" {
  description = "Secret holding the admin API's bearer token."
  value       = aws_secretsmanager_secret.admin_token.arn
}
