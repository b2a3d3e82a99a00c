//! Records rebuilt from the store for the VODs the index no longer lists.
//!
//! A bus that lost its storage (`docs/design/bus-lost-storage.md`) took the
//! broadcast records with it, but every complete VOD still holds its
//! manifests, and they say what a record says: where it is, how long it
//! lasts, how many segments and gaps it has, and when it started (the
//! first segment's `PROGRAM-DATE-TIME`, which the broadcast id also
//! carries). A node rebuilds them when it starts and whenever the bucket of
//! records is made again:
//!
//! ```text
//! store: vod/<channel>/<broadcast>/master.m3u8 --no record--> record (complete, rebuilt_ms)
//!        vod/<channel>/<broadcast>/ without a master --------> left unlisted (a copy cut short)
//! ```
//!
//! The pass also writes the listing of each channel whose records it
//! rebuilt or that has none (`listing`).
//!
//! Records are created only where none is (`BroadcastIndex::create`): a
//! record a node wrote is never replaced, and of two nodes rebuilding at
//! once, one stores each record. Listing reads one entry per channel and
//! per broadcast (`Storage::folders`), not every segment.

use bytes::Bytes;
use livefleet_base::{clock, now_unix_ms, ChannelName};
use livefleet_bus::{record_key, ArchiveState, ArchivedBroadcast, BroadcastIndex};

use super::error::ArchiveError;
use super::objects::Named;
use super::{manifest_text, recovery, Archiver};

/// What one pass found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Rebuilt {
    /// Records stored.
    pub records: usize,
    /// VODs without a record that are not complete (or cannot be read).
    pub unlisted: usize,
}

/// One rebuild pass; whether it went through (a failed one is tried again
/// at the next sweep).
pub(super) async fn pass(archiver: &Archiver) -> bool {
    let Some(index) = archiver.index.clone() else {
        return true;
    };
    match run(archiver, &index).await {
        Ok(done) => {
            if done.records > 0 || done.unlisted > 0 {
                tracing::info!(
                    rebuilt = done.records,
                    unlisted = done.unlisted,
                    "archive records rebuilt from the store"
                );
            }
            true
        }
        Err(error) => {
            tracing::warn!(%error, "cannot rebuild the archive records from the store; trying again at the next sweep");
            false
        }
    }
}

/// Rebuilds the missing records of the VODs in the store. Errors of the
/// bus or the listing end the pass (the next one tries again); a VOD that
/// cannot be read is logged and passed over.
async fn run(archiver: &Archiver, index: &BroadcastIndex) -> Result<Rebuilt, String> {
    let storage = archiver.storage();
    let recorded = index.recorded().await.map_err(|e| e.to_string())?;
    let mut done = Rebuilt::default();
    for folder in storage.folders("vod/").await.map_err(|e| e.to_string())? {
        let Ok(channel) = ChannelName::new(&folder) else {
            tracing::debug!(folder, "not a channel's VOD folder; passed over");
            continue;
        };
        let ids = storage
            .folders(&format!("vod/{channel}/"))
            .await
            .map_err(|e| e.to_string())?;
        let rebuilt_before = done.records;
        for id in ids {
            if !ArchivedBroadcast::is_id(&id) || recorded.contains(&record_key(&channel, &id)) {
                continue;
            }
            let prefix = format!("vod/{channel}/{id}/");
            match rebuild_one(archiver, index, &channel, &id, &prefix).await {
                Ok(true) => done.records += 1,
                Ok(false) => {}
                Err(error @ ArchiveError::NotStored { .. }) => {
                    tracing::info!(channel = %channel, broadcast = %id, %error, "a VOD without a record is not complete (a copy cut short); it stays unlisted");
                    done.unlisted += 1;
                }
                Err(error) => {
                    tracing::warn!(channel = %channel, broadcast = %id, %error, "a VOD without a record cannot be read; it stays unlisted");
                    done.unlisted += 1;
                }
            }
        }
        // A channel whose VODs predate listings (or whose listing was
        // lost) gets one at the next node start.
        let listing = livefleet_base::layout::broadcasts_listing_key(&channel);
        let listed = matches!(storage.get(&listing).await, Ok(Some(_)));
        if done.records > rebuilt_before || !listed {
            super::listing::write(storage, index, &channel).await;
        }
    }
    Ok(done)
}

