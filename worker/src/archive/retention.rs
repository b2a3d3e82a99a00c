//! The live prefix after the archive: the broadcast's live objects are
//! deleted once its VOD is complete and the grace period
//! (`archive.delete_live_after_seconds`) has passed.
//!
//! Manifests go first, so no stored manifest ever names a deleted segment:
//! the live playlists are deleted only while they are still this
//! broadcast's (the channel's next broadcast rewrites them under the same
//! keys), and then the init segments and the preview picture too. Media segments are always this
//! broadcast's (numbers never repeat within a channel), and so are the chat
//! files of their numbers.

use super::objects::Named;
use super::{Archiver, Finished};

pub(super) async fn delete_live(archiver: &Archiver, finished: &Finished, named: &Named) {
    let storage = archiver.storage();
    let live = &finished.live_prefix;
    let master_key = format!("{live}master.m3u8");
    let ours = finished.manifests.iter().find(|(p, _)| p == "master.m3u8");
    let still_ours = match (storage.get(&master_key).await, ours) {
        (Ok(Some(stored)), Some((_, body))) => stored == *body,
        (Ok(None), _) => true,
        (Ok(Some(_)), None) => false,
        (Err(e), _) => {
            tracing::warn!(error = %e, "cannot read the live master playlist; the live copy is kept");
            return;
        }
    };
    let mut keys: Vec<String> = Vec::new();
    if still_ours {
        // The master first: a player that still asks for it learns the channel is off.
        keys.extend(
            finished
                .manifests
                .iter()
                .map(|(p, _)| p.clone())
                .filter(|p| p == "master.m3u8")
                .chain(
                    finished
                        .manifests
                        .iter()
                        .map(|(p, _)| p.clone())
                        .filter(|p| p != "master.m3u8"),
                ),
        );
        keys.extend(named.inits.iter().cloned());
        keys.push(livefleet_base::THUMBNAIL_PATH.to_owned());
    }
    keys.extend(named.segments.iter().cloned());
    keys.extend(named.gaps.iter().cloned());
    if let Some((first, last)) = named.number_range() {
        keys.extend((first..=last).map(livefleet_base::chat_replay_path));
    }
    let mut deleted = 0u64;
    for path in &keys {
        let key = format!("{live}{path}");
        match storage.delete(&key).await {
            Ok(()) => deleted += 1,
            Err(e) => {
                tracing::warn!(%key, error = %e, "cannot delete a live object; it is left to the bucket's lifecycle rule");
            }
        }
    }
    if let Some(m) = archiver.metrics() {
        m.deleted.inc_by(deleted);
    }
    tracing::info!(
        deleted,
        manifests = still_ours,
        "live copy of the archived broadcast deleted"
    );
}
