//! Worker heartbeats: what each worker tells the scheduler every second.
//!
//! A worker publishes a [`Heartbeat`] as JSON on
//! `livefleet.fleet.heartbeat.<worker id>` ([`heartbeat_subject`]). The
//! scheduler reads them with [`Heartbeat::decode`], which treats the bytes as
//! untrusted: oversized, malformed or out-of-range heartbeats are refused
//! with a message naming the field, never with a panic.

use std::collections::HashSet;
use std::fmt;

use livefleet_base::ChannelName;
use serde::{Deserialize, Serialize};

use crate::FleetError;

/// Subject prefix of heartbeats; the worker id is the last token.
pub const HEARTBEAT_SUBJECT_PREFIX: &str = "livefleet.fleet.heartbeat";
/// Subject filter the scheduler subscribes to.
pub const HEARTBEAT_SUBJECT_FILTER: &str = "livefleet.fleet.heartbeat.*";
/// Largest heartbeat accepted, in bytes. A worker with a thousand channels
/// sends well under 200 KB.
pub const MAX_HEARTBEAT_BYTES: usize = 256 * 1024;
/// Most channels one heartbeat may list.
pub const MAX_CHANNELS_PER_WORKER: usize = 4096;
/// Largest pixel rate (pixels/second) a heartbeat may state for one channel
/// or one encoder kind: 10^13 is a thousand 8K60 ladders, far above any node,
/// and small enough that sums never overflow.
pub const MAX_PIXEL_RATE: u64 = 10_000_000_000_000;
/// Largest NVENC session limit or use a heartbeat may state.
pub const MAX_NVENC_SESSIONS: u32 = 4096;
const MAX_WORKER_ID: usize = 64;
const MAX_GPU_MODEL: usize = 128;
const MAX_CPU_COUNT: u32 = 65_536;
const MAX_LOAD_AVERAGE: f64 = 1_000_000.0;

/// The subject a worker publishes its heartbeats on.
pub fn heartbeat_subject(worker: &WorkerId) -> String {
    format!("{HEARTBEAT_SUBJECT_PREFIX}.{worker}")
}

/// A worker's identity: 1 to 64 characters of `[a-z0-9_-]`, starting with a
/// letter or a digit, so it is safe as a NATS subject token and a KV value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkerId(String);

impl WorkerId {
    /// Checks `id` and wraps it.
    pub fn new(id: impl Into<String>) -> Result<WorkerId, FleetError> {
        let id = id.into();
        let why = if id.is_empty() {
            Some("it is empty")
        } else if id.len() > MAX_WORKER_ID {
            Some("it is longer than 64 characters")
        } else if !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            Some("use only lower-case letters, digits, '-' and '_'")
        } else if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            Some("it must start with a letter or a digit")
        } else {
            None
        };
        match why {
            Some(why) => Err(FleetError::InvalidWorkerId {
                id: id.chars().take(80).collect(),
                why,
            }),
            None => Ok(WorkerId(id)),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for WorkerId {
    type Error = FleetError;
    fn try_from(s: String) -> Result<Self, FleetError> {
        WorkerId::new(s)
    }
}

impl From<WorkerId> for String {
    fn from(id: WorkerId) -> String {
        id.0
    }
}

impl std::str::FromStr for WorkerId {
    type Err = FleetError;
    fn from_str(s: &str) -> Result<Self, FleetError> {
        WorkerId::new(s)
    }
}

/// A kind of video encoder a node offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// NVIDIA's hardware encoder; each encoded rendition is one session.
    Nvenc,
    /// libx264 on the CPU.
    X264,
}

impl EncoderKind {
    /// The word used on the wire and in logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            EncoderKind::Nvenc => "nvenc",
            EncoderKind::X264 => "x264",
        }
    }
}

impl fmt::Display for EncoderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a node takes new channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Takes new channels.
    #[default]
    Ready,
    /// Finishing its channels; the scheduler places nothing new on it.
    Draining,
}

/// One channel a worker runs, with what it costs there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningChannel {
    /// The channel.
    pub name: ChannelName,
    /// The assignment epoch the worker runs it under.
    pub epoch: u64,
    /// The encoder it runs on.
    pub kind: EncoderKind,
    /// NVENC sessions it holds (0 on x264).
    pub sessions: u32,
    /// Encoded pixels per second.
    pub pixel_rate: u64,
}

