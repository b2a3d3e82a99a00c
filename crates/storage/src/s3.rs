//! The S3 backend (aws-sdk-s3): any S3-compatible object store.
//!
//! - Credentials and region come from the standard AWS provider chain
//!   (environment, profile, instance role); the endpoint from the
//!   configuration, else `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`,
//!   else AWS itself.
//! - Path-style addressing (`http://host/bucket/key`) when configured, and
//!   always for an IP-literal or `localhost` endpoint (no DNS name per bucket there).
//! - Every object is stored with the `Content-Type` and `Cache-Control` of
//!   its key (one table: [`crate::keys`]).
//! - Segments are written once: a put of an immutable object asks
//!   `If-None-Match: *`, so a stale worker can never overwrite one. A `412`
//!   means the object is there already (this writer's earlier attempt whose
//!   answer was lost, or a newer worker's): it is left as it is and the put
//!   counts as done. A server that does not know the condition (`501`, or a
//!   `400` naming the header) is remembered, and from then on segments are
//!   written unconditionally, with one warning; the fence (assignment epochs
//!   and per-generation segment names) still keeps workers apart there.
//! - The SDK does not retry: [`crate::StorageWriter`] and
//!   [`crate::RetryingStorage`] own the retry policy (jittered backoff), and
//!   every attempt has a timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::{validate_key, CacheClass, ObjectMeta, Storage, StorageError};

/// Where and how to reach the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Put in front of every key (no leading or trailing slash; may be empty).
    pub prefix: String,
    /// Endpoint URL; `None`: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, or AWS.
    pub endpoint: Option<String>,
    /// `None`: path style for IP-literal and `localhost` endpoints only.
    pub path_style: Option<bool>,
    /// `None`: from the provider chain (`AWS_REGION`, the profile), else `us-east-1`.
    pub region: Option<String>,
    /// Time one request may take, from connecting to the last byte.
    pub request_timeout: Duration,
}

impl S3Config {
    /// A bucket and prefix with everything else from the environment.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        S3Config {
            bucket: bucket.into(),
            prefix: prefix.into().trim_matches('/').to_owned(),
            endpoint: None,
            path_style: None,
            region: None,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Whether a URL's host is an IP literal or `localhost`.
pub fn is_local_endpoint(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok()
}

/// The endpoint a configuration reaches: its own, else the environment's.
fn endpoint_of(config: &S3Config) -> Option<String> {
    config
        .endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|e| !e.is_empty())
}

/// A bucket (and prefix) on an S3-compatible store.
pub struct S3Storage {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    /// For messages: the endpoint, or "AWS S3".
    endpoint: String,
    /// Whether the server honours `If-None-Match: *` (until it shows otherwise).
    conditional: AtomicBool,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "S3Storage(s3://{}/{} at {})",
            self.bucket, self.prefix, self.endpoint
        )
    }
}

impl S3Storage {
    /// Builds the client and checks that the bucket answers (HeadBucket), so
    /// wrong credentials, a missing bucket or an unreachable endpoint are
    /// reported at start-up, naming bucket and endpoint.
    pub async fn connect(config: S3Config) -> Result<Self, StorageError> {
        let endpoint = endpoint_of(&config);
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(r) = &config.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        let shared = loader.load().await;
        let path_style = config
            .path_style
            .unwrap_or_else(|| endpoint.as_deref().is_some_and(is_local_endpoint));
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3).min(config.request_timeout))
                    .operation_attempt_timeout(config.request_timeout)
                    .build(),
            );
        if shared.region().is_none() {
            builder = builder.region(aws_config::Region::new("us-east-1"));
        }
        if let Some(e) = &endpoint {
            builder = builder.endpoint_url(e);
        }
        let storage = S3Storage {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
            prefix: config.prefix.trim_matches('/').to_owned(),
            endpoint: endpoint.unwrap_or_else(|| "AWS S3".to_owned()),
            conditional: AtomicBool::new(true),
        };
        storage.check().await?;
        tracing::info!(bucket = %storage.bucket, prefix = %storage.prefix, endpoint = %storage.endpoint, path_style, "S3 storage ready");
        Ok(storage)
    }

    /// HeadBucket, with the reason an operator can act on.
    async fn check(&self) -> Result<(), StorageError> {
        let r = self.client.head_bucket().bucket(&self.bucket).send().await;
        let Err(e) = r else { return Ok(()) };
        let status = e.raw_response().map(|r| r.status().as_u16());
        let why = match (&e, status) {
            (_, Some(404)) => "the bucket does not exist".to_owned(),
            (_, Some(301)) => "the bucket is in another region (set AWS_REGION)".to_owned(),
            (_, Some(403)) => {
                "access denied: the credentials are wrong or may not use this bucket".to_owned()
            }
            (SdkError::DispatchFailure(_), _) => "the endpoint cannot be reached".to_owned(),
            (SdkError::TimeoutError(_), _) => "the endpoint did not answer in time".to_owned(),
            _ => format!("{}", DisplayErrorContext(&e)),
        };
        Err(StorageError::Backend {
            key: String::new(),
            message: format!(
                "bucket {:?} at {}: {why} ({})",
                self.bucket,
                self.endpoint,
                DisplayErrorContext(&e)
            ),
            retryable: false,
        })
    }

    fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// A request error as a storage error: retryable unless the server said no for good.
    fn error<E>(
        &self,
        key: &str,
        what: &str,
        e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let retryable = match e {
            SdkError::ServiceError(_) => status.is_none_or(|s| s == 429 || s >= 500 || s == 408),
            SdkError::ConstructionFailure(_) => false,
            _ => true,
        };
        StorageError::Backend {
            key: key.to_owned(),
            message: format!(
                "{what} s3://{}/{} at {}{}: {}",
                self.bucket,
                self.full_key(key),
                self.endpoint,
                status.map_or(String::new(), |s| format!(" (HTTP {s})")),
                DisplayErrorContext(e)
            ),
            retryable,
        }
    }
}

