//! Request counting and the `/metrics` exposition.

use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

use crate::Origin;

/// The origin's request metrics:
///
/// - `livefleet_origin_requests_total{kind, status}`: `kind` is `playlist`
///   (`.m3u8`, `.mpd`), `segment` (`.m4s`), `init` (`.mp4`), `page` (`/`),
///   `asset` (`/assets/...`) or `other`; `status` is `2xx`..`5xx`.
/// - `livefleet_origin_response_bytes_total`: response body bytes sent.
#[derive(Debug, Clone)]
pub struct OriginMetrics {
    requests: IntCounterVec,
    response_bytes: IntCounter,
}

impl OriginMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered();
        registry.register(Box::new(metrics.requests.clone()))?;
        registry.register(Box::new(metrics.response_bytes.clone()))?;
        // Every kind and status class starts at zero, so rates have a series before the first request.
        for kind in ["playlist", "segment", "init", "page", "asset", "other"] {
            for status in ["2xx", "3xx", "4xx", "5xx"] {
                metrics.requests.with_label_values(&[kind, status]);
            }
        }
        Ok(metrics)
    }

    /// Metrics that are counted but not exported.
    pub fn unregistered() -> Self {
        // The names and labels are constants, so creation cannot fail.
        let requests = IntCounterVec::new(
            Opts::new(
                "livefleet_origin_requests_total",
                "HTTP requests served by the origin, by kind of object and status class.",
            ),
            &["kind", "status"],
        )
        .unwrap_or_else(|e| unreachable!("constant metric definition: {e}"));
        let response_bytes = IntCounter::new(
            "livefleet_origin_response_bytes_total",
            "Response body bytes sent by the origin.",
        )
        .unwrap_or_else(|e| unreachable!("constant metric definition: {e}"));
        OriginMetrics {
            requests,
            response_bytes,
        }
    }
}

/// The `kind` label of a request path.
pub(crate) fn kind_of(path: &str) -> &'static str {
    if path == "/" {
        return "page";
    }
    if path.starts_with("/assets/") {
        return "asset";
    }
    if path.starts_with("/live/") || path.starts_with("/vod/") {
        let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        return match ext {
            "m3u8" | "mpd" => "playlist",
            "m4s" => "segment",
            "mp4" => "init",
            _ => "other",
        };
    }
    "other"
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// Middleware: counts every request and its response bytes.
pub(crate) async fn count(
    State(metrics): State<OriginMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let kind = kind_of(request.uri().path());
    let response = next.run(request).await;
    metrics
        .requests
        .with_label_values(&[kind, status_class(response.status())])
        .inc();
    // A streamed object has no exact size hint; its Content-Length says it.
    let length = response
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if let Some(bytes) = response.body().size_hint().exact().or(length) {
        metrics.response_bytes.inc_by(bytes);
    }
    response
}

/// `GET /metrics`.
pub(crate) async fn exposition(State(origin): State<Arc<Origin>>) -> Response {
    match TextEncoder::new().encode_to_string(&origin.registry.gather()) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            Body::from(text),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "could not encode metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not encode metrics\n",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::kind_of;

    #[test]
    fn kinds() {
        assert_eq!(kind_of("/"), "page");
        assert_eq!(kind_of("/assets/hls.min.js"), "asset");
        assert_eq!(kind_of("/live/a/master.m3u8"), "playlist");
        assert_eq!(kind_of("/live/a/manifest.mpd"), "playlist");
        assert_eq!(kind_of("/vod/a/b/720p/3.m4s"), "segment");
        assert_eq!(kind_of("/live/a/720p/init.mp4"), "init");
        assert_eq!(kind_of("/live/a/chat/3.json"), "other");
        assert_eq!(kind_of("/metrics"), "other");
    }
}