/// The GPU's engines as NVML last sampled them, for every process on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GpuLoad {
    /// NVENC engine utilisation, 0 to 1.
    pub encoder_utilization: f64,
    /// NVDEC engine utilisation, 0 to 1.
    pub decoder_utilization: f64,
    /// NVENC sessions open on the GPU, by every process.
    pub encoder_sessions: u32,
}

/// What a worker reports about itself, every second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Who sends it; must match the last token of the subject.
    pub worker: WorkerId,
    /// Encoders the node can run (at least one).
    pub encoders: Vec<EncoderKind>,
    /// GPU model as NVML names it, `None` on a node without a GPU.
    #[serde(default)]
    pub gpu_model: Option<String>,
    /// What NVML last measured on the GPU (every process on it, not only
    /// this worker); `None` without a GPU.
    #[serde(default)]
    pub gpu_load: Option<GpuLoad>,
    /// Concurrent NVENC sessions the GPU allows (consumer cards: 8 per
    /// system, older drivers 3 or 5); `None` when there is no cap.
    #[serde(default)]
    pub nvenc_session_limit: Option<u32>,
    /// NVENC sessions open on the node now (all processes, as NVML counts them).
    #[serde(default)]
    pub nvenc_sessions_in_use: u32,
    /// Pixels per second the node's NVENC can encode in real time (0 without NVENC).
    #[serde(default)]
    pub capacity_nvenc_pps: u64,
    /// Pixels per second libx264 can encode in real time on this node (0 without x264).
    #[serde(default)]
    pub capacity_cpu_pps: u64,
    /// Logical CPUs.
    pub cpu_count: u32,
    /// One-minute load average.
    pub load_average: f64,
    /// Channels the worker runs now.
    #[serde(default)]
    pub channels: Vec<RunningChannel>,
    /// Ready for new channels or draining.
    #[serde(default)]
    pub state: NodeState,
    /// When the worker sent it, Unix time in milliseconds.
    pub sent_unix_ms: i64,
    /// Counts up by one per heartbeat from the worker's start.
    pub sequence: u64,
}

