//! Archives and deletions that a stopped node left behind, taken over by a
//! node on the same store.
//!
//! Every node sweeps the index when it starts and every [`SWEEP_EVERY`]:
//!
//! - a record still `archiving` whose owner has been silent for
//!   [`ORPHANED_MS`] (or that names this node, on its first sweep: the node
//!   restarted, so nothing of its own is running) is copied again from the
//!   live manifests in the store. They must still be this broadcast's: they
//!   end (`ENDLIST`) and start at the broadcast's first segment number. A
//!   channel that broadcast again meanwhile has rewritten them, and the
//!   record says so as `failed`.
//! - a `complete` record whose live copy was to be deleted and was not, by
//!   [`ORPHANED_MS`] after the time (or at once on this node's first sweep,
//!   when it names this node), has the deletion made from the VOD's
//!   manifests, which are the final ones byte for byte.
//!
//! The claim is a write of the record at the revision read: of two nodes
//! sweeping at once, one wins and the other leaves it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use livefleet_base::now_unix_ms;
use livefleet_bus::{ArchiveState, ArchivedBroadcast};
use livefleet_storage::Storage;

use super::error::ArchiveError;
use super::lease::{Hold, Lease};
use super::objects::{self, Named};
use super::{manifest_text, rebuild, Archiver, Finished};

/// How often a node looks for orphaned archives.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// A record silent this long while its archive is due is orphaned: six
/// heartbeats, with room for the clocks of two nodes to differ.
pub(super) const ORPHANED_MS: i64 = 60_000;

/// What a node takes over from a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Work {
    /// Copy the broadcast again from the live manifests.
    Archive,
    /// Delete the live copy of a complete archive.
    DeleteLive,
}

/// Who is looking: a node on a store, on its first sweep or not.
pub(super) struct Sweeper<'a> {
    pub node: &'a str,
    pub store: Option<&'a str>,
    pub first: bool,
}

/// What `sweeper` should take over from `record` at `now_ms`, if anything.
pub(super) fn takeover(record: &ArchivedBroadcast, sweeper: &Sweeper, now_ms: i64) -> Option<Work> {
    let mine = record.owner.as_deref() == Some(sweeper.node);
    // Another node's objects may be in a store this node cannot see.
    let same_store = record.store.as_deref() == sweeper.store && (record.store.is_some() || mine);
    if !same_store {
        return None;
    }
    let left_by_my_last_run = sweeper.first && mine;
    match record.state {
        ArchiveState::Archiving => (left_by_my_last_run
            || now_ms - record.updated_ms > ORPHANED_MS)
            .then_some(Work::Archive),
        ArchiveState::Complete => {
            let at = record.delete_live_at_ms?;
            let pending = record.live_deleted_ms.is_none();
            (pending && (left_by_my_last_run || now_ms - at.max(record.updated_ms) > ORPHANED_MS))
                .then_some(Work::DeleteLive)
        }
        ArchiveState::Failed => None,
    }
}

/// Sweeps now and every [`SWEEP_EVERY`], for as long as the node runs.
/// Records missing from the index are rebuilt from the store first, and
/// again whenever the bucket of records is made again (see [`rebuild`]).
pub(super) async fn run(archiver: Arc<Archiver>) {
    let mut restored = livefleet_bus::bucket_restorations(livefleet_bus::BROADCASTS_BUCKET);
    let mut first = true;
    let mut rebuild_due = true;
    loop {
        if rebuild_due {
            rebuild_due = !rebuild::pass(&archiver).await;
        }
        sweep(&archiver, first).await;
        first = false;
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = restored.made_again() => {
                tracing::warn!("the bucket of archive records was made again; rebuilding the records of the VODs in the store");
                rebuild_due = true;
            }
        }
    }
}

async fn sweep(archiver: &Arc<Archiver>, first: bool) {
    let Some(index) = archiver.index.clone() else {
        return;
    };
    let records = match index.unfinished().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for orphaned archives; trying again later");
            return;
        }
    };
    let sweeper = Sweeper {
        node: &archiver.node,
        store: archiver.store.as_deref(),
        first,
    };
    for (record, revision) in records {
        let Some(work) = takeover(&record, &sweeper, now_unix_ms()) else {
            continue;
        };
        let span =
            tracing::info_span!("archive", channel = %record.channel, broadcast = %record.id);
        let from = record.owner.clone().unwrap_or_default();
        let mut lease = Lease::take(index.clone(), record, revision, &archiver.node);
        if lease.write().await == Hold::Lost {
            continue;
        }
        span.in_scope(|| tracing::info!(from, ?work, "taking over an archive left unfinished"));
        if let Some(m) = archiver.metrics() {
            m.taken_over(work);
        }
        match work {
            Work::Archive => {
                let runtime = tokio::runtime::Handle::current();
                archiver.spawn_counted(&runtime, span, |a| resume_archive(a, lease));
            }
            Work::DeleteLive => {
                tokio::spawn(tracing::Instrument::instrument(
                    resume_deletion(archiver.clone(), lease),
                    span,
                ));
            }
        }
    }
}

