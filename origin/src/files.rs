//! Objects of the store over HTTP: files of the storage directory, or
//! objects of a [`Storage`] (an S3 bucket).

use std::io::SeekFrom;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use livefleet_base::CacheClass;
use livefleet_storage::{cache_class_for_key, content_type_for_key, validate_key, Storage};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::validators::{Validators, HASHED_UP_TO};
use crate::{not_found, Origin};

/// `GET|HEAD /live/{*path}`.
pub(crate) async fn live(
    State(origin): State<Arc<Origin>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    object(&origin, &format!("live/{path}"), &headers).await
}

/// `GET|HEAD /vod/{*path}`.
pub(crate) async fn vod(
    State(origin): State<Arc<Origin>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    object(&origin, &format!("vod/{path}"), &headers).await
}

/// A requested byte range, resolved against the object length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// Serve the whole object (no `Range`, or one this origin ignores).
    Whole,
    /// Serve bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// The range lies outside the object: 416.
    Unsatisfiable,
}

/// Parses a `Range` header for an object of `len` bytes. Only one range of
/// `bytes` is honoured; anything else is ignored and the whole object is
/// sent, as RFC 9110 allows.
pub(crate) fn parse_range(value: Option<&HeaderValue>, len: u64) -> ByteRange {
    let Some(spec) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => ByteRange::Unsatisfiable,
            Some(n) if len > 0 => ByteRange::Part {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            Some(_) => ByteRange::Unsatisfiable,
            None => ByteRange::Whole,
        },
        // bytes=N- : from N to the end.
        (false, true) => match parse(first) {
            Some(start) if start < len => ByteRange::Part {
                start,
                end: len - 1,
            },
            Some(_) => ByteRange::Unsatisfiable,
            None => ByteRange::Whole,
        },
        (false, false) => match (parse(first), parse(last)) {
            (Some(start), Some(end)) if start > end => ByteRange::Whole,
            (Some(start), Some(_)) if start >= len => ByteRange::Unsatisfiable,
            (Some(start), Some(end)) => ByteRange::Part {
                start,
                end: end.min(len - 1),
            },
            _ => ByteRange::Whole,
        },
        (true, true) => ByteRange::Whole,
    }
}

async fn object(origin: &Origin, key: &str, headers: &HeaderMap) -> Response {
    // The key rules keep the path inside the root and hide `.tmp-*` files.
    if validate_key(key).is_err() {
        tracing::debug!(key, "refused object key");
        return not_found();
    }
    match &origin.store {
        Some(store) => stored_object(&**store, key, headers).await,
        None => file_object(origin, key, headers).await,
    }
}

/// The status and span (start, count) of a request for an object of `len`
/// bytes; `None` when the range cannot be satisfied.
fn span_of(
    headers: &HeaderMap,
    validators: &Validators,
    len: u64,
) -> Option<(StatusCode, u64, u64)> {
    let range = if validators.range_applies(headers) {
        parse_range(headers.get(header::RANGE), len)
    } else {
        ByteRange::Whole
    };
    match range {
        ByteRange::Whole => Some((StatusCode::OK, 0, len)),
        ByteRange::Part { start, end } => {
            Some((StatusCode::PARTIAL_CONTENT, start, end - start + 1))
        }
        ByteRange::Unsatisfiable => None,
    }
}

fn unsatisfiable(len: u64) -> Response {
    (
        StatusCode::RANGE_NOT_SATISFIABLE,
        [(header::CONTENT_RANGE, format!("bytes */{len}"))],
    )
        .into_response()
}

/// An object read whole from a store (an S3 bucket).
async fn stored_object(store: &dyn Storage, key: &str, headers: &HeaderMap) -> Response {
    match store.get(key).await {
        Ok(Some(body)) => whole_object(key, body, headers),
        Ok(None) => not_found(),
        Err(error) => {
            tracing::warn!(key, %error, "could not read object from the store");
            store_unavailable()
        }
    }
}

/// An object held in memory, identified by its bytes.
fn whole_object(key: &str, body: Bytes, headers: &HeaderMap) -> Response {
    let validators = Validators::of_content(&body);
    if validators.not_modified(headers) {
        return not_modified(key, &validators);
    }
    let len = body.len() as u64;
    let Some((status, start, count)) = span_of(headers, &validators, len) else {
        return unsatisfiable(len);
    };
    let part = body.slice(start as usize..(start + count) as usize);
    let answer = Answer {
        key,
        status,
        start,
        count,
        len,
    };
    answer.headers((status, part).into_response(), &validators)
}