/// Reads one VOD and stores its record where none is: whether it stored one.
async fn rebuild_one(
    archiver: &Archiver,
    index: &BroadcastIndex,
    channel: &ChannelName,
    id: &str,
    prefix: &str,
) -> Result<bool, ArchiveError> {
    let (manifests, named) = recovery::presentation(archiver.storage(), prefix).await?;
    let mut record = record_of(
        channel,
        id,
        prefix,
        &manifests,
        &named,
        archiver.store.clone(),
    )?;
    let storyboard = format!("{prefix}{}", livefleet_base::layout::STORYBOARD_PATH);
    record.storyboard = matches!(archiver.storage().get(&storyboard).await, Ok(Some(_)));
    match index.create(&record).await {
        Ok(stored) => {
            if stored {
                tracing::info!(channel = %channel, broadcast = %id, segments = record.segments, duration_seconds = record.duration_seconds, "the record of a VOD the index no longer listed was rebuilt from the store");
                if let Some(m) = archiver.metrics() {
                    m.rebuilt.inc();
                }
            }
            Ok(stored)
        }
        Err(e) => {
            tracing::warn!(channel = %channel, broadcast = %id, error = %e, "cannot store a rebuilt record; the next pass tries again");
            Ok(false)
        }
    }
}

/// The record a complete VOD's manifests give: counts and duration from
/// its first media playlist (the first rendition, as a node's record counts
/// them), gaps from every playlist.
pub(super) fn record_of(
    channel: &ChannelName,
    id: &str,
    prefix: &str,
    manifests: &[(String, Bytes)],
    named: &Named,
    store: Option<String>,
) -> Result<ArchivedBroadcast, ArchiveError> {
    let first = named.playlists.first().ok_or(ArchiveError::NoMaster)?;
    let playlist = manifest_text(manifests, first).ok_or_else(|| ArchiveError::NotFinal {
        path: first.clone(),
    })?;
    let (segments, duration_seconds) = extents(&playlist);
    let started_ms = playlist
        .lines()
        .find_map(|l| l.trim().strip_prefix("#EXT-X-PROGRAM-DATE-TIME:"))
        .and_then(clock::parse_iso8601)
        .or_else(|| started_of_id(id))
        .unwrap_or(0);
    let ended_ms = media_end(&playlist).unwrap_or(started_ms + seconds_ms(duration_seconds));
    let now = now_unix_ms();
    Ok(ArchivedBroadcast {
        channel: channel.clone(),
        id: id.to_owned(),
        started_ms,
        ended_ms,
        duration_seconds,
        segments,
        gaps: named.gaps.len() as u64,
        prefix: prefix.to_owned(),
        state: ArchiveState::Complete,
        error: None,
        updated_ms: now,
        owner: None,
        store,
        delete_live_at_ms: None,
        live_deleted_ms: None,
        rebuilt_ms: Some(now),
        storyboard: false,
    })
}

/// Media segments and their seconds in a media playlist (`#EXTINF`).
fn extents(playlist: &str) -> (u64, f64) {
    playlist
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#EXTINF:"))
        .map(|rest| rest.split(',').next().unwrap_or("").trim().parse::<f64>())
        .fold((0, 0.0), |(n, total), d| {
            let d = d.ok().filter(|d| d.is_finite() && *d >= 0.0).unwrap_or(0.0);
            (n + 1, total + d)
        })
}

/// When the media ended, in wall-clock time: the last `PROGRAM-DATE-TIME`
/// (the packager writes one at the start of every period) plus the seconds
/// of the segments after it. Pauses between periods (a publisher that left
/// and came back) count; start plus duration would leave them out. The
/// node's own record ended later, after its wait for the publisher's
/// return. `None` without a date.
fn media_end(playlist: &str) -> Option<i64> {
    let mut end = None;
    for line in playlist.lines().map(str::trim) {
        if let Some(date) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            if let Some(ms) = clock::parse_iso8601(date) {
                end = Some(ms);
            }
        } else if line.starts_with("#EXTINF:") {
            let (_, seconds) = extents(line);
            end = end.map(|ms| ms + seconds_ms(seconds));
        }
    }
    end
}

