//! One channel's view of the worker metrics: its series, removed when it ends.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prometheus::{Gauge, IntCounter, IntGauge};

use super::{DropReason, WorkerMetrics};
use crate::encoder::EncoderKind;
use crate::video_path::VideoPath;

pub(super) struct MeterInner {
    pub(super) channel: String,
    pub(super) metrics: WorkerMetrics,
    /// Label sets this channel created, removed when it ends.
    pub(super) series: Mutex<HashSet<(&'static str, Vec<String>)>>,
}

/// One channel's view of the worker metrics. Cheap to clone.
#[derive(Clone)]
pub struct ChannelMeter {
    pub(super) inner: Arc<MeterInner>,
}

impl std::fmt::Debug for ChannelMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelMeter")
            .field("channel", &self.inner.channel)
            .finish()
    }
}

impl ChannelMeter {
    pub(super) fn note(&self, family: &'static str, labels: &[&str]) {
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

    pub fn frame_copied(&self) -> IntCounter {
        self.note("copied", &[&self.inner.channel]);
        self.inner
            .metrics
            .frames_copied
            .with_label_values(&[&self.inner.channel])
    }

    /// A picture held while the audio went on without video (`crate::hold`).
    pub fn frame_held(&self) {
        self.note("held", &[&self.inner.channel]);
        self.inner
            .metrics
            .frames_held
            .with_label_values(&[&self.inner.channel])
            .inc();
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

    /// The last encode speed of each of the channel's encoded renditions,
    /// by rendition name.
    pub fn encode_speeds(&self) -> Vec<(String, f64)> {
        // Read under the lock `retire` takes: a series it removed is not made again here.
        let series = self.inner.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<(String, f64)> = series
            .iter()
            .filter(|(family, labels)| *family == "speed" && labels.len() == 2)
            .filter_map(|(_, labels)| {
                let l: Vec<&str> = labels.iter().map(String::as_str).collect();
                let gauge = self
                    .inner
                    .metrics
                    .encode_speed
                    .get_metric_with_label_values(&l)
                    .ok()?;
                Some((labels[1].clone(), gauge.get()))
            })
            .filter(|(_, speed)| *speed > 0.0)
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
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

    /// A session starts on `path`.
    pub fn video_path(&self, path: VideoPath) {
        self.inner
            .metrics
            .video_sessions
            .with_label_values(&[path.as_str()])
            .inc();
    }

    /// A GPU piece failed and the channel moved from `from` to `to`.
    pub fn fell_back(&self, from: VideoPath, to: VideoPath) {
        self.inner
            .metrics
            .video_path_fallbacks
            .with_label_values(&[from.as_str(), to.as_str()])
            .inc();
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
                "copied" => m.frames_copied.remove_label_values(&l),
                "held" => m.frames_held.remove_label_values(&l),
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

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Registry;

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
