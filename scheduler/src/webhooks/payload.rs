//! What a webhook says: the JSON body of each event, made from a broadcast
//! event or an archive record on the bus. Pure, so every rule is tested
//! without a bus.

use livefleet_base::ChannelName;
use livefleet_bus::{
    ArchiveState, ArchivedBroadcast, BroadcastEvent, BroadcastState, PublishRefusal,
};
use serde::Serialize;

/// Where viewers find a channel and its VODs (the admin API's bases).
#[derive(Debug, Clone)]
pub struct Urls {
    /// `<base>/<channel>/master.m3u8` is the live channel.
    pub playback_base: String,
    /// `<base>/<channel>/<broadcast>/master.m3u8` is a VOD.
    pub vod_base: String,
}

/// One webhook: `id` is the same on every delivery of the same event, so a
/// receiver that got it twice (deliveries are at least once) can tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub channel: String,
    /// When it happened, Unix ms.
    pub at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vod: Option<Vod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
}

/// A publish a worker gave up on; the ingest ends it with this reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// The ingest's number of the publish session.
    pub session: u32,
    pub reason: String,
}

/// A broadcast going on or off the air.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Live {
    /// The broadcast: its start, Unix ms.
    pub broadcast: i64,
    pub hls_url: String,
    pub dash_url: String,
    pub thumbnail_url: String,
}

