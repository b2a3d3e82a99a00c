//! The worker's Prometheus metrics, all prefixed `livefleet_worker_`.
//!
//! Labels are bounded: `rendition` comes from the ladder profiles, `encoder`
//! is `x264` or `nvenc`, and `channel` appears only on per-channel series,
//! which a worker holds for the channels it runs (its capacity bounds them)
//! and removes when a channel ends. Histograms carry no channel label.
//! Object uploads are counted by the storage writer (`livefleet_storage_*`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prometheus::{
    exponential_buckets, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::encoder::EncoderKind;
use crate::nvml::GpuInfo;

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
    const ALL: [DropReason; 3] = [Self::Corrupt, Self::OutOfOrder, Self::Packager];

    fn label(self) -> &'static str {
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
        };
        registry.register(Box::new(m.channels.clone()))?;
        registry.register(Box::new(m.sessions.clone()))?;
        registry.register(Box::new(m.failures.clone()))?;
        registry.register(Box::new(m.publishing.clone()))?;
        registry.register(Box::new(m.frames_decoded.clone()))?;
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
        // Known label values start at zero, so rates and alerts have a series before the first event.
        for kind in ["panic", "fenced", "error"] {
            m.failures.with_label_values(&[kind]);
        }
        for result in ["started", "refused"] {
            m.sessions.with_label_values(&[result]);
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

struct MeterInner {
    channel: String,
    metrics: WorkerMetrics,
    /// Label sets this channel created, removed when it ends.
    series: Mutex<HashSet<(&'static str, Vec<String>)>>,
}

/// One channel's view of the worker metrics. Cheap to clone.
#[derive(Clone)]
pub struct ChannelMeter {
    inner: Arc<MeterInner>,
}

impl std::fmt::Debug for ChannelMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelMeter")
            .field("channel", &self.inner.channel)
            .finish()
    }
}

impl ChannelMeter {
    fn note(&self, family: &'static str, labels: &[&str]) {
        let key = (family, labels.iter().map(|s| s.to_string()).collect());
        self.inner
            .series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
    }

    /// Whether a publish session runs now.
    pub fn publishing(&self, on: bool) {
        self.note("publishing", &[&self.inner.channel]);
        self.inner
            .metrics
            .publishing
            .with_label_values(&[&self.inner.channel])
            .set(i64::from(on));
    }

    pub fn frame_decoded(&self) -> IntCounter {
        self.note("decoded", &[&self.inner.channel]);
        self.inner
            .metrics
            .frames_decoded
            .with_label_values(&[&self.inner.channel])
    }

    pub fn dropped(&self, reason: DropReason) {
        let labels = [self.inner.channel.as_str(), reason.label()];
        self.note("dropped", &labels);
        self.inner
            .metrics
            .frames_dropped
            .with_label_values(&labels)
            .inc();
    }

    /// A stage's input queue (`rendition name`, `audio`, `package`).
    pub fn queue(&self, queue: &str) -> IntGauge {
        let labels = [self.inner.channel.as_str(), queue];
        self.note("queue", &labels);
        self.inner.metrics.queue_depth.with_label_values(&labels)
    }

    /// The counters of one encoded rendition.
    pub fn rendition(&self, rendition: &str, encoder: EncoderKind) -> RenditionMeter {
        let ch = self.inner.channel.as_str();
        let kind = encoder.to_string();
        self.note("encoded", &[ch, rendition, &kind]);
        self.note("speed", &[ch, rendition]);
        self.note("misses", &[ch, rendition]);
        let m = &self.inner.metrics;
        let nvenc = (encoder == EncoderKind::Nvenc).then(|| m.nvenc_sessions.clone());
        if let Some(n) = &nvenc {
            n.inc();
        }
        RenditionMeter {
            encoded: m.frames_encoded.with_label_values(&[ch, rendition, &kind]),
            speed: m.encode_speed.with_label_values(&[ch, rendition]),
            keyframe_misses: m.keyframe_misses.with_label_values(&[ch, rendition]),
            meter: self.clone(),
            nvenc,
        }
    }

    /// A media segment of `rendition` closed.
    pub fn segment(&self, rendition: &str, seconds: f64, bytes: u64) {
        let m = &self.inner.metrics;
        let labels = [self.inner.channel.as_str(), rendition];
        self.note("segments", &labels);
        m.segments.with_label_values(&labels).inc();
        m.segment_seconds
            .with_label_values(&[rendition])
            .observe(seconds);
        m.segment_bytes
            .with_label_values(&[rendition])
            .observe(bytes as f64);
    }

