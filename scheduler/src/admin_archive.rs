//! The admin API's archive route: a channel's broadcasts kept as VOD, with
//! their playback URLs, from the index the workers write
//! ([`livefleet_bus::BroadcastIndex`]).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use livefleet_bus::{ArchiveState, ArchivedBroadcast};
use serde::{Deserialize, Serialize};

use crate::admin::{channel_name, internal, AdminState, ApiResult};

pub(crate) fn routes() -> Router<AdminState> {
    Router::new().route("/v1/channels/{name}/broadcasts", get(list_broadcasts))
}

/// One archived broadcast as the API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct BroadcastView {
    pub id: String,
    pub channel: String,
    pub started_unix_ms: i64,
    pub ended_unix_ms: i64,
    pub duration_seconds: f64,
    pub segments: u64,
    /// Segments the store never got (marked as gaps in the VOD).
    pub gaps: u64,
    /// `archiving`, `complete` or `failed`.
    pub state: ArchiveState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the live copy is to be deleted (`archive.delete_live_after_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_live_at_unix_ms: Option<i64>,
    /// When the live copy was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_deleted_unix_ms: Option<i64>,
    /// When the record was rebuilt from the VOD in the store (the bus had
    /// lost it); `ended_unix_ms` is then where the media end (the last
    /// period's start plus its segments), without the wait for the
    /// publisher's return that a node's own end includes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_unix_ms: Option<i64>,
    /// Playback URLs; only for a complete archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hls_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dash_url: Option<String>,
    /// The broadcast's last preview picture, its poster (only for a
    /// complete archive; a ladder that only copies the source decodes
    /// nothing and stores no picture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// The VOD's storyboard: WebVTT cues naming thumbnail tiles for
    /// scrubbing (only for a complete archive that has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storyboard_url: Option<String>,
}

/// The VOD URL base for a live playback base: its last segment `live`
/// becomes `vod` (`https://cdn.example.com/live` -> `https://cdn.example.com/vod`);
/// a base that does not end in `/live` gets `/vod` appended to its parent's view,
/// which `--vod-base-url` overrides.
pub fn vod_base_for(playback_base_url: &str) -> String {
    let base = playback_base_url.trim_end_matches('/');
    match base.strip_suffix("/live") {
        Some(root) => format!("{root}/vod"),
        None => format!("{base}/vod"),
    }
}

fn view(state: &AdminState, b: ArchivedBroadcast) -> BroadcastView {
    let complete = b.state == ArchiveState::Complete;
    let url = |file: &str| {
        complete.then(|| format!("{}/{}/{}/{file}", state.vod_base_url, b.channel, b.id))
    };
    BroadcastView {
        hls_url: url("master.m3u8"),
        dash_url: url("manifest.mpd"),
        thumbnail_url: url(livefleet_base::THUMBNAIL_PATH),
        storyboard_url: url(livefleet_base::layout::STORYBOARD_PATH).filter(|_| b.storyboard),
        id: b.id,
        channel: b.channel.to_string(),
        started_unix_ms: b.started_ms,
        ended_unix_ms: b.ended_ms,
        duration_seconds: b.duration_seconds,
        segments: b.segments,
        gaps: b.gaps,
        state: b.state,
        error: b.error,
        delete_live_at_unix_ms: b.delete_live_at_ms,
        live_deleted_unix_ms: b.live_deleted_ms,
        rebuilt_unix_ms: b.rebuilt_ms,
    }
}

/// `GET /v1/channels/{name}/broadcasts`: newest first. A channel that was
/// deleted keeps its archive, so an unknown name answers an empty list.
async fn list_broadcasts(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<BroadcastView>>> {
    let name = channel_name(&name)?;
    let records = state.broadcasts.list(&name).await.map_err(internal)?;
    Ok(Json(records.into_iter().map(|b| view(&state, b)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vod_urls_sit_beside_the_live_ones() {
        assert_eq!(
            vod_base_for("https://cdn.example.com/live/"),
            "https://cdn.example.com/vod"
        );
        assert_eq!(
            vod_base_for("http://127.0.0.1:8080/live"),
            "http://127.0.0.1:8080/vod"
        );
        assert_eq!(
            vod_base_for("https://play.example.com"),
            "https://play.example.com/vod"
        );
    }
}
