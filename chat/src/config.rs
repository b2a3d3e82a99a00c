//! The relay's configuration (YAML, `livefleet chat --config FILE`). Every
//! limit has a default; `docs/config/chat.yaml` shows them all.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// How fast one connection may send messages: a token bucket of `messages`
/// refilled over `per_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub messages: u32,
    pub per_s: f64,
}

impl Default for RateLimit {
    /// 3 messages per 2 s.
    fn default() -> Self {
        Self {
            messages: 3,
            per_s: 2.0,
        }
    }
}

/// What one channel changes from the defaults.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRules {
    /// This channel's rate limit.
    pub rate: Option<RateLimit>,
    /// Slow mode: at most one message per user every this many seconds.
    pub slow_mode_s: Option<f64>,
}

/// The relay's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// HS256 secret of the tokens (at least 32 bytes); `LIVEFLEET_CHAT_SECRET` overrides it.
    pub secret: Option<String>,
    /// Connections without a token may read (subscribe, history); sending always needs one.
    pub anonymous_read: bool,
    /// Messages a channel's history keeps.
    pub history_size: i64,
    /// How long the history keeps a message.
    pub history_ttl_s: u64,
    /// Longest message text, in characters.
    pub max_message_chars: usize,
    /// Largest WebSocket frame or message a client may send, in bytes.
    pub max_frame_bytes: usize,
    /// WebSocket connections served at once.
    pub max_connections: usize,
    /// Channels one connection may subscribe to.
    pub max_subscriptions: usize,
    /// Pushes waiting for one connection; a client that lets more pile up is
    /// disconnected as slow (code 3008).
    pub queue_messages: usize,
    /// Every connection's send rate.
    pub rate: RateLimit,
    /// Per-channel rules, by channel name.
    pub channels: BTreeMap<String, ChannelRules>,
    /// Server ping interval; a client that does not answer within
    /// `pong_timeout_s` after it is disconnected (code 3012).
    pub ping_interval_s: u64,
    pub pong_timeout_s: u64,
    /// A segment's chat file is written when this many later segments have
    /// closed (the late-message rule, see docs/chat.md).
    pub archive_lag_segments: u64,
    /// How often the viewer count goes to subscribers.
    pub viewers_interval_s: u64,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            secret: None,
            anonymous_read: true,
            history_size: 1000,
            history_ttl_s: 86_400,
            max_message_chars: 500,
            max_frame_bytes: 64 * 1024,
            max_connections: 20_000,
            max_subscriptions: 16,
            queue_messages: 1024,
            rate: RateLimit::default(),
            channels: BTreeMap::new(),
            ping_interval_s: 25,
            pong_timeout_s: 10,
            archive_lag_segments: 3,
            viewers_interval_s: 5,
        }
    }
}

impl ChatConfig {
    /// The rate limit and slow mode of `channel`.
    pub fn rules(&self, channel: &str) -> (RateLimit, Option<Duration>) {
        let rules = self.channels.get(channel);
        let rate = rules.and_then(|r| r.rate).unwrap_or(self.rate);
        let slow = rules
            .and_then(|r| r.slow_mode_s)
            .filter(|s| *s > 0.0)
            .map(|s| Duration::from_secs_f64(s.min(86_400.0)));
        (rate, slow)
    }

    /// Checks the values a relay cannot run with.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        if self.history_size < 1 {
            errors.push("history_size must be at least 1".to_owned());
        }
        if self.max_frame_bytes < 1024 {
            errors.push("max_frame_bytes must be at least 1024".to_owned());
        }
        if self.queue_messages < 16 {
            errors.push("queue_messages must be at least 16".to_owned());
        }
        if self.ping_interval_s == 0 {
            errors.push("ping_interval_s must be at least 1".to_owned());
        }
        for (name, rate) in std::iter::once(("rate", &self.rate)).chain(
            self.channels
                .iter()
                .filter_map(|(n, r)| r.rate.as_ref().map(|r| (n.as_str(), r))),
        ) {
            if rate.messages == 0 || !(rate.per_s > 0.0 && rate.per_s.is_finite()) {
                errors.push(format!("{name}: a rate needs messages >= 1 and per_s > 0"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}