/// The copy again, from the live manifests the broadcast's end stored.
async fn resume_archive(archiver: Arc<Archiver>, mut lease: Lease) {
    let live_prefix = format!("live/{}/", lease.record.channel);
    let read = presentation(archiver.storage(), &live_prefix)
        .await
        .and_then(|(manifests, named)| {
            this_broadcasts(&lease.record, &manifests, &named)?;
            Ok(manifests)
        });
    match read {
        Ok(manifests) => {
            let finished = Finished {
                live_prefix,
                manifests,
                ended_ms: lease.record.ended_ms,
            };
            archiver.make(lease, finished).await;
        }
        Err(error) => {
            tracing::error!(%error, "the unfinished archive cannot be completed; its live copy is kept");
            if let Some(m) = archiver.metrics() {
                m.finished(false, 0.0);
            }
            lease.record.state = ArchiveState::Failed;
            lease.record.error = Some(error.to_string());
            lease.write().await;
        }
    }
}

/// The deletion of the live copy, from the VOD's manifests.
async fn resume_deletion(archiver: Arc<Archiver>, mut lease: Lease) {
    match presentation(archiver.storage(), &lease.record.prefix).await {
        Ok((manifests, named)) => {
            let finished = Finished {
                live_prefix: format!("live/{}/", lease.record.channel),
                manifests,
                ended_ms: lease.record.ended_ms,
            };
            archiver.delete_live_later(lease, finished, named).await;
        }
        Err(error) => {
            // Not retried on every sweep: the lifecycle rule is the fallback.
            tracing::error!(%error, "cannot read the VOD to delete the live copy; it is kept");
            lease.record.delete_live_at_ms = None;
            lease.write().await;
        }
    }
}

/// The manifests stored under `prefix` (the master, the media playlists it
/// names, the MPD) and the objects they name.
pub(super) async fn presentation(
    storage: &dyn Storage,
    prefix: &str,
) -> Result<(Vec<(String, Bytes)>, Named), ArchiveError> {
    let read = |path: String| async move {
        let key = format!("{prefix}{path}");
        match storage.get(&key).await {
            Ok(Some(body)) => Ok((path, body)),
            Ok(None) => Err(ArchiveError::NotStored { key }),
            Err(e) => Err(ArchiveError::storage(format!("reading {key}"))(e)),
        }
    };
    let master = read("master.m3u8".into()).await?;
    let master_text = String::from_utf8_lossy(&master.1).into_owned();
    let mut manifests = vec![master];
    for path in objects::playlists(&master_text)? {
        manifests.push(read(path).await?);
    }
    manifests.push(read("manifest.mpd".into()).await?);
    let named = objects::named(&master_text, |p| manifest_text(&manifests, p))?;
    Ok((manifests, named))
}

/// Whether the live manifests are still `record`'s broadcast: final, and
/// starting at its first segment number.
fn this_broadcasts(
    record: &ArchivedBroadcast,
    manifests: &[(String, Bytes)],
    named: &Named,
) -> Result<(), ArchiveError> {
    let ended = named.playlists.iter().all(|p| {
        manifests
            .iter()
            .any(|(path, body)| path == p && body.windows(14).any(|w| w == b"#EXT-X-ENDLIST"))
    });
    let first = named.number_range().map(|(lo, _)| lo);
    if ended && first.is_some() && first == record.first_number() {
        return Ok(());
    }
    Err(ArchiveError::NotThisBroadcast { first, ended })
}

#[cfg(test)]
mod tests {
    use super::*;
    use livefleet_base::ChannelName;

    fn record(state: ArchiveState, owner: &str, updated_ms: i64) -> ArchivedBroadcast {
        ArchivedBroadcast {
            channel: ChannelName::new("c").unwrap(),
            id: "20261201T233000Z-42".into(),
            started_ms: 0,
            ended_ms: 0,
            duration_seconds: 0.0,
            segments: 0,
            gaps: 0,
            prefix: "vod/c/20261201T233000Z-42/".into(),
            state,
            error: None,
            updated_ms,
            owner: Some(owner.into()),
            store: Some("s3://b/ at x".into()),
            delete_live_at_ms: None,
            live_deleted_ms: None,
            rebuilt_ms: None,
            storyboard: false,
        }
    }

