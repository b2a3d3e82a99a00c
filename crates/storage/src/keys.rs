//! Object keys: the rules every key obeys, and the one mapping from a key to
//! its content type and cache lifetime.
//!
//! The local backend stores no metadata next to an object, so whoever serves
//! it (the HTTP origin) derives the headers from the key alone; the S3
//! backend sets the same headers at upload. Both use the functions here, so
//! a segment gets the same `Content-Type` and `Cache-Control` whichever way
//! it reaches a player.
//!
//! | key                                   | content type                     | cache class |
//! |---------------------------------------|----------------------------------|-------------|
//! | `*.m3u8`                              | `application/vnd.apple.mpegurl`  | `live/`: [`CacheClass::Manifest`], otherwise [`CacheClass::Final`] |
//! | `*.mpd`                               | `application/dash+xml`           | as `.m3u8`  |
//! | `*.json` (chat replay, metadata)      | `application/json`               | as `.m3u8`  |
//! | `*.m4s` (media segment)               | `video/iso.segment`              | [`CacheClass::Immutable`] |
//! | `*.mp4` (init segment)                | `video/mp4`                      | [`CacheClass::Immutable`] |
//! | `*.m4a`                               | `audio/mp4`                      | [`CacheClass::Immutable`] |
//! | `*.jpg`, `*.jpeg` (the preview picture) | `image/jpeg`                   | as `.m3u8`  |
//! | `*.vtt`                               | `text/vtt; charset=utf-8`        | as `.m3u8`  |
//! | `*.html`                              | `text/html; charset=utf-8`       | as `.m3u8`  |
//! | `*.js`                                | `text/javascript`                | as `.m3u8`  |
//! | `*.css`                               | `text/css; charset=utf-8`        | as `.m3u8`  |
//! | anything else                         | `application/octet-stream`       | as `.m3u8`  |
//!
//! Everything that is not a segment gets a short lifetime under `live/`
//! (it is rewritten while the stream runs, and again when a channel goes
//! live anew) and a day under any other prefix (`vod/` holds finished
//! broadcasts, whose playlists no longer change), except a channel's
//! listing of its VODs (`vod/<channel>/broadcasts.json`), which changes
//! with each new one and gets the short lifetime. Segments are written once
//! under a key that is never reused, so they are cached for a year.

pub use livefleet_base::CacheClass;

use crate::StorageError;

/// What a backend records (or an origin sends) with an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The `Content-Type` of the object.
    pub content_type: String,
    /// How long it may be cached.
    pub cache: CacheClass,
}

impl ObjectMeta {
    /// The metadata derived from the key alone, by [`content_type_for_key`]
    /// and [`cache_class_for_key`].
    pub fn for_key(key: &str) -> Self {
        Self::packaged(key, cache_class_for_key(key))
    }

    /// The metadata of an object the packager made: the content type of its
    /// key, the cache class the packager chose, except that nothing under
    /// `live/` is cached as final: the channel's next broadcast rewrites its
    /// playlists under the same keys.
    pub fn packaged(key: &str, cache: CacheClass) -> Self {
        let cache = match cache {
            CacheClass::Final if key.starts_with("live/") => CacheClass::Manifest,
            c => c,
        };
        ObjectMeta {
            content_type: content_type_for_key(key).to_owned(),
            cache,
        }
    }
}

pub use livefleet_base::content_type::content_type_for_key;
use livefleet_base::content_type::extension;

/// The cache class of the object under `key` (see the table in the
/// [module docs](self)).
pub fn cache_class_for_key(key: &str) -> CacheClass {
    match extension(key).to_ascii_lowercase().as_str() {
        "m4s" | "mp4" | "m4a" => CacheClass::Immutable,
        _ if key.starts_with("live/") => CacheClass::Manifest,
        _ if livefleet_base::layout::is_broadcasts_listing_key(key) => CacheClass::Manifest,
        _ => CacheClass::Final,
    }
}

/// The longest key accepted (S3's limit).
pub const MAX_KEY_LEN: usize = 1024;

/// Checks that `key` names an object inside the store.
///
/// A key is one or more `/`-separated segments of printable ASCII without
/// spaces (`!` to `~`), at most [`MAX_KEY_LEN`] bytes, with no leading or
/// trailing `/`, no empty segment, no backslash, and no segment starting
/// with `.` (which rules out `.` and `..`, hidden files, and the `.tmp-`
/// files a backend writes before renaming). Such a key maps to a path under
/// a local root on every platform and to the same S3 key, and never escapes
/// the root.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let refuse = |reason| {
        Err(StorageError::BadKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return refuse("empty key");
    }
    if key.len() > MAX_KEY_LEN {
        return refuse("longer than 1024 bytes");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return refuse("only printable ASCII without spaces is allowed");
    }
    if key.contains('\\') {
        return refuse("backslashes are not allowed");
    }
    if key.starts_with('/') {
        return refuse("keys are relative: no leading '/'");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return refuse("empty path segment ('//' or a trailing '/')");
        }
        if segment.starts_with('.') {
            return refuse(
                "a path segment may not start with '.' (no '.', '..', hidden or temporary files)",
            );
        }
    }
    Ok(())
}

