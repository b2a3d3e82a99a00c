output "bucket_name" {
  description = "Name of the media bucket."
  value       = aws_s3_bucket.media.id
}

output "bucket_arn" {
  description = "ARN of the media bucket."
  value       = aws_s3_bucket.media.arn
}

output "distribution_id" {
  description = "ID of the CloudFront distribution (for invalidations)."
  value       = aws_cloudfront_distribution.media.id
}

output "distribution_domain_name" {
  description = "CloudFront domain to point playback_domain at (CNAME or alias)."
  value       = aws_cloudfront_distribution.media.domain_name
}

output "playback_base_url" {
  description = "Base URL of live playback: <base>/<channel>/master.m3u8."
  value       = "https://${var.playback_domain}/live"
}