fn seconds_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// The start a broadcast id carries (`20261201T233000Z-42`: whole seconds).
fn started_of_id(id: &str) -> Option<i64> {
    let (stamp, _) = id.split_once("Z-")?;
    let (date, time) = stamp.split_once('T')?;
    if !stamp.is_ascii() || date.len() != 8 || time.len() != 6 {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[..4],
        &date[4..6],
        &date[6..],
        &time[..2],
        &time[2..4],
        &time[4..]
    );
    clock::parse_iso8601(&iso)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::objects;

    const MASTER: &str = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1\n240p/index.m3u8\n";

    fn playlist(pdt: bool) -> String {
        let pdt = if pdt {
            "#EXT-X-PROGRAM-DATE-TIME:2026-12-01T23:30:00.250Z\n"
        } else {
            ""
        };
        format!("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n{pdt}#EXTINF:2.000,\n42.m4s\n#EXT-X-GAP\n#EXTINF:2.000,\n43.m4s\n#EXTINF:1.5,\n44.m4s\n#EXT-X-ENDLIST\n")
    }

    fn record(pdt: bool) -> ArchivedBroadcast {
        let manifests = vec![
            ("master.m3u8".to_owned(), Bytes::from(MASTER)),
            ("360p/index.m3u8".to_owned(), Bytes::from(playlist(pdt))),
            ("240p/index.m3u8".to_owned(), Bytes::from(playlist(pdt))),
        ];
        let named = objects::named(MASTER, |p| manifest_text(&manifests, p)).unwrap();
        let channel = ChannelName::new("show").unwrap();
        let id = "20261201T233000Z-42";
        let prefix = "vod/show/20261201T233000Z-42/";
        record_of(&channel, id, prefix, &manifests, &named, Some("s".into())).unwrap()
    }

    #[test]
    fn a_record_reads_from_the_first_playlist_and_every_gap() {
        let r = record(true);
        assert_eq!(r.segments, 3);
        assert!((r.duration_seconds - 5.5).abs() < 1e-9);
        assert_eq!(r.gaps, 2, "one gap in each of two playlists");
        // 2026-12-01T23:30:00.250Z
        assert_eq!(r.started_ms, 1_796_167_800_250);
        assert_eq!(r.ended_ms, 1_796_167_805_750);
        assert_eq!(r.state, ArchiveState::Complete);
        assert!(r.rebuilt_ms.is_some());
        assert_eq!(r.first_number(), Some(42));
        assert_eq!((r.owner, r.store), (None, Some("s".into())));
    }

    #[test]
    fn without_a_date_the_start_comes_from_the_id() {
        assert_eq!(record(false).started_ms, 1_796_167_800_000);
        assert_eq!(
            started_of_id("20261201T233000Z-42"),
            Some(1_796_167_800_000)
        );
        for bad in [
            "",
            "x",
            "2026T1Z-1",
            "20261301T233000Z-1",
            "20261201T2330Z-1",
            "2026120éT23300Z-1",
        ] {
            assert_eq!(started_of_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_end_counts_from_the_last_period_date() {
        // A publisher that left for 8 s and came back: two periods.
        let two_periods = "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T23:30:00.000Z\n#EXTINF:2.000,\n1.m4s\n#EXTINF:1.000,\n2.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-12-01T23:30:11.000Z\n#EXTINF:2.000,\n3.m4s\n#EXTINF:0.5,\n4.m4s\n#EXT-X-ENDLIST\n";
        assert_eq!(media_end(two_periods), Some(1_796_167_813_500));
        // A date that does not parse keeps the one before it.
        let bad_date = two_periods.replace("23:30:11.000Z", "later");
        assert_eq!(media_end(&bad_date), Some(1_796_167_805_500));
        assert_eq!(media_end("#EXTINF:2,\na\n"), None);
        assert_eq!(
            record(false).ended_ms,
            1_796_167_805_500,
            "start from the id plus the duration"
        );
    }

    #[test]
    fn bad_durations_count_as_segments_of_no_time() {
        assert_eq!(
            extents("#EXTINF:x,\na\n#EXTINF:-1,\nb\n#EXTINF:NaN\nc\n"),
            (3, 0.0)
        );
        assert_eq!(extents("#EXTINF:2,\na\n#EXTINF:2.5\nb\n"), (2, 4.5));
    }
}