/// Percent-encodes a key for `x-amz-copy-source` (slashes kept).
fn encode_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[async_trait]
impl Storage for S3Storage {
    async fn put(&self, key: &str, body: Bytes, meta: ObjectMeta) -> Result<(), StorageError> {
        validate_key(key)?;
        let once = meta.cache == CacheClass::Immutable && self.conditional.load(Ordering::Relaxed);
        let request = |conditional: bool| {
            let r = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(self.full_key(key))
                .body(ByteStream::from(body.clone()))
                .content_type(meta.content_type.clone())
                .cache_control(meta.cache.cache_control());
            if conditional {
                r.if_none_match("*")
            } else {
                r
            }
        };
        match request(once).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                if once && status == Some(412) {
                    tracing::info!(key, "segment already stored; written once, left as it is");
                    return Ok(());
                }
                let unknown_condition = once
                    && (status == Some(501)
                        || (status == Some(400)
                            && e.message().is_some_and(|m| m.contains("If-None-Match"))));
                if unknown_condition {
                    self.conditional.store(false, Ordering::Relaxed);
                    tracing::warn!(endpoint = %self.endpoint, "the S3 server does not support conditional puts (If-None-Match); segments are written unconditionally");
                    return request(false)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| self.error(key, "putting", &e));
                }
                Err(self.error(key, "putting", &e))
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        validate_key(key)?;
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
        {
            Ok(out) => out
                .body
                .collect()
                .await
                .map(|b| Some(b.into_bytes()))
                .map_err(|e| StorageError::Backend {
                    key: key.to_owned(),
                    message: format!("reading s3://{}/{}: {e}", self.bucket, self.full_key(key)),
                    retryable: true,
                }),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(self.error(key, "getting", &e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.error(key, "deleting", &e))
    }

    /// `CopyObject` inside the bucket: the bytes never pass through this
    /// process. The copy's metadata is replaced by `meta`.
    async fn copy(&self, from: &str, to: &str, meta: ObjectMeta) -> Result<bool, StorageError> {
        validate_key(from)?;
        validate_key(to)?;
        let source = format!("{}/{}", self.bucket, encode_path(&self.full_key(from)));
        match self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(self.full_key(to))
            .copy_source(source)
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .content_type(meta.content_type)
            .cache_control(meta.cache.cache_control())
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
            Err(e) => Err(self.error(to, "copying to", &e)),
        }
    }

    /// `s3://<bucket>/<prefix> at <endpoint>`.
    fn identity(&self) -> Option<String> {
        Some(format!(
            "s3://{}/{} at {}",
            self.bucket, self.prefix, self.endpoint
        ))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let full = self.full_key(prefix);
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&full)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(prefix, "listing", &e))?;
            for o in page.contents() {
                if let Some(k) = o.key().and_then(|k| k.get(strip..)) {
                    keys.push(k.to_owned());
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// A delimiter listing: one `CommonPrefixes` entry per folder.
    async fn folders(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        crate::keys::folder_prefix(prefix)?;
        let full = self.full_key(prefix);
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&full)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(prefix, "listing", &e))?;
            for p in page.common_prefixes() {
                let folder = p.prefix().and_then(|p| p.strip_prefix(full.as_str()));
                if let Some(name) = folder.and_then(|f| f.strip_suffix('/')) {
                    if !name.is_empty() && !name.contains('/') {
                        out.push(name.to_owned());
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_endpoints_are_recognised() {
        for url in [
            "http://127.0.0.1:9000",
            "http://localhost:9000/",
            "http://[::1]:9000",
            "https://10.0.0.5",
        ] {
            assert!(is_local_endpoint(url), "{url}");
        }
        for url in ["https://s3.eu-west-1.amazonaws.com", "http://minio:9000"] {
            assert!(!is_local_endpoint(url), "{url}");
        }
    }

    #[test]
    fn copy_sources_are_encoded() {
        assert_eq!(encode_path("vod/a b/1.m4s"), "vod/a%20b/1.m4s");
    }
}