/// An object from the storage directory: a rewritten one small enough is
/// read whole and hashed, anything else streamed.
async fn file_object(origin: &Origin, key: &str, headers: &HeaderMap) -> Response {
    let path = origin.root.join(key);
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(error) => return io_failure(key, error),
    };
    let meta = match file.metadata().await {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return not_found(),
        Err(error) => return io_failure(key, error),
    };
    let len = meta.len();
    let modified = meta.modified();
    let rewritten = cache_class_for_key(key) == CacheClass::Manifest;
    let validators = match modified {
        Ok(modified) if !rewritten || len > HASHED_UP_TO => Validators::of_file(len, modified),
        _ => {
            let mut body = Vec::with_capacity(len as usize);
            if let Err(error) = file.read_to_end(&mut body).await {
                return io_failure(key, error);
            }
            return whole_object(key, Bytes::from(body), headers);
        }
    };
    if validators.not_modified(headers) {
        return not_modified(key, &validators);
    }
    let Some((status, start, count)) = span_of(headers, &validators, len) else {
        return unsatisfiable(len);
    };
    // Streamed from the file in chunks: a request for a huge range costs
    // one buffer, not the range. The file is open, so a concurrent rename
    // cannot change what is read; one truncated in place ends the body
    // early, which the client sees against Content-Length.
    if start > 0 {
        if let Err(error) = file.seek(SeekFrom::Start(start)).await {
            return io_failure(key, error);
        }
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        file.take(count),
        64 << 10,
    ));
    let answer = Answer {
        key,
        status,
        start,
        count,
        len,
    };
    answer.headers((status, body).into_response(), &validators)
}

/// `304 Not Modified`: the validators and cache lifetime of the version the
/// client holds, no body.
fn not_modified(key: &str, validators: &Validators) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    let out = response.headers_mut();
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_class_for_key(key).cache_control()),
    );
    validators.apply(out);
    response
}

/// What part of which object an answer carries.
struct Answer<'a> {
    key: &'a str,
    status: StatusCode,
    start: u64,
    count: u64,
    len: u64,
}

impl Answer<'_> {
    /// Content type, cache class, validators, length and range headers.
    fn headers(&self, mut response: Response, validators: &Validators) -> Response {
        let out = response.headers_mut();
        out.insert(header::CONTENT_LENGTH, HeaderValue::from(self.count));
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type_for_key(self.key)),
        );
        out.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_class_for_key(self.key).cache_control()),
        );
        out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        validators.apply(out);
        if self.status == StatusCode::PARTIAL_CONTENT {
            let (start, len) = (self.start, self.len);
            let end = start + self.count - 1;
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                out.insert(header::CONTENT_RANGE, value);
            }
        }
        response
    }
}

/// The store did not answer: a short-lived 503, so a CDN asks again soon.
fn store_unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::RETRY_AFTER, HeaderValue::from_static("1")),
        ],
        "the store is not answering\n",
    )
        .into_response()
}

fn io_failure(key: &str, error: std::io::Error) -> Response {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::IsADirectory => not_found(),
        _ => {
            tracing::warn!(key, %error, "could not read object");
            (StatusCode::INTERNAL_SERVER_ERROR, "could not read object\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(spec: &str, len: u64) -> ByteRange {
        parse_range(Some(&HeaderValue::from_str(spec).unwrap()), len)
    }

    #[test]
    fn ranges() {
        use ByteRange::*;
        assert_eq!(parse_range(None, 10), Whole);
        assert_eq!(range("bytes=0-3", 10), Part { start: 0, end: 3 });
        assert_eq!(range("bytes=4-", 10), Part { start: 4, end: 9 });
        assert_eq!(range("bytes=-3", 10), Part { start: 7, end: 9 });
        assert_eq!(range("bytes=-30", 10), Part { start: 0, end: 9 });
        assert_eq!(range("bytes=5-100", 10), Part { start: 5, end: 9 });
        assert_eq!(range("bytes=10-", 10), Unsatisfiable);
        assert_eq!(range("bytes=10-12", 10), Unsatisfiable);
        assert_eq!(range("bytes=-0", 10), Unsatisfiable);
        assert_eq!(range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(range("bytes=0-1,4-5", 10), Whole);
        assert_eq!(range("bytes=5-2", 10), Whole);
        assert_eq!(range("items=0-1", 10), Whole);
        assert_eq!(range("bytes=x-1", 10), Whole);
        assert_eq!(range("bytes=-", 10), Whole);
    }
}