impl Heartbeat {
    /// Reads a heartbeat from the network, refusing anything malformed,
    /// oversized or out of range with a message naming the problem.
    pub fn decode(bytes: &[u8]) -> Result<Heartbeat, FleetError> {
        if bytes.len() > MAX_HEARTBEAT_BYTES {
            return Err(FleetError::BadHeartbeat(format!(
                "{} bytes, more than the {MAX_HEARTBEAT_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let hb: Heartbeat = serde_json::from_slice(bytes)
            .map_err(|e| FleetError::BadHeartbeat(format!("not a heartbeat: {e}")))?;
        hb.check()?;
        Ok(hb)
    }

    /// The heartbeat as JSON.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Checks every range rule [`decode`](Self::decode) applies.
    pub fn check(&self) -> Result<(), FleetError> {
        let bad = |msg: String| {
            Err(FleetError::BadHeartbeat(format!(
                "worker {}: {msg}",
                self.worker
            )))
        };
        if self.encoders.is_empty() {
            return bad("`encoders` is empty; a worker offers nvenc, x264 or both".into());
        }
        if self.encoders.len() > 2
            || (self.encoders.len() == 2 && self.encoders[0] == self.encoders[1])
        {
            return bad("`encoders` lists an encoder twice".into());
        }
        if let Some(model) = &self.gpu_model {
            if model.len() > MAX_GPU_MODEL || model.chars().any(char::is_control) {
                return bad(format!(
                    "`gpu_model` must be printable text of at most {MAX_GPU_MODEL} bytes"
                ));
            }
        }
        if let Some(g) = &self.gpu_load {
            for (field, v) in [
                ("encoder_utilization", g.encoder_utilization),
                ("decoder_utilization", g.decoder_utilization),
            ] {
                if !(0.0..=1.0).contains(&v) {
                    return bad(format!("`gpu_load.{field}` {v} is not a ratio in 0..=1"));
                }
            }
            if g.encoder_sessions > MAX_NVENC_SESSIONS {
                return bad(format!(
                    "`gpu_load.encoder_sessions` is above {MAX_NVENC_SESSIONS}"
                ));
            }
        }
        let has = |k| self.encoders.contains(&k);
        if has(EncoderKind::Nvenc) && self.capacity_nvenc_pps == 0 {
            return bad("lists nvenc but `capacity_nvenc_pps` is 0".into());
        }
        if has(EncoderKind::X264) && self.capacity_cpu_pps == 0 {
            return bad("lists x264 but `capacity_cpu_pps` is 0".into());
        }
        for (field, v) in [
            ("capacity_nvenc_pps", self.capacity_nvenc_pps),
            ("capacity_cpu_pps", self.capacity_cpu_pps),
        ] {
            if v > MAX_PIXEL_RATE {
                return bad(format!("`{field}` {v} is above {MAX_PIXEL_RATE}"));
            }
        }
        if self.nvenc_session_limit.unwrap_or(0) > MAX_NVENC_SESSIONS
            || self.nvenc_sessions_in_use > MAX_NVENC_SESSIONS
        {
            return bad(format!(
                "NVENC session figures are above {MAX_NVENC_SESSIONS}"
            ));
        }
        if self.nvenc_session_limit == Some(0) && has(EncoderKind::Nvenc) {
            return bad("lists nvenc with `nvenc_session_limit` 0; leave it out for no cap".into());
        }
        if self.cpu_count == 0 || self.cpu_count > MAX_CPU_COUNT {
            return bad(format!(
                "`cpu_count` {} is outside 1..={MAX_CPU_COUNT}",
                self.cpu_count
            ));
        }
        if !self.load_average.is_finite()
            || self.load_average < 0.0
            || self.load_average > MAX_LOAD_AVERAGE
        {
            return bad(format!(
                "`load_average` {} is not a number in 0..={MAX_LOAD_AVERAGE}",
                self.load_average
            ));
        }
        if self.sent_unix_ms < 0 {
            return bad("`sent_unix_ms` is negative".into());
        }
        if self.channels.len() > MAX_CHANNELS_PER_WORKER {
            return bad(format!(
                "{} channels listed, more than {MAX_CHANNELS_PER_WORKER}",
                self.channels.len()
            ));
        }
        let mut seen = HashSet::with_capacity(self.channels.len());
        for c in &self.channels {
            if !seen.insert(&c.name) {
                return bad(format!("channel {} is listed twice", c.name));
            }
            if c.epoch == 0 {
                return bad(format!("channel {} has epoch 0; epochs start at 1", c.name));
            }
            if c.pixel_rate > MAX_PIXEL_RATE || c.sessions > MAX_NVENC_SESSIONS {
                return bad(format!("channel {} states an impossible cost", c.name));
            }
            if c.kind == EncoderKind::X264 && c.sessions != 0 {
                return bad(format!(
                    "channel {} runs on x264 but holds {} NVENC sessions",
                    c.name, c.sessions
                ));
            }
        }
        Ok(())
    }

    /// Pixels/second and NVENC sessions the listed channels use, per kind:
    /// `(nvenc_pps, nvenc_sessions, cpu_pps)`.
    pub fn channel_load(&self) -> (u64, u32, u64) {
        self.channels
            .iter()
            .fold((0u64, 0u32, 0u64), |(np, ns, cp), c| match c.kind {
                EncoderKind::Nvenc => (
                    np.saturating_add(c.pixel_rate),
                    ns.saturating_add(c.sessions),
                    cp,
                ),
                EncoderKind::X264 => (np, ns, cp.saturating_add(c.pixel_rate)),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Heartbeat {
        Heartbeat {
            worker: WorkerId::new("gpu-a").unwrap(),
            encoders: vec![EncoderKind::Nvenc, EncoderKind::X264],
            gpu_model: Some("NVIDIA GeForce RTX 3060".into()),
            gpu_load: Some(GpuLoad {
                encoder_utilization: 0.4,
                decoder_utilization: 0.25,
                encoder_sessions: 4,
            }),
            nvenc_session_limit: Some(8),
            nvenc_sessions_in_use: 4,
            capacity_nvenc_pps: 500_000_000,
            capacity_cpu_pps: 60_000_000,
            cpu_count: 16,
            load_average: 2.5,
            channels: vec![RunningChannel {
                name: ChannelName::new("demo").unwrap(),
                epoch: 3,
                kind: EncoderKind::Nvenc,
                sessions: 4,
                pixel_rate: 124_416_000,
            }],
            state: NodeState::Ready,
            sent_unix_ms: 1_700_000_000_000,
            sequence: 42,
        }
    }

    #[test]
    fn round_trips() {
        let hb = sample();
        assert_eq!(Heartbeat::decode(&hb.encode()).unwrap(), hb);
        assert_eq!(hb.channel_load(), (124_416_000, 4, 0));
        assert_eq!(
            heartbeat_subject(&hb.worker),
            "livefleet.fleet.heartbeat.gpu-a"
        );
    }

    fn refused(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v = serde_json::to_value(sample()).unwrap();
        edit(&mut v);
        let bytes = serde_json::to_vec(&v).unwrap();
        Heartbeat::decode(&bytes).unwrap_err().to_string()
    }

    #[test]
    fn refuses_bad_input_with_reasons() {
        assert!(Heartbeat::decode(b"")
            .unwrap_err()
            .to_string()
            .contains("not a heartbeat"));
        assert!(Heartbeat::decode(b"{\"worker\":1}").is_err());
        assert!(Heartbeat::decode(&vec![b' '; MAX_HEARTBEAT_BYTES + 1])
            .unwrap_err()
            .to_string()
            .contains("limit"));
        assert!(refused(|v| v["worker"] = "Bad/Id".into()).contains("lower-case"));
        assert!(refused(|v| v["worker"] = "x".repeat(65).into()).contains("64"));
        assert!(refused(|v| v["encoders"] = serde_json::json!([])).contains("empty"));
        assert!(refused(|v| v["gpu_load"]["decoder_utilization"] = 1.5.into()).contains("0..=1"));
        assert!(
            refused(|v| v["gpu_load"]["encoder_sessions"] = 100_000.into())
                .contains("encoder_sessions")
        );
        assert!(refused(|v| v["encoders"] = serde_json::json!(["x264", "x264"])).contains("twice"));
        assert!(refused(|v| v["encoders"] = serde_json::json!(["vp9"])).contains("unknown variant"));
        assert!(refused(|v| v["capacity_nvenc_pps"] = 0.into()).contains("capacity_nvenc_pps"));
        assert!(refused(|v| v["capacity_cpu_pps"] = u64::MAX.into()).contains("above"));
        assert!(refused(|v| v["capacity_cpu_pps"] = (-1).into()).contains("not a heartbeat"));
        assert!(refused(|v| v["cpu_count"] = 0.into()).contains("cpu_count"));
        assert!(refused(|v| v["load_average"] = (-1.0).into()).contains("load_average"));
        assert!(refused(|v| v["nvenc_session_limit"] = 0.into()).contains("no cap"));
        assert!(refused(|v| v["gpu_model"] = "a\u{7}b".into()).contains("printable"));
        assert!(refused(|v| v["sent_unix_ms"] = (-5).into()).contains("negative"));
        assert!(refused(|v| v["channels"][0]["epoch"] = 0.into()).contains("epoch 0"));
        assert!(refused(|v| v["channels"][0]["name"] = "../x".into()).contains("not a heartbeat"));
        assert!(refused(|v| {
            let c = v["channels"][0].clone();
            v["channels"] = serde_json::json!([c.clone(), c]);
        })
        .contains("twice"));
        assert!(refused(|v| {
            v["channels"][0]["kind"] = "x264".into();
        })
        .contains("NVENC sessions"));
    }

    #[test]
    fn unknown_fields_are_ignored_for_rolling_upgrades() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["future_field"] = 1.into();
        Heartbeat::decode(&serde_json::to_vec(&v).unwrap()).unwrap();
    }

    #[test]
    fn never_panics_on_truncations() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            let _ = Heartbeat::decode(&bytes[..n]);
        }
    }
}
