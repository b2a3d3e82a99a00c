# The media bucket behind CloudFront. Workers write `live/<channel>/...`
# (the live window, deleted by a lifecycle rule after `live_expiration_days`)
# and `vod/<channel>/<broadcast>/...` (the archive, kept). Viewers reach it
# only through CloudFront (Origin Access Control); manifests and segments get
# separate cache policies: a playlist changes every segment, a segment never.

resource "aws_s3_bucket" "media" {
  #checkov:skip=CKV_AWS_18:Viewers read through CloudFront, whose standard logs record access; the only writers are the workers' role, which CloudTrail records.
  #checkov:skip=CKV_AWS_144:Live segments are minutes-lived; replicating them doubles write cost for no reader. Operators who want the archive in a second region add a replication rule on vod/.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES-256): CloudFront OAC reads it without a KMS grant, and per-request KMS charges on every segment fetch would grow with the audience.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events; workers publish segment events on NATS.
  bucket_prefix = "${var.name}-media-"
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    id     = "live-window"
    status = "Enabled"
    filter {
      prefix = "live/"
    }
    expiration {
      days = var.live_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "archive"
    status = "Enabled"
    filter {
      prefix = "vod/"
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
    dynamic "transition" {
      for_each = var.archive_transition_days == null ? [] : [var.archive_transition_days]
      content {
        days          = transition.value
        storage_class = "STANDARD_IA"
      }
    }
  }
}

resource "aws_cloudfront_origin_access_control" "media" {
  name                              = "${var.name}-media"
  description                       = "CloudFront reads the livefleet media bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# Playlists and MPDs change with every segment: cache about one poll, so a
# viewer spike on a live start costs the bucket one request per edge and
# interval, never one per viewer.
resource "aws_cloudfront_cache_policy" "manifests" {
  name        = "${var.name}-manifests"
  comment     = "livefleet playlists and MPDs"
  min_ttl     = 0
  default_ttl = var.manifest_ttl_seconds
  max_ttl     = var.manifest_ttl_seconds
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

# Segments and init segments are written once under a name never reused: cache them for a day.
resource "aws_cloudfront_cache_policy" "segments" {
  name        = "${var.name}-segments"
  comment     = "livefleet CMAF segments (immutable)"
  min_ttl     = 3600
  default_ttl = 86400
  max_ttl     = 31536000
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = false
    enable_accept_encoding_brotli = false
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

# Players on other origins (a web app's domain) fetch playlists and segments with CORS.
resource "aws_cloudfront_response_headers_policy" "media" {
  name = "${var.name}-media"
  cors_config {
    access_control_allow_credentials = false
    access_control_allow_origins {
      items = var.cors_allowed_origins
    }
    access_control_allow_headers {
      items = ["*"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD", "OPTIONS"]
    }
    access_control_expose_headers {
      items = ["Content-Length", "Content-Range"]
    }
    origin_override = true
  }
  security_headers_config {
    content_type_options {
      override = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
  }
}

resource "aws_cloudfront_distribution" "media" {
  #checkov:skip=CKV_AWS_68:A WAF web ACL is an input (web_acl_arn); the objects are public media, and per-request WAF pricing on segment fetches is the operator's call.
  #checkov:skip=CKV2_AWS_47:See CKV_AWS_68: the WAF is optional input.
  #checkov:skip=CKV_AWS_86:Standard logs need an ACL-enabled log bucket; real-time logs or the CloudFront metrics are the operator's choice (log_bucket_domain enables them).
  #checkov:skip=CKV_AWS_310:One origin: the bucket is the only copy of the live window, so there is nothing to fail over to.
  #checkov:skip=CKV_AWS_374:Viewers are worldwide by default; geo restriction is a content-rights decision per deployment.
  enabled             = true
  comment             = "livefleet playback (${var.name})"
  aliases             = [var.playback_domain]
  price_class         = var.price_class
  http_version        = "http2and3"
  is_ipv6_enabled     = true
  default_root_object = "index.html"
  web_acl_id          = var.web_acl_arn

  origin {
    origin_id                = "media"
    domain_name              = aws_s3_bucket.media.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.media.id
  }

  dynamic "logging_config" {
    for_each = var.log_bucket_domain == null ? [] : [var.log_bucket_domain]
    content {
      bucket          = logging_config.value
      prefix          = "cloudfront/"
      include_cookies = false
    }
  }

  # Segments (default): immutable, cached long.
  default_cache_behavior {
    target_origin_id           = "media"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = false
    cache_policy_id            = aws_cloudfront_cache_policy.segments.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.media.id
  }

  ordered_cache_behavior {
    path_pattern               = "*.m3u8"
    target_origin_id           = "media"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.manifests.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.media.id
  }

  ordered_cache_behavior {
    path_pattern               = "*.mpd"
    target_origin_id           = "media"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.manifests.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.media.id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = var.playback_certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  tags = var.tags
}

data "aws_iam_policy_document" "media" {
  statement {
    sid       = "CloudFrontReads"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.media.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.media.arn]
    }
  }

  statement {
    sid     = "TLSOnly"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.media.arn,
      "${aws_s3_bucket.media.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "media" {
  bucket     = aws_s3_bucket.media.id
  policy     = data.aws_iam_policy_document.media.json
  depends_on = [aws_s3_bucket_public_access_block.media]
}
