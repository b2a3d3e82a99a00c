//! The worker's Prometheus metrics, all prefixed `livefleet_worker_`.
//!
//! Labels are bounded: `rendition` comes from the ladder profiles, `encoder`
//! is `x264` or `nvenc`, and `channel` appears only on per-channel series,
//! which a worker holds for the channels it runs (its capacity bounds them)
//! and removes when a channel ends. Histograms carry no channel label.
//! Object uploads are counted by the storage writer (`livefleet_storage_*`).

use std::sync::{Arc, Mutex};

use prometheus::{
    exponential_buckets, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

use crate::nvml::GpuInfo;
use crate::video_path::VideoPath;

mod channel;
mod speed;

use channel::MeterInner;
pub use channel::{ChannelMeter, RenditionMeter};
pub use speed::SpeedWindow;

/// Why a frame or sample was dropped (`frames_dropped_total{reason}`).
#[derive(Debug, Clone, Copy)]
pub enum DropReason {
    /// A video packet the decoder refused.
    Corrupt,
    /// A frame whose timestamp did not advance.
    OutOfOrder,
    /// A sample the packager refused.
    Packager,
}

impl DropReason {
    pub(crate) const ALL: [DropReason; 3] = [Self::Corrupt, Self::OutOfOrder, Self::Packager];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Corrupt => "corrupt",
            Self::OutOfOrder => "out_of_order",
            Self::Packager => "packager",
        }
    }
}

/// Worker metrics, registered once per process; cheap to clone.
#[derive(Clone)]
pub struct WorkerMetrics {
    pub channels: IntGauge,
    pub sessions: IntCounterVec,
    /// Channels whose pipeline stopped with an error, by kind.
    pub failures: IntCounterVec,
    publishing: IntGaugeVec,
    frames_decoded: IntCounterVec,
    frames_copied: IntCounterVec,
    frames_held: IntCounterVec,
    frames_encoded: IntCounterVec,
    frames_dropped: IntCounterVec,
    encode_speed: GaugeVec,
    queue_depth: IntGaugeVec,
    segments: IntCounterVec,
    segment_seconds: HistogramVec,
    segment_bytes: HistogramVec,
    keyframe_misses: IntCounterVec,
    /// NVENC encoders this worker has open.
    pub nvenc_sessions: IntGauge,
    nvenc_session_limit: IntGauge,
    gpus: IntGauge,
    gpu_encoder_sessions: IntGauge,
    gpu_encoder_utilization: Gauge,
    gpu_decoder_utilization: Gauge,
    video_sessions: IntCounterVec,
    video_path_fallbacks: IntCounterVec,
    /// Channel starts by where their numbering came from (`numbering_floor.rs`).
    pub numbering: IntCounterVec,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    IntCounterVec::new(Opts::new(name, help), labels)
}