/// A broadcast's VOD copy, complete or failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vod {
    /// The archive's id (`GET /v1/channels/{name}/broadcasts`).
    pub id: String,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub duration_seconds: f64,
    pub segments: u64,
    /// Segments the store never got, marked as gaps in the VOD.
    pub gaps: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hls_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dash_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// Thumbnail tiles for scrubbing (WebVTT), where the VOD has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storyboard_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Webhook {
    /// `broadcast.started` or `broadcast.stopped`.
    pub fn of_broadcast(channel: &ChannelName, e: &BroadcastEvent, urls: &Urls) -> Webhook {
        let kind = match e.state {
            BroadcastState::Started => "broadcast.started",
            BroadcastState::Stopped => "broadcast.stopped",
        };
        let at = |file: &str| format!("{}/{channel}/{file}", urls.playback_base);
        Webhook {
            id: format!("{kind}/{channel}/{}", e.broadcast),
            kind,
            channel: channel.to_string(),
            at_ms: e.at_ms,
            live: Some(Live {
                broadcast: e.broadcast,
                hls_url: at("master.m3u8"),
                dash_url: at("manifest.mpd"),
                thumbnail_url: at(livefleet_base::THUMBNAIL_PATH),
            }),
            vod: None,
            refusal: None,
        }
    }

    /// `publish.refused`: the worker gave up on a publish (a codec it
    /// cannot copy, a source it cannot decode), so the producer hears why.
    pub fn of_refusal(channel: &ChannelName, r: &PublishRefusal) -> Webhook {
        Webhook {
            id: format!("publish.refused/{channel}/{}/{}", r.session, r.at_ms),
            kind: "publish.refused",
            channel: channel.to_string(),
            at_ms: r.at_ms,
            live: None,
            vod: None,
            refusal: Some(Refusal {
                session: r.session,
                reason: r.reason.clone(),
            }),
        }
    }

    /// `vod.ready` or `vod.failed` from an archive record, once: `None`
    /// for a copy still being made, and for the later writes of a finished
    /// one (the live copy's deletion, a record rebuilt from the store).
    pub fn of_archive(r: &ArchivedBroadcast, urls: &Urls) -> Option<Webhook> {
        if r.live_deleted_ms.is_some() || r.rebuilt_ms.is_some() {
            return None;
        }
        let kind = match r.state {
            ArchiveState::Archiving => return None,
            ArchiveState::Complete => "vod.ready",
            ArchiveState::Failed => "vod.failed",
        };
        let complete = r.state == ArchiveState::Complete;
        let at = |file: &str| {
            complete.then(|| format!("{}/{}/{}/{file}", urls.vod_base, r.channel, r.id))
        };
        Some(Webhook {
            id: format!("{kind}/{}/{}", r.channel, r.id),
            kind,
            channel: r.channel.to_string(),
            at_ms: r.updated_ms,
            live: None,
            vod: Some(Vod {
                id: r.id.clone(),
                started_ms: r.started_ms,
                ended_ms: r.ended_ms,
                duration_seconds: r.duration_seconds,
                segments: r.segments,
                gaps: r.gaps,
                hls_url: at("master.m3u8"),
                dash_url: at("manifest.mpd"),
                thumbnail_url: at(livefleet_base::THUMBNAIL_PATH),
                storyboard_url: at(livefleet_base::layout::STORYBOARD_PATH)
                    .filter(|_| r.storyboard),
                error: r.error.clone(),
            }),
            refusal: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> Urls {
        Urls {
            playback_base: "https://cdn.example/live".into(),
            vod_base: "https://cdn.example/vod".into(),
        }
    }

    fn record(state: ArchiveState) -> ArchivedBroadcast {
        ArchivedBroadcast {
            channel: ChannelName::new("demo").unwrap(),
            id: "20261207T220000Z-12".into(),
            started_ms: 1_000,
            ended_ms: 61_000,
            duration_seconds: 60.0,
            segments: 30,
            gaps: 0,
            prefix: "vod/demo/20261207T220000Z-12/".into(),
            state,
            error: None,
            updated_ms: 62_000,
            owner: Some("w1".into()),
            store: None,
            delete_live_at_ms: Some(70_000),
            live_deleted_ms: None,
            rebuilt_ms: None,
            storyboard: false,
        }
    }

    #[test]
    fn a_broadcast_event_names_the_live_urls_and_has_a_stable_id() {
        let channel = ChannelName::new("demo").unwrap();
        let e = BroadcastEvent {
            state: BroadcastState::Stopped,
            broadcast: 5_000,
            at_ms: 9_000,
        };
        let w = Webhook::of_broadcast(&channel, &e, &urls());
        assert_eq!(w.id, "broadcast.stopped/demo/5000");
        assert_eq!(w, Webhook::of_broadcast(&channel, &e, &urls()));
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(json["type"], "broadcast.stopped");
        assert_eq!(
            json["live"]["hls_url"],
            "https://cdn.example/live/demo/master.m3u8"
        );
        assert!(json.get("vod").is_none());
    }

    #[test]
    fn a_refusal_carries_its_reason_and_session() {
        let channel = ChannelName::new("demo").unwrap();
        let mut r = PublishRefusal::new(7, "rendition source: passthrough copies H.264 or HEVC");
        r.at_ms = 42;
        let json = serde_json::to_value(Webhook::of_refusal(&channel, &r)).unwrap();
        assert_eq!(json["id"], "publish.refused/demo/7/42");
        assert_eq!(json["type"], "publish.refused");
        assert_eq!(json["refusal"]["session"], 7);
        assert_eq!(
            json["refusal"]["reason"],
            "rendition source: passthrough copies H.264 or HEVC"
        );
        assert!(json.get("live").is_none() && json.get("vod").is_none());
    }

    #[test]
    fn an_archive_is_told_once_when_it_is_finished() {
        assert_eq!(
            Webhook::of_archive(&record(ArchiveState::Archiving), &urls()),
            None
        );
        let ready = Webhook::of_archive(&record(ArchiveState::Complete), &urls()).unwrap();
        assert_eq!(ready.kind, "vod.ready");
        assert_eq!(ready.id, "vod.ready/demo/20261207T220000Z-12");
        let vod = ready.vod.unwrap();
        assert_eq!(
            vod.hls_url.as_deref(),
            Some("https://cdn.example/vod/demo/20261207T220000Z-12/master.m3u8")
        );
        assert_eq!(vod.storyboard_url, None, "a record without a storyboard");
        let mut with = record(ArchiveState::Complete);
        with.storyboard = true;
        let vod = Webhook::of_archive(&with, &urls()).unwrap().vod.unwrap();
        assert_eq!(
            vod.storyboard_url.as_deref(),
            Some("https://cdn.example/vod/demo/20261207T220000Z-12/storyboard.vtt")
        );
        // The live copy's deletion rewrites the record: no second vod.ready.
        let mut deleted = record(ArchiveState::Complete);
        deleted.live_deleted_ms = Some(71_000);
        assert_eq!(Webhook::of_archive(&deleted, &urls()), None);
        let mut failed = record(ArchiveState::Failed);
        failed.error = Some("the store refused".into());
        let failed = Webhook::of_archive(&failed, &urls()).unwrap();
        assert_eq!(failed.kind, "vod.failed");
        let vod = failed.vod.unwrap();
        assert_eq!(vod.hls_url, None);
        assert_eq!(vod.error.as_deref(), Some("the store refused"));
    }
}
