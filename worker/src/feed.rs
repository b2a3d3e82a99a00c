//! A live channel's media as the decode thread receives it: the packets
//! forwarded from the bus ([`LiveFeed`]), cut into publish sessions
//! ([`LiveSource`]), each a [`PacketSource`] for the pipeline.
//!
//! A session starts with a video configuration; a new video configuration
//! (another resolution or codec parameters) or a new session number ends it,
//! and the packet that did is carried into the next session.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ff::{codec, Rational};
use ffmpeg_next as ff;
use livefleet_base::{MediaPacket, PacketKind, Track};
use tokio::sync::mpsc;

use crate::live_codec::stream_from_config;
use crate::source::{PacketSource, SourceInfo};
use crate::PipelineError;

/// Media packets of one channel as the decode thread receives them.
pub struct LiveFeed {
    rx: mpsc::Receiver<MediaPacket>,
    runtime: tokio::runtime::Handle,
    pub(crate) carry: Option<MediaPacket>,
    pub(crate) closed: bool,
    /// The last audio configuration seen (its packet names the publish
    /// session): a session restarted by a new video configuration keeps its
    /// audio.
    audio_config: Option<MediaPacket>,
}

pub(crate) enum Recv {
    Packet(MediaPacket),
    Timeout,
    Closed,
}

impl LiveFeed {
    pub fn new(rx: mpsc::Receiver<MediaPacket>, runtime: tokio::runtime::Handle) -> Self {
        Self {
            rx,
            runtime,
            carry: None,
            closed: false,
            audio_config: None,
        }
    }

    pub(crate) fn recv(&mut self, timeout: Duration) -> Recv {
        if let Some(p) = self.carry.take() {
            return Recv::Packet(p);
        }
        if self.closed {
            return Recv::Closed;
        }
        // The timer is created inside the runtime's context (block_on enters it).
        let rx = &mut self.rx;
        match self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, rx.recv()).await })
        {
            Ok(Some(p)) => Recv::Packet(p),
            Ok(None) => {
                self.closed = true;
                Recv::Closed
            }
            Err(_) => Recv::Timeout,
        }
    }
}

/// One publish session read from a [`LiveFeed`].
pub struct LiveSource<'a> {
    feed: &'a mut LiveFeed,
    info: SourceInfo,
    pub(crate) session: u32,
    /// The video configuration the session was opened with.
    video_config: MediaPacket,
    /// The audio configuration the session was opened with, usable or not.
    audio_config: Option<MediaPacket>,
    buffered: VecDeque<MediaPacket>,
    idle_timeout: Duration,
    /// When the session's first frame came in: the publish has run since
    /// (the frames waited for above are its media too).
    pub(crate) first_frame_at: Instant,
}

/// The frames a session's frame rate is estimated from before it starts:
/// this many, or as many as come in this much media time (a slideshow at
/// 1 fps would otherwise wait 12 s before anything is encoded).
const RATE_WINDOW_FRAMES: usize = 12;
const RATE_WINDOW_MS: i64 = 2_000;

/// Frame rate from the decode-time steps of the first frames (RTMP carries none per packet).
fn estimate_fps(dts: &[i64]) -> Rational {
    // The mean step over the window: millisecond rounding makes single steps
    // alternate (33, 34, 33 ms at 30 fps) but their sum is exact.
    let steps = dts.windows(2).filter(|w| w[1] > w[0]).count();
    let (Some(first), Some(last)) = (dts.first(), dts.last()) else {
        return Rational::new(30, 1);
    };
    if steps == 0 || last <= first {
        return Rational::new(30, 1);
    }
    let span = (last - first) as f64;
    let fps = 1000.0 * steps as f64 / span;
    // Millisecond timestamps leave +-1 ms of doubt over the span: among the
    // common rates inside it, an integer rate wins (30 over 29.97 when the
    // window cannot tell them apart).
    let (lo, hi) = (
        1000.0 * steps as f64 / (span + 1.0),
        1000.0 * steps as f64 / (span - 1.0).max(1.0),
    );
    const COMMON: [f64; 9] = [24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 23.976, 29.97, 59.94];
    if let Some(rate) = COMMON.into_iter().find(|r| (lo..=hi).contains(r)) {
        return crate::ladder::rational_fps(rate);
    }
    let closest = COMMON
        .into_iter()
        .min_by(|a, b| ((fps - a).abs() / a).total_cmp(&((fps - b).abs() / b)))
        .expect("candidates");
    if (fps - closest).abs() / closest < 0.02 {
        return crate::ladder::rational_fps(closest);
    }
    crate::ladder::rational_fps(fps.round().clamp(1.0, 240.0))
}

