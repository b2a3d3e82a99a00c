//! The copy itself: every object the final playlists name, from the live
//! prefix to the VOD prefix inside the store, then the chat replay files and
//! the preview picture, then the VOD manifests with the master last (a VOD
//! with a master is complete).

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use livefleet_base::now_unix_ms;
use livefleet_storage::ObjectMeta;

use super::error::ArchiveError;
use super::objects::{self, Named};
use super::{Archiver, Finished};

/// Copies in flight per broadcast.
const PARALLEL_COPIES: usize = 8;
/// How long a segment the playlists name may take to appear in the store
/// (the storage writer may still be retrying it).
const MISSING_WAIT: Duration = Duration::from_secs(30);

/// Copies every object, then the chat files, then stores the manifests.
pub(super) async fn all(
    a: &Archiver,
    finished: &Finished,
    prefix: &str,
) -> Result<Named, ArchiveError> {
    let master = finished
        .manifest("master.m3u8")
        .ok_or(ArchiveError::NoMaster)?;
    let named = objects::named(&master, |p| finished.manifest(p))?;
    let mut copies = Vec::new();
    for path in named.inits.iter().chain(&named.segments) {
        copies.push(futures::future::Either::Left(required(
            a, finished, prefix, path,
        )));
    }
    // A gap's segment may have reached the store after all: keep it too.
    for path in &named.gaps {
        copies.push(futures::future::Either::Right(async move {
            present(a, finished, prefix, path).await.map(|_| ())
        }));
    }
    let results: Vec<Result<(), ArchiveError>> = futures::stream::iter(copies)
        .buffer_unordered(PARALLEL_COPIES)
        .collect()
        .await;
    if let Some(error) = results.into_iter().find_map(Result::err) {
        return Err(error);
    }
    chat(a, finished, prefix, &named).await?;
    // The broadcast's last preview picture, the VOD's poster, where there is one.
    present(a, finished, prefix, livefleet_base::THUMBNAIL_PATH).await?;
    // The master last: a VOD with a master is complete.
    let mut manifests: Vec<&(String, Bytes)> = finished.manifests.iter().collect();
    manifests.sort_by_key(|(path, _)| path == "master.m3u8");
    for (path, body) in manifests {
        let key = format!("{prefix}{path}");
        let meta = ObjectMeta::for_key(&key);
        a.storage()
            .put(&key, body.clone(), meta)
            .await
            .map_err(ArchiveError::storage(format!("storing {key}")))?;
    }
    Ok(named)
}

/// Copies an object the VOD names; waits a while for one not stored yet.
async fn required(
    a: &Archiver,
    finished: &Finished,
    prefix: &str,
    path: &str,
) -> Result<(), ArchiveError> {
    let deadline = Instant::now() + MISSING_WAIT;
    loop {
        if present(a, finished, prefix, path).await? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ArchiveError::NeverStored {
                key: format!("{}{path}", finished.live_prefix),
                seconds: MISSING_WAIT.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Copies `path` if it is stored; whether it was.
async fn present(
    a: &Archiver,
    finished: &Finished,
    prefix: &str,
    path: &str,
) -> Result<bool, ArchiveError> {
    let from = format!("{}{path}", finished.live_prefix);
    let to = format!("{prefix}{path}");
    let meta = ObjectMeta::for_key(&to);
    let copied = a
        .storage()
        .copy(&from, &to, meta)
        .await
        .map_err(ArchiveError::storage(format!("copying {from} to {to}")))?;
    if copied {
        if let Some(m) = a.metrics() {
            m.copied.inc();
        }
    }
    Ok(copied)
}

/// The chat replay files of the broadcast's segments (written by the chat
/// relay shortly after the end), where there are any.
async fn chat(
    a: &Archiver,
    finished: &Finished,
    prefix: &str,
    named: &Named,
) -> Result<(), ArchiveError> {
    let Some((first, last)) = named.number_range() else {
        return Ok(());
    };
    let settle = Duration::from_secs_f64(a.config.chat_settle_seconds);
    let since_end = Duration::from_millis((now_unix_ms() - finished.ended_ms).max(0) as u64);
    tokio::time::sleep(settle.saturating_sub(since_end)).await;
    let chat_prefix = format!("{}chat/", finished.live_prefix);
    let keys = a
        .storage()
        .list(&chat_prefix)
        .await
        .map_err(ArchiveError::storage(format!("listing {chat_prefix}")))?;
    let files: Vec<String> = keys
        .iter()
        .filter_map(|k| k.strip_prefix(&finished.live_prefix))
        .filter(|p| {
            p.strip_prefix("chat/")
                .and_then(|f| f.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| (first..=last).contains(&n))
        })
        .map(str::to_owned)
        .collect();
    for path in &files {
        present(a, finished, prefix, path).await?;
    }
    tracing::debug!(files = files.len(), "chat replay files archived");
    Ok(())
}
