//! How long a stored object may be cached, decided once for the packager,
//! the storage backends and the origin: one class per kind of object, one
//! `Cache-Control` value per class.

use serde::{Deserialize, Serialize};

/// How long a CDN and a player may keep an object, chosen by what the object
/// is. See [`CacheClass::cache_control`] for the header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheClass {
    /// Written once and never changed: init and media segments.
    Immutable,
    /// Rewritten while a stream is live: HLS media and master playlists, the
    /// DASH MPD, chat replay files.
    Manifest,
    /// No longer changes, but is not content-addressed either: playlists and
    /// manifests of a finished broadcast.
    Final,
}

impl CacheClass {
    /// The `Cache-Control` header value for this class.
    ///
    /// - `Immutable`: `public, max-age=31536000, immutable`.
    /// - `Manifest`: `public, max-age=1`, for HLS playlists and the DASH MPD
    ///   alike. A one-second lifetime lets a CDN collapse the requests of
    ///   many viewers into one origin fetch per second while staying well
    ///   under a segment duration, so a player never sees a playlist more
    ///   than a second behind. `no-cache` would send every player's refresh
    ///   to the origin; dash.js refreshes the MPD no faster than its
    ///   `minimumUpdatePeriod` anyway, so the MPD does not need a separate
    ///   class.
    /// - `Final`: `public, max-age=86400`.
    pub fn cache_control(self) -> &'static str {
        match self {
            CacheClass::Immutable => "public, max-age=31536000, immutable",
            CacheClass::Manifest => "public, max-age=1",
            CacheClass::Final => "public, max-age=86400",
        }
    }
}