impl<'a> LiveSource<'a> {
    /// Waits up to `wait` for the start of a publish session (a video
    /// configuration), then up to the idle timeout for enough frames to
    /// estimate the frame rate.
    /// `Ok(None)` when no session started in time or the feed closed.
    pub fn start(feed: &'a mut LiveFeed, wait: Duration, idle_timeout: Duration) -> Option<Self> {
        let deadline = Instant::now() + wait;
        let mut video_config: Option<MediaPacket> = None;
        let mut audio_config: Option<MediaPacket> = None;
        let mut buffered: VecDeque<MediaPacket> = VecDeque::new();
        let mut first_frame_at = Instant::now();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Once a session's configuration is in, wait for its frames as long as
            // the publisher may be idle: returning now would lose the configuration.
            let budget = if video_config.is_some() {
                idle_timeout
            } else {
                left
            };
            let p = match feed.recv(budget) {
                Recv::Packet(p) => p,
                Recv::Timeout | Recv::Closed => {
                    if video_config.is_some() && buffered.iter().any(|p| p.track == Track::Video) {
                        break;
                    }
                    return None;
                }
            };
            match (&video_config, p.kind, p.track) {
                (_, PacketKind::Config, Track::Video) => {
                    if video_config
                        .as_ref()
                        .is_some_and(|v| v.session != p.session)
                    {
                        buffered.clear();
                        audio_config = None;
                    }
                    video_config = Some(p);
                }
                (Some(v), PacketKind::Config, Track::Audio) if v.session == p.session => {
                    feed.audio_config = Some(p.clone());
                    audio_config = Some(p)
                }
                (None, PacketKind::Config, Track::Audio) => {
                    feed.audio_config = Some(p.clone());
                    audio_config = Some(p)
                }
                (Some(v), PacketKind::Frame, _) if v.session == p.session => {
                    if buffered.is_empty() && !(p.track == Track::Video && p.keyframe) {
                        continue; // start on a video keyframe
                    }
                    if buffered.is_empty() {
                        first_frame_at = Instant::now();
                    }
                    buffered.push_back(p);
                    let mut video = buffered.iter().filter(|p| p.track == Track::Video);
                    let first = video.next().map_or(0, |p| p.dts_ms);
                    let (frames, last) = video.fold((1, first), |(n, _), p| (n + 1, p.dts_ms));
                    if frames >= RATE_WINDOW_FRAMES || last - first >= RATE_WINDOW_MS {
                        break;
                    }
                }
                (Some(v), PacketKind::End, _) if v.session == p.session => {
                    if buffered.iter().any(|p| p.track == Track::Video) {
                        feed.carry = Some(p);
                        break;
                    }
                    video_config = None;
                    buffered.clear();
                }
                _ => {} // frames before any configuration, or of an older session
            }
            if Instant::now() >= deadline && video_config.is_none() {
                return None;
            }
        }
        let video_config = video_config?;
        let session = video_config.session;
        let audio_config = audio_config.or_else(|| {
            feed.audio_config
                .as_ref()
                .filter(|c| c.session == session)
                .cloned()
        });
        let dts: Vec<i64> = buffered
            .iter()
            .filter(|p| p.track == Track::Video)
            .map(|p| p.dts_ms)
            .collect();
        let info = SourceInfo {
            video: stream_from_config(&video_config, Some(estimate_fps(&dts)))?,
            audio: audio_config
                .as_ref()
                .and_then(|c| stream_from_config(c, None)),
            duration: None,
        };
        Some(Self {
            feed,
            info,
            session,
            video_config,
            audio_config,
            buffered,
            idle_timeout,
            first_frame_at,
        })
    }
}