impl WorkerMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            channels: IntGauge::new("livefleet_worker_channels", "Channels this worker runs")?,
            sessions: counter(
                "livefleet_worker_channel_starts_total",
                "Channels started, by outcome",
                &["result"],
            )?,
            failures: counter(
                "livefleet_worker_channel_failures_total",
                "Channels whose pipeline stopped with an error, by kind (panic, fenced, error)",
                &["kind"],
            )?,
            publishing: IntGaugeVec::new(
                Opts::new(
                    "livefleet_worker_publishing",
                    "1 while a publish session of the channel runs on this worker, 0 while it waits for one",
                ),
                &["channel"],
            )?,
            frames_decoded: counter(
                "livefleet_worker_frames_decoded_total",
                "Video frames decoded (once per channel, for every rendition)",
                &["channel"],
            )?,
            frames_copied: counter(
                "livefleet_worker_frames_copied_total",
                "Video frames copied unchanged by the passthrough rendition (a ladder that only copies decodes keyframes alone)",
                &["channel"],
            )?,
            frames_held: counter(
                "livefleet_worker_frames_held_total",
                "Video frames made by holding the last picture while the audio went on without video (a stalled camera, audio that runs past the video's end)",
                &["channel"],
            )?,
            frames_encoded: counter(
                "livefleet_worker_frames_encoded_total",
                "Video frames encoded, by rendition and encoder",
                &["channel", "rendition", "encoder"],
            )?,
            frames_dropped: counter(
                "livefleet_worker_frames_dropped_total",
                "Frames or samples dropped: corrupt (undecodable packet), out_of_order (timestamp did not advance), packager (sample refused)",
                &["channel", "reason"],
            )?,
            encode_speed: GaugeVec::new(
                Opts::new(
                    "livefleet_worker_encode_speed_ratio",
                    "Media seconds encoded per second spent scaling and encoding, over the last window; below 1 the rendition cannot keep up with real time",
                ),
                &["channel", "rendition"],
            )?,
            queue_depth: IntGaugeVec::new(
                Opts::new(
                    "livefleet_worker_queue_depth",
                    "Messages waiting in a stage's input queue: a rendition's encoder, audio, or package",
                ),
                &["channel", "queue"],
            )?,
            segments: counter(
                "livefleet_worker_segments_total",
                "Media segments closed, by rendition (audio tracks included)",
                &["channel", "rendition"],
            )?,
            segment_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "livefleet_worker_segment_duration_seconds",
                    "Duration of the media segments closed, by rendition",
                )
                .buckets(vec![0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0]),
                &["rendition"],
            )?,
            segment_bytes: HistogramVec::new(
                HistogramOpts::new(
                    "livefleet_worker_segment_size_bytes",
                    "Size of the media segments closed, by rendition",
                )
                .buckets(exponential_buckets(16_384.0, 2.0, 11)?),
                &["rendition"],
            )?,
            keyframe_misses: counter(
                "livefleet_worker_keyframe_misses_total",
                "Segment boundaries where the encoder did not put the forced keyframe (the segment starts at its next one)",
                &["channel", "rendition"],
            )?,
            nvenc_sessions: IntGauge::new(
                "livefleet_worker_nvenc_sessions",
                "NVENC encoders this worker has open",
            )?,
            nvenc_session_limit: IntGauge::new(
                "livefleet_worker_nvenc_session_limit",
                "NVENC sessions the GPU allows (the driver's cap on consumer cards, the configured limit otherwise); 0 without NVENC or without a cap",
            )?,
            gpus: IntGauge::new(
                "livefleet_worker_gpus",
                "NVIDIA GPUs NVML reports on this node (0 without a driver)",
            )?,
            gpu_encoder_sessions: IntGauge::new(
                "livefleet_worker_gpu_encoder_sessions",
                "NVENC sessions open on the GPU, by every process (NVML; present with a GPU)",
            )?,
            gpu_encoder_utilization: Gauge::new(
                "livefleet_worker_gpu_encoder_utilization_ratio",
                "NVENC engine utilisation, 0 to 1 (NVML; present with a GPU)",
            )?,
            gpu_decoder_utilization: Gauge::new(
                "livefleet_worker_gpu_decoder_utilization_ratio",
                "NVDEC engine utilisation, 0 to 1 (NVML; present with a GPU)",
            )?,
            video_sessions: counter(
                "livefleet_worker_video_sessions_total",
                "Publish sessions started, by video path (zero_copy, upload, hybrid, cpu)",
                &["path"],
            )?,
            video_path_fallbacks: counter(
                "livefleet_worker_video_path_fallbacks_total",
                "Channels moved to another video path after a GPU piece failed, by path left and path taken",
                &["from", "to"],
            )?,
            numbering: counter(
                "livefleet_worker_broadcast_numbering_total",
                "Channel starts by where the broadcast's segment numbering came from: record (the channel's broadcast record), zero (a new channel), store (no usable record: above the segments stored), clock (no record, store not listed)",
                &["from"],
            )?,
        };
        registry.register(Box::new(m.channels.clone()))?;
        registry.register(Box::new(m.sessions.clone()))?;
        registry.register(Box::new(m.failures.clone()))?;
        registry.register(Box::new(m.publishing.clone()))?;
        registry.register(Box::new(m.frames_decoded.clone()))?;
        registry.register(Box::new(m.frames_copied.clone()))?;
        registry.register(Box::new(m.frames_held.clone()))?;
        registry.register(Box::new(m.frames_encoded.clone()))?;
        registry.register(Box::new(m.frames_dropped.clone()))?;
        registry.register(Box::new(m.encode_speed.clone()))?;
        registry.register(Box::new(m.queue_depth.clone()))?;
        registry.register(Box::new(m.segments.clone()))?;
        registry.register(Box::new(m.segment_seconds.clone()))?;
        registry.register(Box::new(m.segment_bytes.clone()))?;
        registry.register(Box::new(m.keyframe_misses.clone()))?;
        registry.register(Box::new(m.nvenc_sessions.clone()))?;
        registry.register(Box::new(m.nvenc_session_limit.clone()))?;
        registry.register(Box::new(m.gpus.clone()))?;
        registry.register(Box::new(m.video_sessions.clone()))?;
        registry.register(Box::new(m.video_path_fallbacks.clone()))?;
        registry.register(Box::new(m.numbering.clone()))?;
        for path in VideoPath::ALL {
            m.video_sessions.with_label_values(&[path.as_str()]);
        }
        // Known label values start at zero, so rates and alerts have a series before the first event.
        for kind in ["panic", "fenced", "error"] {
            m.failures.with_label_values(&[kind]);
        }
        for result in ["started", "refused"] {
            m.sessions.with_label_values(&[result]);
        }
        for from in crate::numbering_floor::Numbering::ALL {
            m.numbering.with_label_values(&[from.label()]);
        }
        Ok(m)
    }

    /// The handle a running channel counts through.
    pub fn channel(&self, channel: &str) -> ChannelMeter {
        let meter = ChannelMeter {
            inner: Arc::new(MeterInner {
                channel: channel.to_owned(),
                metrics: self.clone(),
                series: Mutex::default(),
            }),
        };
        for reason in DropReason::ALL {
            let labels = [channel, reason.label()];
            meter.note("dropped", &labels);
            self.frames_dropped.with_label_values(&labels);
        }
        meter.note("held", &[channel]);
        self.frames_held.with_label_values(&[channel]);
        meter.publishing(false);
        meter
    }

    /// What NVML says about the GPU, or that there is none. The GPU gauges
    /// are registered the first time a GPU is seen, so a CPU node exports
    /// `livefleet_worker_gpus 0` and no utilisation it cannot measure.
    pub fn set_gpu(&self, registry: &Registry, gpu: Option<&GpuInfo>, limit: Option<u32>) {
        self.nvenc_session_limit
            .set(i64::from(limit.unwrap_or_default()));
        let Some(g) = gpu else {
            self.gpus.set(0);
            return;
        };
        if self.gpus.get() == 0 {
            for c in [
                Box::new(self.gpu_encoder_sessions.clone()) as Box<dyn prometheus::core::Collector>,
                Box::new(self.gpu_encoder_utilization.clone()),
                Box::new(self.gpu_decoder_utilization.clone()),
            ] {
                // Already registered (a GPU seen before): nothing to do.
                let _ = registry.register(c);
            }
        }
        self.gpus.set(1);
        self.gpu_encoder_sessions.set(i64::from(g.encoder_sessions));
        if let Some(u) = g.encoder_utilization {
            self.gpu_encoder_utilization.set(f64::from(u) / 100.0);
        }
        if let Some(u) = g.decoder_utilization {
            self.gpu_decoder_utilization.set(f64::from(u) / 100.0);
        }
    }
}
