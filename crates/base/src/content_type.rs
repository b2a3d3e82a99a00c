//! The one mapping from an object's key to its `Content-Type`, shared by the
//! packager (what it hands the sinks), the storage backends (what S3 records)
//! and the origin (what it answers). The table is in
//! `livefleet_storage::keys`.

/// The extension of the last path segment (`""` without one).
pub fn extension(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext,
        _ => "",
    }
}

/// The `Content-Type` of the object under `key`, from its extension.
pub fn content_type_for_key(key: &str) -> &'static str {
    match extension(key).to_ascii_lowercase().as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "m4s" => "video/iso.segment",
        "mp4" => "video/mp4",
        "m4a" => "audio/mp4",
        "json" => "application/json",
        "jpg" | "jpeg" => "image/jpeg",
        "vtt" => "text/vtt; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript",
        "css" => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    }
}