fn to_packet(p: &MediaPacket) -> ff::Packet {
    let mut packet = ff::Packet::copy(&p.data);
    packet.set_pts(Some(p.pts_ms));
    packet.set_dts(Some(p.dts_ms));
    if p.keyframe {
        packet.set_flags(codec::packet::Flags::KEY);
    }
    packet.set_stream(match p.track {
        Track::Video => 0,
        Track::Audio => 1,
    });
    packet
}

impl PacketSource for LiveSource<'_> {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn live(&self) -> bool {
        true
    }

    fn next_packet(&mut self) -> Result<Option<(Track, ff::Packet)>, PipelineError> {
        loop {
            let p = match self.buffered.pop_front() {
                Some(p) => p,
                None => match self.feed.recv(self.idle_timeout) {
                    Recv::Packet(p) => p,
                    Recv::Timeout => {
                        tracing::warn!(
                            session = self.session,
                            "no media for {:?}; ending the publish session",
                            self.idle_timeout
                        );
                        return Ok(None);
                    }
                    Recv::Closed => return Ok(None),
                },
            };
            if p.session != self.session {
                self.feed.carry = Some(p);
                return Ok(None);
            }
            match p.kind {
                PacketKind::End => return Ok(None),
                PacketKind::Config
                    if p.track == Track::Video
                        && (p.codec, &p.data)
                            != (self.video_config.codec, &self.video_config.data) =>
                {
                    // New parameters mid-session (resolution change): restart the decoder as a new session.
                    self.feed.carry = Some(p);
                    return Ok(None);
                }
                PacketKind::Config if p.track == Track::Audio => {
                    self.feed.audio_config = Some(p.clone());
                    let same = |c: &MediaPacket| c.codec == p.codec && c.data == p.data;
                    if !self.audio_config.as_ref().is_some_and(same) {
                        // Audio that begins mid-publish, or changes codec or
                        // format: a new session with it (one discontinuity).
                        tracing::info!(
                            session = self.session,
                            codec = ?p.codec,
                            "audio {} mid-publish; restarting the session with it",
                            if self.audio_config.is_some() { "changes" } else { "begins" }
                        );
                        self.feed.carry = Some(MediaPacket {
                            keyframe: false,
                            session: p.session,
                            dts_ms: p.dts_ms,
                            pts_ms: p.pts_ms,
                            ..self.video_config.clone()
                        });
                        return Ok(None);
                    }
                }
                PacketKind::Config => continue,
                PacketKind::Frame => {
                    if p.track == Track::Audio && self.info.audio.is_none() {
                        continue;
                    }
                    return Ok(Some((p.track, to_packet(&p))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rate_from_timestamps() {
        let at = |step: f64, n: usize| {
            (0..n)
                .map(|i| (i as f64 * step).round() as i64)
                .collect::<Vec<_>>()
        };
        assert_eq!(estimate_fps(&at(1000.0 / 30.0, 12)), Rational::new(30, 1));
        assert_eq!(estimate_fps(&at(1000.0 / 25.0, 12)), Rational::new(25, 1));
        // 12 frames cannot tell 29.97 from 30 at millisecond precision; 120 can.
        assert_eq!(estimate_fps(&at(1001.0 / 30.0, 12)), Rational::new(30, 1));
        assert_eq!(
            estimate_fps(&at(1001.0 / 30.0, 120)),
            Rational::new(30000, 1001)
        );
        assert_eq!(estimate_fps(&at(1000.0 / 60.0, 12)), Rational::new(60, 1));
        assert_eq!(estimate_fps(&at(1000.0 / 12.5, 12)), Rational::new(13, 1));
        assert_eq!(estimate_fps(&[]), Rational::new(30, 1));
    }
}