    /// The channel ended on this worker: its series go away.
    pub fn retire(&self) {
        let m = &self.inner.metrics;
        let series =
            std::mem::take(&mut *self.inner.series.lock().unwrap_or_else(|p| p.into_inner()));
        for (family, labels) in series {
            let l: Vec<&str> = labels.iter().map(String::as_str).collect();
            let _ = match family {
                "publishing" => m.publishing.remove_label_values(&l),
                "decoded" => m.frames_decoded.remove_label_values(&l),
                "dropped" => m.frames_dropped.remove_label_values(&l),
                "queue" => m.queue_depth.remove_label_values(&l),
                "encoded" => m.frames_encoded.remove_label_values(&l),
                "speed" => m.encode_speed.remove_label_values(&l),
                "misses" => m.keyframe_misses.remove_label_values(&l),
                "segments" => m.segments.remove_label_values(&l),
                _ => Ok(()),
            };
        }
    }
}

/// How often the encode speed gauge is recomputed.
const SPEED_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// One encoded rendition's counters; an NVENC session is counted while it lives.
pub struct RenditionMeter {
    encoded: IntCounter,
    speed: Gauge,
    keyframe_misses: IntCounter,
    meter: ChannelMeter,
    nvenc: Option<IntGauge>,
}

impl RenditionMeter {
    pub fn channel(&self) -> &ChannelMeter {
        &self.meter
    }

    pub fn keyframe_missed(&self) {
        self.keyframe_misses.inc();
    }

    pub fn frames_encoded(&self, n: u64) {
        self.encoded.inc_by(n);
    }

    /// The encode speed over a window: `media` seconds made in `busy` seconds of work.
    pub fn speed(&self, media: f64, busy: f64) {
        if busy > 0.0 {
            self.speed.set(media / busy);
        }
    }
}

impl Drop for RenditionMeter {
    fn drop(&mut self) {
        if let Some(n) = &self.nvenc {
            n.dec();
        }
    }
}

/// Measures a rendition's encode speed: media time made against time spent working.
pub struct SpeedWindow {
    started: std::time::Instant,
    media: f64,
    busy: std::time::Duration,
}

impl Default for SpeedWindow {
    fn default() -> Self {
        Self {
            started: std::time::Instant::now(),
            media: 0.0,
            busy: std::time::Duration::ZERO,
        }
    }
}

impl SpeedWindow {
    /// `media` seconds were made in `busy`; reports once per window.
    pub fn add(&mut self, media: f64, busy: std::time::Duration, meter: Option<&RenditionMeter>) {
        self.media += media;
        self.busy += busy;
        if self.started.elapsed() >= SPEED_WINDOW {
            if let Some(m) = meter {
                m.speed(self.media, self.busy.as_secs_f64());
            }
            *self = Self::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retired_channel_leaves_no_series() {
        let registry = Registry::new();
        let m = WorkerMetrics::new(&registry).unwrap();
        let ch = m.channel("news");
        ch.frame_decoded().inc();
        ch.dropped(DropReason::Corrupt);
        ch.queue("720p").set(3);
        ch.segment("720p", 2.0, 100_000);
        {
            let r = ch.rendition("720p", EncoderKind::Nvenc);
            r.frames_encoded(5);
            r.keyframe_missed();
            r.speed(2.0, 1.0);
            assert_eq!(m.nvenc_sessions.get(), 1);
        }
        assert_eq!(m.nvenc_sessions.get(), 0);
        let text = |r: &Registry| {
            let mut s = String::new();
            prometheus::TextEncoder::new()
                .encode_utf8(&r.gather(), &mut s)
                .unwrap();
            s
        };
        let before = text(&registry);
        assert!(before.contains("livefleet_worker_frames_encoded_total{channel=\"news\",encoder=\"nvenc\",rendition=\"720p\"} 5"), "{before}");
        assert!(before.contains(
            "livefleet_worker_encode_speed_ratio{channel=\"news\",rendition=\"720p\"} 2"
        ));
        ch.retire();
        let after = text(&registry);
        assert!(!after.contains("channel=\"news\""), "{after}");
        // Histograms have no channel label and keep their history.
        assert!(
            after.contains("livefleet_worker_segment_duration_seconds_count{rendition=\"720p\"} 1")
        );
    }
}