/// Checks a listing prefix: empty, or a key prefix that may end with `/`.
pub(crate) fn validate_prefix(prefix: &str) -> Result<(), StorageError> {
    if prefix.is_empty() {
        return Ok(());
    }
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() {
        return Err(StorageError::BadKey {
            key: prefix.to_owned(),
            reason: "keys are relative: no leading '/'",
        });
    }
    validate_key(trimmed).map_err(|err| match err {
        StorageError::BadKey { reason, .. } => StorageError::BadKey {
            key: prefix.to_owned(),
            reason,
        },
        other => other,
    })
}

/// Checks a folder listing's prefix: empty, or a valid prefix ending in `/`.
pub(crate) fn folder_prefix(prefix: &str) -> Result<(), StorageError> {
    validate_prefix(prefix)?;
    if prefix.is_empty() || prefix.ends_with('/') {
        return Ok(());
    }
    Err(StorageError::BadKey {
        key: prefix.to_owned(),
        reason: "a folder listing's prefix ends with '/'",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_under_live_is_cached_as_final() {
        let m = ObjectMeta::packaged("live/show/master.m3u8", CacheClass::Final);
        assert_eq!(m.cache, CacheClass::Manifest);
        assert_eq!(m.content_type, "application/vnd.apple.mpegurl");
        let v = ObjectMeta::packaged("vod/show/1/master.m3u8", CacheClass::Final);
        assert_eq!(v.cache, CacheClass::Final);
        let seg = ObjectMeta::packaged("live/show/720p/3.m4s", CacheClass::Immutable);
        assert_eq!(seg.cache, CacheClass::Immutable);
        assert_eq!(seg.content_type, "video/iso.segment");
    }

    #[test]
    fn content_types_follow_the_extension() {
        let cases = [
            ("live/a/master.m3u8", "application/vnd.apple.mpegurl"),
            ("live/a/manifest.mpd", "application/dash+xml"),
            ("live/a/720p/12.m4s", "video/iso.segment"),
            ("live/a/720p/init.mp4", "video/mp4"),
            ("live/a/chat/12.json", "application/json"),
            ("live/a/thumbnail.jpg", "image/jpeg"),
            ("index.html", "text/html; charset=utf-8"),
            ("x/app.js", "text/javascript"),
            ("live/a/README", "application/octet-stream"),
            ("live/a.b/file", "application/octet-stream"),
            ("live/a/UPPER.M3U8", "application/vnd.apple.mpegurl"),
        ];
        for (key, expected) in cases {
            assert_eq!(content_type_for_key(key), expected, "{key}");
        }
    }

    #[test]
    fn cache_classes_follow_the_name() {
        assert_eq!(
            cache_class_for_key("live/a/720p/3.m4s"),
            CacheClass::Immutable
        );
        assert_eq!(
            cache_class_for_key("live/a/720p/init.mp4"),
            CacheClass::Immutable
        );
        assert_eq!(
            cache_class_for_key("live/a/720p/index.m3u8"),
            CacheClass::Manifest
        );
        assert_eq!(
            cache_class_for_key("live/a/manifest.mpd"),
            CacheClass::Manifest
        );
        assert_eq!(
            cache_class_for_key("live/a/chat/3.json"),
            CacheClass::Manifest
        );
        assert_eq!(
            cache_class_for_key("vod/a/b1/master.m3u8"),
            CacheClass::Final
        );
        assert_eq!(
            cache_class_for_key("vod/a/b1/720p/3.m4s"),
            CacheClass::Immutable
        );
        // The channel's listing of its VODs changes with each new one.
        assert_eq!(
            cache_class_for_key("vod/a/broadcasts.json"),
            CacheClass::Manifest
        );
        assert_eq!(
            cache_class_for_key("vod/a/b1/chat/3.json"),
            CacheClass::Final
        );
        assert_eq!(
            CacheClass::Immutable.cache_control(),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(CacheClass::Manifest.cache_control(), "public, max-age=1");
        assert_eq!(CacheClass::Final.cache_control(), "public, max-age=86400");
    }

    #[test]
    fn good_keys_pass() {
        for key in [
            "a",
            "live/chan_1/720p/00042.m4s",
            "vod/c/b-1/x.tmp-not-leading",
        ] {
            validate_key(key).unwrap();
        }
    }

    #[test]
    fn bad_keys_are_refused() {
        let long = "a/".repeat(600);
        for key in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/b/",
            "a\\b",
            "a/.tmp-123",
            "a/.hidden",
            "a b",
            "a\nb",
            "caf\u{e9}",
            "a\0b",
            long.as_str(),
        ] {
            match validate_key(key) {
                Err(StorageError::BadKey { .. }) => {}
                other => panic!("{key:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn prefixes() {
        validate_prefix("").unwrap();
        validate_prefix("live/").unwrap();
        validate_prefix("live/a").unwrap();
        assert!(validate_prefix("/").is_err());
        assert!(validate_prefix("../").is_err());
        assert!(validate_prefix("a//").is_err());
        folder_prefix("").unwrap();
        folder_prefix("vod/a/").unwrap();
        assert!(folder_prefix("vod/a").is_err());
        assert!(folder_prefix("../").is_err());
    }
}
