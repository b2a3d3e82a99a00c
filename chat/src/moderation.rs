//! Bans and timeouts, kept in the JetStream KV bucket [`MODERATION_BUCKET`]
//! so they hold on every relay and across restarts. Every relay watches the
//! bucket and checks a sender against its copy.
//!
//! Keys: `ban.<channel>.<user as hex>` (a user id may hold any character; a
//! KV key may not). Value: a [`Ban`]. A timeout is a ban with an end.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use livefleet_base::ChannelName;
use serde::{Deserialize, Serialize};

/// The bucket of bans.
pub const MODERATION_BUCKET: &str = "livefleet_chat_moderation";

/// Why a ban could not be read, stored or lifted.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    #[error("cannot open the moderation bucket: {0}")]
    Open(livefleet_bus::StreamError),
    #[error("cannot watch {MODERATION_BUCKET}: {0}")]
    Watch(async_nats::Error),
    /// The request names no user, or one too long to be one (refused, not stored).
    #[error("user must be 1 to 128 characters")]
    BadUser,
    #[error("cannot store the ban: {0}")]
    Store(async_nats::Error),
    #[error("cannot lift the ban: {0}")]
    Lift(async_nats::Error),
}

/// A user may not send in a channel (until `until_ms`, or for good).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    pub user: String,
    /// End of a timeout, Unix ms; `None`: a ban.
    pub until_ms: Option<i64>,
    /// The moderator.
    pub by: String,
    #[serde(default)]
    pub reason: String,
}

fn key(channel: &ChannelName, user: &str) -> String {
    let hex: String = user.bytes().map(|b| format!("{b:02x}")).collect();
    format!("ban.{channel}.{hex}")
}

/// Parses `ban.<channel>.<hex>` back to the channel and user.
fn parse_key(key: &str) -> Option<(ChannelName, String)> {
    let rest = key.strip_prefix("ban.")?;
    let (channel, hex) = rest.split_once('.')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    Some((
        ChannelName::new(channel).ok()?,
        String::from_utf8(bytes?).ok()?,
    ))
}

/// Takes one entry of the bucket into the copy of the bans.
fn apply(bans: &RwLock<HashMap<(ChannelName, String), Ban>>, entry: &kv::Entry) {
    let Some(k) = parse_key(&entry.key) else {
        tracing::warn!(key = %entry.key, "skipping a malformed moderation key");
        return;
    };
    let Ok(mut bans) = bans.write() else { return };
    match entry.operation {
        kv::Operation::Put => match serde_json::from_slice::<Ban>(&entry.value) {
            Ok(b) => {
                bans.insert(k, b);
            }
            Err(e) => tracing::warn!(key = %entry.key, error = %e, "skipping a malformed ban"),
        },
        kv::Operation::Delete | kv::Operation::Purge => {
            bans.remove(&k);
        }
    }
}

/// The bans of every channel, kept current from the bucket.
#[derive(Clone)]
pub struct Moderation {
    kv: kv::Store,
    bans: Arc<RwLock<HashMap<(ChannelName, String), Ban>>>,
}

impl Moderation {
    /// Opens (or makes) the bucket, without watching it (for the admin API).
    pub async fn open(js: &jetstream::Context) -> Result<Self, ModerationError> {
        let kv = livefleet_bus::open_kv_bucket(
            js,
            MODERATION_BUCKET,
            "livefleet chat bans and timeouts",
            1,
        )
        .await
        .map_err(ModerationError::Open)?;
        Ok(Self {
            kv,
            bans: Arc::default(),
        })
    }

    /// Opens the bucket and keeps a copy of it current in the background.
    /// A bucket made again (a bus that lost its storage,
    /// `livefleet_bus::bucket_restorations`) is empty: the copy is emptied with it
    /// and the new bucket watched.
    pub async fn watched(js: &jetstream::Context) -> Result<Self, ModerationError> {
        let m = Self::open(js).await?;
        let mut watch = m.watch().await?;
        let (kv, bans) = (m.clone(), m.bans.clone());
        let mut restored = livefleet_bus::bucket_restorations(MODERATION_BUCKET);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    entry = watch.next() => match entry {
                        Some(Ok(entry)) => apply(&bans, &entry),
                        Some(Err(_)) => {}
                        None => {
                            tracing::warn!("the moderation watch ended; bans are no longer updated");
                            return;
                        }
                    },
                    () = restored.made_again() => {
                        tracing::warn!("the moderation bucket was made again, empty: its bans are gone");
                        if let Ok(mut b) = bans.write() {
                            b.clear();
                        }
                        match kv.watch().await {
                            Ok(w) => watch = w,
                            Err(e) => tracing::warn!(error = %e, "cannot watch the new moderation bucket yet"),
                        }
                    }
                }
            }
        });
        Ok(m)
    }

    async fn watch(&self) -> Result<kv::Watch, ModerationError> {
        self.kv
            .watch_all_from_revision(1)
            .await
            .map_err(|e| ModerationError::Watch(e.into()))
    }

    /// The ban that keeps `user` from sending in `channel` at `now` (Unix ms).
    pub fn banned(&self, channel: &ChannelName, user: &str, now: i64) -> Option<Ban> {
        let bans = self.bans.read().ok()?;
        bans.get(&(channel.clone(), user.to_owned()))
            .filter(|b| b.until_ms.is_none_or(|u| u > now))
            .cloned()
    }

    /// Bans `user` from `channel` (for `seconds`, or for good).
    pub async fn ban(
        &self,
        channel: &ChannelName,
        user: &str,
        seconds: Option<u64>,
        by: &str,
        reason: &str,
    ) -> Result<Ban, ModerationError> {
        if user.is_empty() || user.len() > 128 {
            return Err(ModerationError::BadUser);
        }
        let ban = Ban {
            user: user.to_owned(),
            until_ms: seconds
                .map(|s| livefleet_base::now_unix_ms() + (s.min(365 * 86_400) * 1000) as i64),
            by: by.to_owned(),
            reason: reason.chars().take(200).collect(),
        };
        let body = serde_json::to_vec(&ban).map_err(|e| ModerationError::Store(e.into()))?;
        self.kv
            .put(key(channel, user), body.into())
            .await
            .map_err(|e| ModerationError::Store(e.into()))?;
        if let Ok(mut bans) = self.bans.write() {
            bans.insert((channel.clone(), user.to_owned()), ban.clone());
        }
        Ok(ban)
    }

    /// Lifts a ban or timeout.
    pub async fn unban(&self, channel: &ChannelName, user: &str) -> Result<(), ModerationError> {
        self.kv
            .delete(key(channel, user))
            .await
            .map_err(|e| ModerationError::Lift(e.into()))?;
        if let Ok(mut bans) = self.bans.write() {
            bans.remove(&(channel.clone(), user.to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_any_user() {
        let ch = ChannelName::new("demo").unwrap();
        for user in ["alice", "Ünïcode user", "a.b*c>d"] {
            assert_eq!(
                parse_key(&key(&ch, user)),
                Some((ch.clone(), user.to_owned()))
            );
        }
        assert_eq!(parse_key("ban.demo.zz"), None);
        assert_eq!(parse_key("other"), None);
    }
}
