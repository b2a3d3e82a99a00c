//! Validators of an object answer (`ETag`, `Last-Modified`) and the
//! conditional requests that use them (`If-None-Match`,
//! `If-Modified-Since`, RFC 9110 §13): an unchanged object is answered
//! `304 Not Modified` without a body.
//!
//! A CDN whose copy of a live playlist has expired asks again with the
//! validator it holds. Half of those refreshes find the playlist unchanged
//! (it changes once per segment, its lifetime is a second), and a player's
//! browser cache does the same with segments it already holds.
//!
//! - An object rewritten under the same key (a live playlist, the MPD, a
//!   chat replay file) is identified by a hash of its bytes: two versions
//!   written within one tick of the file system's clock, with the same
//!   length, still differ. It carries no `Last-Modified`, whose one-second
//!   resolution cannot tell two versions of one second apart.
//! - An object written once (a segment, a finished broadcast's playlist, or
//!   any file too large to hash on each request) is identified by its length
//!   and modification time, and carries `Last-Modified`.
//! - An object read from a store (an S3 bucket) is identified by a hash of
//!   its bytes, which every origin in front of the same bucket computes
//!   alike.

use std::time::SystemTime;

use axum::http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

/// The rewritten objects the origin hashes (read whole) up to this size; a
/// larger one is identified by its length and modification time.
pub(crate) const HASHED_UP_TO: u64 = 4 << 20;

/// The validators of one version of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    /// A strong entity tag, quoted.
    etag: String,
    /// Whole seconds; `None` for objects rewritten in place.
    last_modified: Option<SystemTime>,
}

impl Validators {
    /// Validators from the object's bytes.
    pub(crate) fn of_content(body: &[u8]) -> Self {
        let digest = Sha256::digest(body);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Validators {
            etag: format!("\"{hex}\""),
            last_modified: None,
        }
    }

    /// Validators of a file written once, from its length and modification
    /// time.
    pub(crate) fn of_file(len: u64, modified: SystemTime) -> Self {
        let nanos = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Validators {
            etag: format!("\"{len:x}-{nanos:x}\""),
            last_modified: Some(modified),
        }
    }

    /// Whether the request's conditions say the client holds this version.
    /// `If-None-Match` decides when present; `If-Modified-Since` counts only
    /// without it (RFC 9110 §13.2.2).
    pub(crate) fn not_modified(&self, request: &HeaderMap) -> bool {
        let mut tags = request.get_all(header::IF_NONE_MATCH).iter().peekable();
        if tags.peek().is_some() {
            return tags
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag);
        }
        let (Some(modified), Some(since)) = (
            self.last_modified,
            request
                .get(header::IF_MODIFIED_SINCE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok()),
        ) else {
            return false;
        };
        // The header has whole seconds; so does the comparison.
        whole_seconds(modified) <= whole_seconds(since)
    }

    /// Whether a `Range` applies: without `If-Range`, or when `If-Range`
    /// names this version (strong comparison, RFC 9110 §13.1.5). A client
    /// holding part of another version gets the whole object.
    pub(crate) fn range_applies(&self, request: &HeaderMap) -> bool {
        let Some(condition) = request.get(header::IF_RANGE) else {
            return true;
        };
        let Ok(condition) = condition.to_str().map(str::trim) else {
            return false;
        };
        if condition.starts_with('"') || condition.starts_with("W/") {
            return condition == self.etag;
        }
        match (self.last_modified, httpdate::parse_http_date(condition)) {
            (Some(modified), Ok(date)) => whole_seconds(modified) == whole_seconds(date),
            _ => false,
        }
    }

    /// Adds `ETag` and, for objects written once, `Last-Modified`.
    pub(crate) fn apply(&self, out: &mut HeaderMap) {
        if let Ok(value) = HeaderValue::from_str(&self.etag) {
            out.insert(header::ETAG, value);
        }
        if let Some(modified) = self.last_modified {
            if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
                out.insert(header::LAST_MODIFIED, value);
            }
        }
    }
}

fn whole_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn request(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn entity_tags_match_weakly_in_lists_and_by_star() {
        let v = Validators::of_content(b"#EXTM3U\n");
        let tag = v.etag.clone();
        for matching in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"other\", {tag}"),
            "*".to_owned(),
        ] {
            assert!(
                v.not_modified(&request(header::IF_NONE_MATCH, &matching)),
                "{matching}"
            );
        }
        for other in ["\"other\"", "", "W/\"x\"", &tag[1..tag.len() - 1]] {
            assert!(
                !v.not_modified(&request(header::IF_NONE_MATCH, other)),
                "{other}"
            );
        }
        assert_ne!(v, Validators::of_content(b"#EXTM3U\n\n"));
        assert!(!v.not_modified(&HeaderMap::new()));
    }

    #[test]
    fn modification_times_compare_in_whole_seconds_without_an_entity_tag() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_250);
        let v = Validators::of_file(10, t);
        let at =
            |secs: u64| httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert!(v.not_modified(&request(header::IF_MODIFIED_SINCE, &at(1_800_000_000))));
        assert!(v.not_modified(&request(header::IF_MODIFIED_SINCE, &at(1_800_000_100))));
        assert!(!v.not_modified(&request(header::IF_MODIFIED_SINCE, &at(1_799_999_999))));
        assert!(!v.not_modified(&request(header::IF_MODIFIED_SINCE, "yesterday")));
        // If-None-Match decides when both are sent.
        let mut both = request(header::IF_MODIFIED_SINCE, &at(1_800_000_000));
        both.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!v.not_modified(&both));
        // Rewritten objects have no date to compare.
        let hashed = Validators::of_content(b"x");
        assert!(!hashed.not_modified(&request(header::IF_MODIFIED_SINCE, &at(1_900_000_000))));
        // The same file at another time or length is another version.
        assert_ne!(v, Validators::of_file(11, t));
        assert_ne!(v, Validators::of_file(10, t + Duration::from_nanos(1)));
    }

    #[test]
    fn a_range_applies_only_to_the_version_if_range_names() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let v = Validators::of_file(10, t);
        assert!(v.range_applies(&HeaderMap::new()));
        assert!(v.range_applies(&request(header::IF_RANGE, &v.etag)));
        assert!(!v.range_applies(&request(header::IF_RANGE, &format!("W/{}", v.etag))));
        assert!(!v.range_applies(&request(header::IF_RANGE, "\"other\"")));
        assert!(v.range_applies(&request(header::IF_RANGE, &httpdate::fmt_http_date(t))));
        let later = httpdate::fmt_http_date(t + Duration::from_secs(5));
        assert!(!v.range_applies(&request(header::IF_RANGE, &later)));
        assert!(!Validators::of_content(b"x").range_applies(&request(header::IF_RANGE, &later)));
    }
}
