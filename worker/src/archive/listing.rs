//! A channel's past broadcasts as one object beside its VODs,
//! `vod/<channel>/broadcasts.json`, newest first, with paths relative to it:
//! what a viewer page (ours, or a site's) lists without the admin API's
//! token, from the store or through a CDN like every other object.
//!
//! Written from the channel's records in the bus (`BroadcastIndex`) each
//! time one of its VODs is complete or its record is rebuilt, so every
//! write is whole and the last one wins; a VOD completed while another write
//! was listing appears at the next write at the latest. A store without a
//! bus (no records) gets none. Record: `docs/design/archive.md`.

use bytes::Bytes;
use livefleet_base::{layout, ChannelName};
use livefleet_bus::{ArchiveState, ArchivedBroadcast, BroadcastIndex};
use livefleet_storage::{ObjectMeta, Storage};
use serde::Serialize;

/// Broadcasts listed at most: a year of daily shows. Older VODs stay in
/// the store and in the admin API.
pub const MAX_LISTED: usize = 400;

/// The listing's body.
#[derive(Debug, Serialize, PartialEq)]
pub struct Listing {
    pub channel: String,
    /// When it was written, Unix ms.
    pub updated_ms: i64,
    pub broadcasts: Vec<Listed>,
}

/// One complete VOD; paths are relative to the listing.
#[derive(Debug, Serialize, PartialEq)]
pub struct Listed {
    pub id: String,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub duration_seconds: f64,
    pub gaps: u64,
    pub master: String,
    pub manifest: String,
    pub thumbnail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storyboard: Option<String>,
}

/// The listing of `records` (a channel's, newest first): complete VODs
/// only, at most [`MAX_LISTED`].
pub fn listing(channel: &ChannelName, records: &[ArchivedBroadcast], now_ms: i64) -> Listing {
    let broadcasts = records
        .iter()
        .filter(|r| r.state == ArchiveState::Complete && &r.channel == channel)
        .take(MAX_LISTED)
        .map(|r| {
            let at = |file: &str| format!("{}/{file}", r.id);
            Listed {
                id: r.id.clone(),
                started_ms: r.started_ms,
                ended_ms: r.ended_ms,
                duration_seconds: r.duration_seconds,
                gaps: r.gaps,
                master: at("master.m3u8"),
                manifest: at("manifest.mpd"),
                thumbnail: at(layout::THUMBNAIL_PATH),
                storyboard: r.storyboard.then(|| at(layout::STORYBOARD_PATH)),
            }
        })
        .collect();
    Listing {
        channel: channel.to_string(),
        updated_ms: now_ms,
        broadcasts,
    }
}

/// Writes `channel`'s listing from its records; a failure is logged (the
/// VODs play all the same, and the next write puts it right).
pub(super) async fn write(storage: &dyn Storage, index: &BroadcastIndex, channel: &ChannelName) {
    let key = layout::broadcasts_listing_key(channel);
    let records = match index.list(channel).await {
        Ok(r) => r,
        Err(error) => {
            tracing::warn!(%key, %error, "cannot list the channel's broadcasts; its listing is not renewed");
            return;
        }
    };
    let listing = listing(channel, &records, livefleet_base::now_unix_ms());
    let body = match serde_json::to_vec(&listing) {
        Ok(b) => Bytes::from(b),
        Err(error) => {
            tracing::warn!(%key, %error, "cannot write the channel's listing as JSON");
            return;
        }
    };
    match storage.put(&key, body, ObjectMeta::for_key(&key)).await {
        Ok(()) => {
            tracing::debug!(%key, listed = listing.broadcasts.len(), "broadcast listing stored")
        }
        Err(error) => {
            tracing::warn!(%key, %error, "cannot store the channel's broadcast listing; the next VOD writes it again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, state: ArchiveState, storyboard: bool) -> ArchivedBroadcast {
        serde_json::from_value(serde_json::json!({
            "channel": "show", "id": id, "started_ms": 1_000, "ended_ms": 9_000,
            "duration_seconds": 8.0, "segments": 4, "gaps": 1,
            "prefix": format!("vod/show/{id}/"), "state": state, "updated_ms": 9_500,
            "storyboard": storyboard,
        }))
        .unwrap()
    }

    #[test]
    fn complete_vods_are_listed_with_relative_paths_in_the_given_order() {
        let show = ChannelName::new("show").unwrap();
        let records = [
            record("20261208T050000Z-30", ArchiveState::Archiving, false),
            record("20261208T040000Z-20", ArchiveState::Complete, true),
            record("20261208T030000Z-10", ArchiveState::Failed, false),
            record("20261208T020000Z-0", ArchiveState::Complete, false),
        ];
        let l = listing(&show, &records, 77);
        assert_eq!(l.channel, "show");
        assert_eq!(l.updated_ms, 77);
        let ids: Vec<&str> = l.broadcasts.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["20261208T040000Z-20", "20261208T020000Z-0"]);
        let first = serde_json::to_value(&l.broadcasts[0]).unwrap();
        assert_eq!(
            first,
            serde_json::json!({
                "id": "20261208T040000Z-20", "started_ms": 1_000, "ended_ms": 9_000,
                "duration_seconds": 8.0, "gaps": 1,
                "master": "20261208T040000Z-20/master.m3u8",
                "manifest": "20261208T040000Z-20/manifest.mpd",
                "thumbnail": "20261208T040000Z-20/thumbnail.jpg",
                "storyboard": "20261208T040000Z-20/storyboard.vtt",
            })
        );
        // Without a storyboard the field is left out.
        let second = serde_json::to_value(&l.broadcasts[1]).unwrap();
        assert!(second.get("storyboard").is_none(), "{second}");
    }

    #[test]
    fn the_listing_is_capped_and_keeps_to_its_channel() {
        let show = ChannelName::new("show").unwrap();
        let mut records: Vec<ArchivedBroadcast> = (0..MAX_LISTED + 5)
            .map(|n| {
                record(
                    &format!("20261208T040000Z-{n}"),
                    ArchiveState::Complete,
                    false,
                )
            })
            .collect();
        let mut other = record("20261208T040000Z-9999", ArchiveState::Complete, false);
        other.channel = ChannelName::new("other").unwrap();
        records.insert(0, other);
        let l = listing(&show, &records, 0);
        assert_eq!(l.broadcasts.len(), MAX_LISTED);
        assert_eq!(l.broadcasts[0].id, "20261208T040000Z-0");
    }
}
