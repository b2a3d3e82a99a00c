//! The channel registry: every channel with its stream key and ladder
//! profile, in the JetStream KV bucket [`REGISTRY_BUCKET`].
//!
//! Keys in the bucket:
//! - `channel.<name>`: the [`ChannelRecord`] as JSON;
//! - `key.<sha256 of the stream key, hex>`: the channel name, so that the
//!   ingest finds a channel from a stream key with two reads. The hash keeps
//!   stream keys out of subjects and key listings; the record's key is then
//!   compared in constant time.
//!
//! Values that do not deserialize are skipped with a warning naming the KV
//! key. Stream keys are never logged and never part of an error.

use std::fmt;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::StreamExt;
use livefleet_base::ChannelName;
use serde::{Deserialize, Serialize};

use crate::stream_key::{constant_time_eq, index_key, validate_stream_key};
use crate::BusError;

/// Name of the KV bucket that holds the registry.
pub const REGISTRY_BUCKET: &str = "livefleet_channels";
const HISTORY: i64 = 5;
const CHANNEL_PREFIX: &str = "channel.";

/// One channel as the admin API created it.
#[derive(Serialize, Deserialize, Clone, PartialEq)]
pub struct ChannelRecord {
    /// The channel, `media.<name>.*` on NATS and `live/<name>/` in storage.
    pub name: ChannelName,
    /// Secret the publisher gives as the RTMP stream key. Never logged.
    pub stream_key: String,
    /// The full, validated ladder profile text (YAML).
    pub profile_yaml: String,
    /// The profile's name, for listings.
    pub profile_name: String,
    /// When the channel was created, Unix time in milliseconds.
    pub created_unix_ms: i64,
}

impl fmt::Debug for ChannelRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelRecord")
            .field("name", &self.name)
            .field("stream_key", &"<redacted>")
            .field("profile_name", &self.profile_name)
            .field(
                "profile_yaml",
                &format_args!("<{} bytes>", self.profile_yaml.len()),
            )
            .field("created_unix_ms", &self.created_unix_ms)
            .finish()
    }
}

fn channel_key(name: &ChannelName) -> String {
    format!("{CHANNEL_PREFIX}{name}")
}

fn decode_record(kv_key: &str, value: &[u8]) -> Option<ChannelRecord> {
    match serde_json::from_slice::<ChannelRecord>(value) {
        Ok(rec) if kv_key.strip_prefix(CHANNEL_PREFIX) == Some(rec.name.as_str()) => Some(rec),
        Ok(rec) => {
            tracing::warn!(kv_key, channel = %rec.name, "skipping channel record stored under another name");
            None
        }
        Err(e) => {
            tracing::warn!(kv_key, "skipping unreadable channel record: {e}");
            None
        }
    }
}

/// A change of the registry, as a worker or ingest sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelChange {
    /// A channel was created (or its record rewritten).
    Put(ChannelRecord),
    /// A channel was deleted.
    Deleted(ChannelName),
}

/// Changes of the registry, in order. See [`ChannelRegistry::watch`].
pub struct ChannelWatch {
    watch: kv::Watch,
}

impl ChannelWatch {
    /// The next change; unreadable entries are skipped with a warning.
    /// `None` when the watch ended.
    pub async fn next(&mut self) -> Option<Result<ChannelChange, BusError>> {
        loop {
            let entry = match self.watch.next().await? {
                Ok(entry) => entry,
                Err(e) => return Some(Err(BusError::nats("watching the channel registry", e))),
            };
            let Some(name) = entry.key.strip_prefix(CHANNEL_PREFIX) else {
                continue;
            };
            match entry.operation {
                kv::Operation::Put => {
                    if let Some(rec) = decode_record(&entry.key, &entry.value) {
                        return Some(Ok(ChannelChange::Put(rec)));
                    }
                }
                kv::Operation::Delete | kv::Operation::Purge => match ChannelName::new(name) {
                    Ok(name) => return Some(Ok(ChannelChange::Deleted(name))),
                    Err(e) => {
                        tracing::warn!(kv_key = %entry.key, "skipping deletion of a bad channel key: {e}")
                    }
                },
            }
        }
    }
}

/// The registry of channels in JetStream KV.
#[derive(Clone)]
pub struct ChannelRegistry {
    kv: kv::Store,
}

impl ChannelRegistry {
    /// Opens the bucket, creating it (file storage, history 5, replicated as
    /// a state bucket) if missing.
    pub async fn open(js: &jetstream::Context) -> Result<Self, BusError> {
        let kv = crate::open_kv_bucket(
            js,
            REGISTRY_BUCKET,
            "livefleet channels: records and stream key index",
            HISTORY,
        )
        .await
        .map_err(|e| BusError::nats(format!("cannot open the KV bucket {REGISTRY_BUCKET}"), e))?;
        Ok(Self { kv })
    }

