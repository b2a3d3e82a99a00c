//! Where a channel's broadcast starts when no usable record says where the
//! last one left off: the channel's record in the state bucket was lost (a
//! bus whose JetStream storage was wiped), deleted by hand, or could not be
//! used. The broadcast then starts above every segment number and file
//! generation the store holds for the channel, live and archived, so no
//! object key is written a second time: S3 would keep the old object
//! (`If-None-Match: *`) under the new playlists, and a CDN would serve its
//! cached copy (segments are cached as immutable).
//!
//! A store that cannot be listed gives a floor from the clock instead:
//! segment numbers from tenths of a second since the Unix epoch and the file
//! generation from seconds. A channel's segments last a second or more
//! (the profile's least segment duration), so no channel has ever written a
//! number that high; the numbers are large, but nothing is overwritten.

use std::time::Duration;

use livefleet_base::{chat_replay_number, ChannelName};
use livefleet_packager::{file_generation, segment_number, PackagerState};
use livefleet_storage::Storage;

/// The longest the listings may take before the clock's floor is used.
const LIST_WITHIN: Duration = Duration::from_secs(20);

/// Where the broadcasts of a channel are stored: live, and archived under
/// `vod/<channel>/<broadcast>/`.
fn prefixes(channel: &ChannelName) -> [String; 2] {
    [format!("live/{channel}/"), format!("vod/{channel}/")]
}

/// The lowest segment number and the lowest file generation no stored
/// object of the channel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Floor {
    pub next_number: u64,
    pub free_generation: u32,
}

impl Floor {
    /// Takes in one object's path below the channel's prefix.
    fn take(&mut self, path: &str) {
        if let Some(n) = segment_number(path).or_else(|| chat_replay_number(path)) {
            self.next_number = self.next_number.max(n.saturating_add(1));
        }
        if let Some(g) = file_generation(path) {
            self.free_generation = self.free_generation.max(g.saturating_add(1));
        }
    }

    /// Above every object a listing of the channel's prefixes returned
    /// (full keys: `live/<channel>/<path>`, `vod/<channel>/<broadcast>/<path>`).
    pub fn of_keys<'a>(channel: &ChannelName, keys: impl IntoIterator<Item = &'a str>) -> Self {
        let [live, vod] = prefixes(channel);
        let mut floor = Self::default();
        for key in keys {
            let path = key.strip_prefix(live.as_str()).or_else(|| {
                key.strip_prefix(vod.as_str())
                    .and_then(|rest| rest.split_once('/').map(|(_, path)| path))
            });
            if let Some(path) = path {
                floor.take(path);
            }
        }
        floor
    }

    /// Above anything a channel can have written by `unix_ms`.
    pub fn of_clock(unix_ms: i64) -> Self {
        let unix_ms = unix_ms.max(0) as u64;
        Self {
            next_number: unix_ms / 100,
            free_generation: u32::try_from(unix_ms / 1000).unwrap_or(u32::MAX - 1),
        }
    }

    /// Whether the channel has stored nothing (a new channel).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The state a new broadcast above the floor starts from.
    pub fn state(&self) -> PackagerState {
        // A generation past the last one a state can carry reuses the last.
        PackagerState::above(self.next_number, self.free_generation.min(u32::MAX - 1))
    }
}

/// Where a channel start's segment numbering came from (the label of
/// `livefleet_worker_broadcast_numbering_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Numbering {
    /// The channel's broadcast record: the last broadcast continued.
    Record,
    /// No record and nothing stored: a new channel, from 0.
    Zero,
    /// No usable record: above the segments the store holds.
    Store,
    /// No record and a store that could not be listed: from the clock.
    Clock,
}

impl Numbering {
    pub const ALL: [Self; 4] = [Self::Record, Self::Zero, Self::Store, Self::Clock];

    pub fn label(self) -> &'static str {
        match self {
            Self::Record => "record",
            Self::Zero => "zero",
            Self::Store => "store",
            Self::Clock => "clock",
        }
    }
}