    const NOW: i64 = 1_000_000;

    fn sweeper(node: &str, first: bool) -> Sweeper<'_> {
        Sweeper {
            node,
            store: Some("s3://b/ at x"),
            first,
        }
    }

    #[test]
    fn an_archive_is_taken_once_its_owner_is_silent() {
        let alive = record(ArchiveState::Archiving, "a", NOW - 10_000);
        let silent = record(ArchiveState::Archiving, "a", NOW - ORPHANED_MS - 1);
        assert_eq!(takeover(&alive, &sweeper("b", false), NOW), None);
        assert_eq!(takeover(&alive, &sweeper("b", true), NOW), None);
        assert_eq!(
            takeover(&silent, &sweeper("b", false), NOW),
            Some(Work::Archive)
        );
        // Its own, from before a restart: at once on the first sweep only.
        assert_eq!(
            takeover(&alive, &sweeper("a", true), NOW),
            Some(Work::Archive)
        );
        assert_eq!(takeover(&alive, &sweeper("a", false), NOW), None);
    }

    #[test]
    fn only_a_node_on_the_same_store_takes_over() {
        let silent = record(ArchiveState::Archiving, "a", NOW - ORPHANED_MS - 1);
        let elsewhere = Sweeper {
            node: "b",
            store: Some("file://host/data"),
            first: false,
        };
        assert_eq!(takeover(&silent, &elsewhere, NOW), None);
        // A store that cannot be told: only its own node takes it.
        let unknown = ArchivedBroadcast {
            store: None,
            ..silent.clone()
        };
        let blind = |node| Sweeper {
            node,
            store: None,
            first: true,
        };
        assert_eq!(takeover(&unknown, &blind("b"), NOW), None);
        assert_eq!(takeover(&unknown, &blind("a"), NOW), Some(Work::Archive));
    }

    #[test]
    fn a_pending_deletion_is_taken_after_its_time_and_done_ones_are_left() {
        let mut complete = record(ArchiveState::Complete, "a", NOW - 5_000);
        assert_eq!(
            takeover(&complete, &sweeper("b", false), NOW),
            None,
            "nothing to delete"
        );
        complete.delete_live_at_ms = Some(NOW + 3_600_000);
        assert_eq!(
            takeover(&complete, &sweeper("b", false), NOW),
            None,
            "not due"
        );
        assert_eq!(
            takeover(&complete, &sweeper("a", true), NOW),
            Some(Work::DeleteLive),
            "its own, after a restart: waited for on the node"
        );
        complete.delete_live_at_ms = Some(NOW - ORPHANED_MS - 1);
        assert_eq!(
            takeover(&complete, &sweeper("b", false), NOW),
            None,
            "due, but its record was written 5 s ago: its holder is alive"
        );
        complete.updated_ms = NOW - ORPHANED_MS - 1;
        assert_eq!(
            takeover(&complete, &sweeper("b", false), NOW),
            Some(Work::DeleteLive)
        );
        complete.live_deleted_ms = Some(NOW - 1);
        assert_eq!(takeover(&complete, &sweeper("b", false), NOW), None);
        assert_eq!(takeover(&complete, &sweeper("a", true), NOW), None);
        let failed = record(ArchiveState::Failed, "a", 0);
        assert_eq!(takeover(&failed, &sweeper("a", true), NOW), None);
    }

    #[test]
    fn live_manifests_of_a_later_broadcast_are_not_this_ones() {
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n";
        let playlist = |first: u64, end: &str| {
            format!("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\n{first}.m4s\n#EXTINF:2.0,\n{}.m4s\n{end}", first + 1)
        };
        let check = |body: String| {
            let manifests = vec![
                ("master.m3u8".to_owned(), Bytes::from(master)),
                ("360p/index.m3u8".to_owned(), Bytes::from(body)),
            ];
            let named = objects::named(master, |p| manifest_text(&manifests, p)).unwrap();
            this_broadcasts(&record(ArchiveState::Archiving, "a", 0), &manifests, &named)
        };
        assert!(check(playlist(42, "#EXT-X-ENDLIST\n")).is_ok());
        let later = check(playlist(57, "#EXT-X-ENDLIST\n")).unwrap_err();
        assert!(
            matches!(
                later,
                ArchiveError::NotThisBroadcast {
                    first: Some(57),
                    ended: true
                }
            ),
            "{later}"
        );
        assert!(check(playlist(42, "")).is_err(), "a live playlist again");
    }
}