    /// Adds a channel. Fails with [`BusError::AlreadyExists`] if the name is
    /// taken, [`BusError::StreamKeyInUse`] if another channel has the key,
    /// [`BusError::InvalidStreamKey`] if the key breaks the rules.
    pub async fn create(&self, rec: ChannelRecord) -> Result<(), BusError> {
        validate_stream_key(&rec.stream_key)?;
        let value = serde_json::to_vec(&rec).map_err(|source| BusError::Encode {
            channel: rec.name.clone(),
            source,
        })?;
        let index = index_key(&rec.stream_key);
        let name_bytes = Bytes::from(rec.name.as_str().to_owned());

        // Claim the stream key first, so two channels never share one.
        match self.kv.create(&index, name_bytes.clone()).await {
            Ok(_) => {}
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                self.take_over_stale_index(&rec, &index, name_bytes).await?;
            }
            Err(e) => {
                return Err(BusError::nats(
                    format!("cannot index the stream key of channel {}", rec.name),
                    e,
                ))
            }
        }
        match self
            .kv
            .create(channel_key(&rec.name), Bytes::from(value))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Err(undo) = self.kv.purge(&index).await {
                    tracing::warn!(channel = %rec.name, "cannot remove the stream key index after a failed create: {undo}");
                }
                if e.kind() == kv::CreateErrorKind::AlreadyExists {
                    Err(BusError::AlreadyExists(rec.name))
                } else {
                    Err(BusError::nats(
                        format!("cannot store channel {}", rec.name),
                        e,
                    ))
                }
            }
        }
    }

    /// The index entry exists: it is in use unless the channel it names is
    /// gone or has another key (left over from an interrupted create/delete).
    async fn take_over_stale_index(
        &self,
        rec: &ChannelRecord,
        index: &str,
        name: Bytes,
    ) -> Result<(), BusError> {
        let what = || format!("cannot index the stream key of channel {}", rec.name);
        let entry = self
            .kv
            .entry(index)
            .await
            .map_err(|e| BusError::nats(what(), e))?;
        let Some(entry) = entry else {
            // Deleted between the two calls: try once more.
            return match self.kv.create(index, name).await {
                Ok(_) => Ok(()),
                Err(_) => Err(BusError::StreamKeyInUse(rec.name.clone())),
            };
        };
        let owner = std::str::from_utf8(&entry.value)
            .ok()
            .and_then(|n| ChannelName::new(n).ok());
        if let Some(owner) = owner {
            if let Some(existing) = self.get(&owner).await? {
                if constant_time_eq(existing.stream_key.as_bytes(), rec.stream_key.as_bytes()) {
                    return Err(if owner == rec.name {
                        BusError::AlreadyExists(owner)
                    } else {
                        BusError::StreamKeyInUse(rec.name.clone())
                    });
                }
            }
        }
        self.kv
            .update(index, name, entry.revision)
            .await
            .map(|_| ())
            .map_err(|_| BusError::StreamKeyInUse(rec.name.clone()))
    }

    /// Gives the channel a new stream key and retires the old one: the new
    /// key is claimed first (so no other channel can take it), the record is
    /// updated only if nobody changed it meanwhile, then the old key's index
    /// goes. A publish running with the old key is ended by the ingest's
    /// next check (`publish_recheck_s`); publishers reconnect with the new key.
    pub async fn rotate_key(
        &self,
        name: &ChannelName,
        new_key: String,
    ) -> Result<ChannelRecord, BusError> {
        validate_stream_key(&new_key)?;
        let key = channel_key(name);
        let what = || format!("cannot rotate the stream key of channel {name}");
        let entry = self
            .kv
            .entry(&key)
            .await
            .map_err(|e| BusError::nats(what(), e))?
            .filter(|e| e.operation == kv::Operation::Put)
            .ok_or_else(|| BusError::NotFound(name.clone()))?;
        let old =
            decode_record(&key, &entry.value).ok_or_else(|| BusError::NotFound(name.clone()))?;
        if constant_time_eq(old.stream_key.as_bytes(), new_key.as_bytes()) {
            return Err(BusError::InvalidStreamKey(
                "the new stream key is the current one",
            ));
        }
        let rec = ChannelRecord {
            stream_key: new_key,
            ..old.clone()
        };
        let index = index_key(&rec.stream_key);
        let name_bytes = Bytes::from(name.as_str().to_owned());
        match self.kv.create(&index, name_bytes.clone()).await {
            Ok(_) => {}
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                self.take_over_stale_index(&rec, &index, name_bytes).await?;
            }
            Err(e) => return Err(BusError::nats(what(), e)),
        }
        let value = serde_json::to_vec(&rec).map_err(|source| BusError::Encode {
            channel: name.clone(),
            source,
        })?;
        if let Err(e) = self
            .kv
            .update(&key, Bytes::from(value), entry.revision)
            .await
        {
            if let Err(undo) = self.kv.purge(&index).await {
                tracing::warn!(channel = %name, "cannot remove the new stream key's index after a failed rotation: {undo}");
            }
            tracing::warn!(channel = %name, error = %e, "stream key rotation lost a race");
            return Err(BusError::Changed(name.clone()));
        }
        let old_index = index_key(&old.stream_key);
        let owner = self
            .kv
            .get(&old_index)
            .await
            .map_err(|e| BusError::nats(what(), e))?;
        if owner.as_deref() == Some(name.as_str().as_bytes()) {
            self.kv
                .purge(&old_index)
                .await
                .map_err(|e| BusError::nats(what(), e))?;
        }
        Ok(rec)
    }

    /// The channel's record, `None` if there is none (or it is unreadable).
    pub async fn get(&self, name: &ChannelName) -> Result<Option<ChannelRecord>, BusError> {
        let key = channel_key(name);
        let value = self
            .kv
            .get(&key)
            .await
            .map_err(|e| BusError::nats(format!("cannot read channel {name}"), e))?;
        Ok(value.and_then(|v| decode_record(&key, &v)))
    }

    /// Every readable channel record, ordered by name.
    pub async fn list(&self) -> Result<Vec<ChannelRecord>, BusError> {
        let what = "cannot list the channel registry";
        let mut keys = self.kv.keys().await.map_err(|e| BusError::nats(what, e))?;
        let mut names = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| BusError::nats(what, e))?;
            if let Some(name) = key.strip_prefix(CHANNEL_PREFIX) {
                match ChannelName::new(name) {
                    Ok(name) => names.push(name),
                    Err(e) => tracing::warn!(kv_key = key, "skipping a bad channel key: {e}"),
                }
            }
        }
        names.sort();
        let mut records = Vec::with_capacity(names.len());
        for name in names {
            if let Some(rec) = self.get(&name).await? {
                records.push(rec);
            }
        }
        Ok(records)
    }

    /// Removes a channel and its stream key; `false` if it did not exist.
    /// Purged rather than deleted, so the old stream key does not stay in
    /// the bucket's history.
    pub async fn delete(&self, name: &ChannelName) -> Result<bool, BusError> {
        let key = channel_key(name);
        let what = || format!("cannot delete channel {name}");
        let Some(value) = self
            .kv
            .get(&key)
            .await
            .map_err(|e| BusError::nats(what(), e))?
        else {
            return Ok(false);
        };
        self.kv
            .purge(&key)
            .await
            .map_err(|e| BusError::nats(what(), e))?;
        if let Some(rec) = decode_record(&key, &value) {
            let index = index_key(&rec.stream_key);
            let owner = self
                .kv
                .get(&index)
                .await
                .map_err(|e| BusError::nats(what(), e))?;
            if owner.as_deref() == Some(name.as_str().as_bytes()) {
                self.kv
                    .purge(&index)
                    .await
                    .map_err(|e| BusError::nats(what(), e))?;
            }
        }
        Ok(true)
    }

    /// The channel whose stream key is `stream_key`, if any. Malformed keys
    /// are answered `None` without a lookup.
    pub async fn find_by_key(&self, stream_key: &str) -> Result<Option<ChannelRecord>, BusError> {
        if validate_stream_key(stream_key).is_err() {
            return Ok(None);
        }
        let what = "cannot look up a stream key";
        let Some(owner) = self
            .kv
            .get(index_key(stream_key))
            .await
            .map_err(|e| BusError::nats(what, e))?
        else {
            return Ok(None);
        };
        let Some(name) = std::str::from_utf8(&owner)
            .ok()
            .and_then(|n| ChannelName::new(n).ok())
        else {
            tracing::warn!("skipping a stream key index entry that names no valid channel");
            return Ok(None);
        };
        let rec = self.get(&name).await?;
        Ok(rec.filter(|rec| constant_time_eq(rec.stream_key.as_bytes(), stream_key.as_bytes())))
    }

    /// Changes from now on: records put and channels deleted.
    pub async fn watch(&self) -> Result<ChannelWatch, BusError> {
        let watch = self
            .kv
            .watch(format!("{CHANNEL_PREFIX}>"))
            .await
            .map_err(|e| BusError::nats("cannot watch the channel registry", e))?;
        Ok(ChannelWatch { watch })
    }

    /// Like [`watch`](Self::watch), but first a `Put` for every existing
    /// channel, so a process starting up sees the whole registry and then
    /// its changes without a gap.
    pub async fn watch_with_current(&self) -> Result<ChannelWatch, BusError> {
        let watch = self
            .kv
            .watch_with_history(format!("{CHANNEL_PREFIX}>"))
            .await
            .map_err(|e| BusError::nats("cannot watch the channel registry", e))?;
        Ok(ChannelWatch { watch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_stream_key() {
        let rec = ChannelRecord {
            name: ChannelName::new("demo").unwrap(),
            stream_key: "supersecretkey".into(),
            profile_yaml: "name: x".into(),
            profile_name: "x".into(),
            created_unix_ms: 1,
        };
        assert!(!format!("{rec:?}").contains("supersecret"));
    }
}