/// Where a channel with no usable broadcast record starts, and where that
/// came from: `None` for a channel that has stored nothing (numbering from
/// 0, as a new channel), else above what it stored (logged, with what was
/// found).
pub(crate) async fn start_above_stored(
    storage: &dyn Storage,
    channel: &ChannelName,
) -> (Option<PackagerState>, Numbering) {
    let listed = tokio::time::timeout(LIST_WITHIN, async {
        let mut keys = Vec::new();
        for prefix in prefixes(channel) {
            keys.extend(storage.list(&prefix).await?);
        }
        Ok::<_, livefleet_storage::StorageError>(keys)
    })
    .await;
    let (floor, from) = match listed {
        Ok(Ok(keys)) => {
            let floor = Floor::of_keys(channel, keys.iter().map(String::as_str));
            if floor.is_empty() {
                return (None, Numbering::Zero);
            }
            tracing::warn!(
                %channel,
                next_segment = floor.next_number,
                generation = floor.free_generation,
                "no broadcast record, but the store holds the channel's earlier segments; numbering above them (the earlier broadcast's playlists are not continued)"
            );
            (floor, Numbering::Store)
        }
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {LIST_WITHIN:?}"),
            };
            let floor = Floor::of_clock(livefleet_base::now_unix_ms());
            tracing::warn!(
                %channel,
                error = %why,
                next_segment = floor.next_number,
                generation = floor.free_generation,
                "no broadcast record and the store cannot be listed; numbering from the clock so no earlier segment is overwritten"
            );
            (floor, Numbering::Clock)
        }
    };
    (Some(floor.state()), from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> ChannelName {
        ChannelName::new("news").unwrap()
    }

    #[test]
    fn the_floor_is_above_every_live_and_archived_file() {
        let keys = [
            "live/news/master.m3u8",
            "live/news/720p/init.mp4",
            "live/news/720p/init-2-1.mp4",
            "live/news/720p/40.m4s",
            "live/news/720p/41-g2.m4s",
            "live/news/chat/43.json",
            "vod/news/20261201T233000Z-0/720p/init-4.mp4",
            "vod/news/20261201T233000Z-0/720p/17-g4.m4s",
            // Other channels and stray objects do not count.
            "live/newsroom/720p/900.m4s",
            "live/news2/720p/init-9.mp4",
            "vod/news/stray.m4s",
            "live/news/720p/notes.txt",
        ];
        let floor = Floor::of_keys(&channel(), keys);
        assert_eq!(
            floor,
            Floor {
                next_number: 44,
                free_generation: 5
            }
        );
        let state = floor.state();
        assert_eq!((state.next_number, state.init_generation), (44, 5));
        state.check().unwrap();
    }

    #[test]
    fn a_new_channel_has_no_floor() {
        let floor = Floor::of_keys(&channel(), ["live/newsroom/720p/3.m4s"]);
        assert!(floor.is_empty());
        // Only an init segment stored (a broadcast that wrote nothing more).
        let floor = Floor::of_keys(&channel(), ["live/news/720p/init.mp4"]);
        assert_eq!(floor.free_generation, 1);
        assert!(!floor.is_empty());
    }

    #[test]
    fn extreme_names_give_a_usable_state() {
        let floor = Floor::of_keys(
            &channel(),
            [
                "live/news/720p/18446744073709551615.m4s",
                "live/news/720p/init-4294967295.mp4",
            ],
        );
        floor.state().check().unwrap();
    }

    #[test]
    fn the_clock_floor_is_above_a_channel_that_ran_since_the_epoch() {
        let now = 1_796_000_000_000; // December 2026
        let floor = Floor::of_clock(now);
        // Ten segments a second for 56 years is past any real channel.
        assert_eq!(floor.next_number, 17_960_000_000);
        assert_eq!(floor.free_generation, 1_796_000_000);
        floor.state().check().unwrap();
        assert_eq!(Floor::of_clock(-5), Floor::default());
    }
}
