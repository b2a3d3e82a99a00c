//! The live path: a channel's media packets from NATS through the pipeline.
//!
//! ```text
//! MediaSubscription (async) --tokio mpsc--> LiveSource (decode thread) --> Broadcast
//! ```
//! A broadcast runs as long as its publisher does, and survives a reconnect
//! within the grace period: the new publish session continues the same
//! presentation after one discontinuity. When the grace period passes without
//! media, the broadcast ends (ENDLIST, static MPD). A later publish on the same
//! channel continues numbering from there, so no object key is written twice.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ff::{codec, Rational};
use ffmpeg_next as ff;
use livefleet_base::{ChannelName, MediaPacket, PacketKind, Track};
use livefleet_packager::Output;
use livefleet_profile::LadderProfile;
use livefleet_storage::{CacheClass, ObjectMeta, Put, StorageWriter};
use tokio::sync::mpsc;

use crate::encoder::EncoderKind;
use crate::pipeline::{now_unix_ms, Broadcast, BroadcastConfig, OutputSink, Progress};
use crate::source::{parameters_from_config, PacketSource, SourceInfo, StreamInfo};
use crate::transcode::cache_class;
use crate::PipelineError;

/// Timing of a live channel.
#[derive(Debug, Clone)]
pub struct LiveTiming {
    /// How long a broadcast waits for its publisher to come back before it ends.
    pub grace: Duration,
    /// No media for this long ends a publish session (the publisher or its ingest vanished).
    pub idle_timeout: Duration,
    pub live_window: usize,
    pub dvr_window: Option<f64>,
}

impl Default for LiveTiming {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            live_window: 6,
            dvr_window: None,
        }
    }
}

/// Media packets of one channel as the decode thread receives them.
pub struct LiveFeed {
    rx: mpsc::Receiver<MediaPacket>,
    runtime: tokio::runtime::Handle,
    carry: Option<MediaPacket>,
    closed: bool,
}

enum Recv {
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
        }
    }

    fn recv(&mut self, timeout: Duration) -> Recv {
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
    session: u32,
    video_config: Bytes,
    buffered: VecDeque<MediaPacket>,
    idle_timeout: Duration,
}

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
        let mut video_config: Option<(u32, Bytes)> = None;
        let mut audio_config: Option<Bytes> = None;
        let mut buffered: VecDeque<MediaPacket> = VecDeque::new();
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
                    if video_config.as_ref().is_some_and(|(s, _)| *s != p.session) {
                        buffered.clear();
                        audio_config = None;
                    }
                    video_config = Some((p.session, p.data.clone()));
                }
                (Some((s, _)), PacketKind::Config, Track::Audio) if *s == p.session => {
                    audio_config = Some(p.data.clone())
                }
                (None, PacketKind::Config, Track::Audio) => audio_config = Some(p.data.clone()),
                (Some((s, _)), PacketKind::Frame, _) if *s == p.session => {
                    if buffered.is_empty() && !(p.track == Track::Video && p.keyframe) {
                        continue; // start on a video keyframe
                    }
                    buffered.push_back(p);
                    let frames = buffered.iter().filter(|p| p.track == Track::Video).count();
                    if frames >= 12 {
                        break;
                    }
                }
                (Some((s, _)), PacketKind::End, _) if *s == p.session => {
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
        let (session, video_config) = video_config?;
        let dts: Vec<i64> = buffered
            .iter()
            .filter(|p| p.track == Track::Video)
            .map(|p| p.dts_ms)
            .collect();
        let ms = Rational::new(1, 1000);
        let info = SourceInfo {
            video: StreamInfo {
                parameters: parameters_from_config(Track::Video, codec::Id::H264, &video_config),
                time_base: ms,
                frame_rate: Some(estimate_fps(&dts)),
            },
            audio: audio_config.map(|asc| StreamInfo {
                parameters: parameters_from_config(Track::Audio, codec::Id::AAC, &asc),
                time_base: ms,
                frame_rate: None,
            }),
            duration: None,
        };
        Some(Self {
            feed,
            info,
            session,
            video_config,
            buffered,
            idle_timeout,
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
                PacketKind::Config if p.track == Track::Video && p.data != self.video_config => {
                    // New parameters mid-session (resolution change): restart the decoder as a new session.
                    self.feed.carry = Some(p);
                    return Ok(None);
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

/// Packager output into the ordered, retrying storage writer.
///
/// Segments the writer gives up on come back to the packager through
/// [`OutputSink::missing_changed`] and are marked as gaps; every manifest put
/// carries the loss count its gaps reflect ([`Put::naming_as_of`]), so the
/// writer never stores a manifest that names a lost segment unmarked.
pub struct WriterSink {
    pub(crate) writer: Arc<StorageWriter>,
    /// Key prefix, e.g. `live/demo/`.
    prefix: String,
    /// The writer's missing-set version last handed to the packager.
    seen_version: Option<u64>,
    /// The loss count the packager's gaps reflect.
    lost_as_of: u64,
}

impl WriterSink {
    pub fn new(writer: Arc<StorageWriter>, prefix: String) -> Self {
        Self {
            writer,
            prefix,
            seen_version: None,
            lost_as_of: 0,
        }
    }
}

impl OutputSink for WriterSink {
    fn write(&mut self, outputs: Vec<Output>) -> Result<(), String> {
        for o in outputs {
            let Output::Put {
                path,
                body,
                content_type,
                cache,
            } = o;
            let key = format!("{}{}", self.prefix, path);
            let mut put = Put {
                key,
                body,
                meta: ObjectMeta {
                    content_type: content_type.to_string(),
                    cache: cache_class(&cache),
                },
                names_as_of: None,
            };
            if put.meta.cache != CacheClass::Immutable {
                put = put.naming_as_of(self.lost_as_of);
            }
            self.writer.blocking_put(put).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn missing_changed(&mut self) -> Option<Vec<String>> {
        let version = self.writer.missing_version();
        if self.seen_version == Some(version) {
            return None;
        }
        self.seen_version = Some(version);
        let missing = self.writer.missing(&self.prefix);
        self.lost_as_of = missing.lost;
        Some(
            missing
                .keys
                .into_iter()
                .filter_map(|k| k.strip_prefix(&self.prefix).map(str::to_owned))
                .collect(),
        )
    }

    fn settle(&mut self) {
        if let Err(e) = self.writer.blocking_settle() {
            tracing::warn!(error = %e, "could not wait for the storage writer");
        }
    }
}

/// What a live channel runs with.
pub struct LiveChannel {
    pub channel: ChannelName,
    pub profile: LadderProfile,
    pub encoder: EncoderKind,
    pub timing: LiveTiming,
    pub progress: Arc<Progress>,
    /// File generation (the fleet assignment epoch); `None` outside a fleet.
    pub generation: Option<u32>,
    /// Where a previous worker left the broadcast (failover): its packager
    /// state and media end (90 kHz).
    pub resume: Option<(livefleet_packager::PackagerState, i64)>,
    /// Run under a fleet assignment: one broadcast, and a stop hands the
    /// channel to another worker instead of ending the broadcast.
    pub fleet: bool,
    /// Set when the channel was deleted: the broadcast ends as soon as its
    /// publish does, without waiting the grace period for the publisher.
    pub deleted: Arc<AtomicBool>,
}

/// Runs a channel's broadcasts on the calling (dedicated, blocking) thread
/// until the feed closes or `stop` is set. Each broadcast ends after the grace
/// period without media.
pub fn run_channel(
    ch: &LiveChannel,
    mut feed: LiveFeed,
    make_sink: &dyn Fn() -> Box<dyn OutputSink>,
    stop: &AtomicBool,
) -> Result<(), PipelineError> {
    let span = tracing::info_span!("channel", channel = %ch.channel);
    let _e = span.enter();
    let mut resume: Option<(livefleet_packager::PackagerState, i64)> = ch.resume.clone();
    while !stop.load(Ordering::Relaxed) && !feed.closed {
        // Wait (in short steps, to notice `stop`) for a publish session to start.
        let Some(source) = LiveSource::start(
            &mut feed,
            Duration::from_millis(500),
            ch.timing.idle_timeout,
        ) else {
            continue;
        };
        tracing::info!(session = source.session, "broadcast starts");
        let config = BroadcastConfig {
            label: ch.channel.to_string(),
            profile: ch.profile.clone(),
            encoder: ch.encoder,
            live_window: ch.timing.live_window,
            dvr_window: ch.timing.dvr_window,
            start_time_unix_ms: now_unix_ms(),
            generation: ch.generation,
        };
        let mut broadcast = match resume.take() {
            Some((state, end)) => {
                Broadcast::resume(config, make_sink(), ch.progress.clone(), state, end)
            }
            None => Broadcast::new(config, make_sink(), ch.progress.clone()),
        };
        let mut source = Some(source);
        loop {
            if let Some(mut s) = source.take() {
                let session = s.session;
                if let Err(e) = broadcast.run_session(&mut s) {
                    tracing::error!(session, error = %e, "publish session failed");
                }
                tracing::info!(
                    session,
                    "publish session ended; waiting {:?} for the publisher to return",
                    ch.timing.grace
                );
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
            match wait_for_return(ch, &mut feed, stop) {
                Some(s) => {
                    tracing::info!(
                        session = s.session,
                        "publisher returned within the grace period; continuing the broadcast"
                    );
                    source = Some(s);
                }
                None => break,
            }
        }
        let end = broadcast.timeline_end_90k();
        if ch.fleet && stop.load(Ordering::Relaxed) {
            // Another worker continues (failover, drain): no ending, the manifests stay live.
            let _ = broadcast.abandon();
            tracing::info!("channel handed over; stopped without ending the broadcast");
            return Ok(());
        }
        match broadcast.finish() {
            Ok(state) => {
                tracing::info!("broadcast ended; live-to-VOD manifests written");
                resume = Some((state, end));
            }
            Err(e) => tracing::error!(error = %e, "could not write the end of the broadcast"),
        }
        if ch.fleet {
            // The assignment is released; the next publish is placed again.
            return Ok(());
        }
    }
    Ok(())
}

/// Waits up to the grace period (in short steps, to notice a stop or the
/// channel's deletion) for the publisher's next session.
fn wait_for_return<'f>(
    ch: &LiveChannel,
    feed: &'f mut LiveFeed,
    stop: &AtomicBool,
) -> Option<LiveSource<'f>> {
    let deadline = Instant::now() + ch.timing.grace;
    loop {
        if ch.deleted.load(Ordering::Relaxed) {
            tracing::info!("channel deleted; ending the broadcast now");
            return None;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stop.load(Ordering::Relaxed) || feed.closed {
            return None;
        }
        match feed.recv(left.min(Duration::from_millis(250))) {
            Recv::Packet(p) => {
                // Something came: let a session start from it, for the rest of the grace.
                feed.carry = Some(p);
                let left = deadline.saturating_duration_since(Instant::now());
                return LiveSource::start(feed, left, ch.timing.idle_timeout);
            }
            Recv::Timeout => {}
            Recv::Closed => return None,
        }
    }
}

/// Media silence after which the subscription is made again (a NATS server
/// restart loses the in-memory media stream and the consumer with it).
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(3);
/// How long one attempt to subscribe to the media may take.
const SUBSCRIBE_WITHIN: Duration = Duration::from_secs(3);

/// Feeds `tx` with the media of `channel` from the latest keyframe, until
/// `tx` closes. When media stops for a few seconds the subscription is made
/// again, right after the last packet forwarded (so a bus that stalled and
/// then delivers its backlog at once loses nothing), or at the latest
/// keyframe when the stream lost that point (a server restart); frames
/// already forwarded are skipped, so a publisher's pause never replays media.
pub async fn forward_media(
    js: async_nats::jetstream::Context,
    channel: ChannelName,
    tx: tokio::sync::mpsc::Sender<MediaPacket>,
) {
    let mut last: std::collections::HashMap<(u32, Track), i64> = std::collections::HashMap::new();
    // Where this worker is in the stream: a new subscription continues from there.
    let mut position: Option<(u64, i128)> = None;
    loop {
        let start = match position {
            Some((sequence, stream_created)) => livefleet_bus::MediaStart::After {
                sequence,
                stream_created,
            },
            None => livefleet_bus::MediaStart::LatestKeyframe,
        };
        // Bounded: on a cluster electing the stream's new leader, a request
        // can hang for the client's whole timeout; trying again soon wins.
        let attempt = match tokio::time::timeout(
            SUBSCRIBE_WITHIN,
            livefleet_bus::subscribe_media(&js, &channel, start),
        )
        .await
        {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {SUBSCRIBE_WITHIN:?}")),
        };
        let mut subscription = match attempt {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%channel, error = %e, "cannot subscribe to the media; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                if tx.is_closed() {
                    return;
                }
                continue;
            }
        };
        loop {
            match tokio::time::timeout(RESUBSCRIBE_AFTER, subscription.next()).await {
                Ok(Some(Ok((seq, p)))) => {
                    position = Some((seq, subscription.stream_created()));
                    if p.kind == PacketKind::Frame {
                        let key = (p.session, p.track);
                        if last.get(&key).is_some_and(|d| p.dts_ms <= *d) {
                            continue;
                        }
                        last.insert(key, p.dts_ms);
                    }
                    if tx.send(p).await.is_err() {
                        return;
                    }
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(%channel, error = %e, "media subscription error")
                }
                Ok(None) => {
                    tracing::warn!(%channel, "media subscription ended; subscribing again");
                    break;
                }
                Err(_) => {
                    if tx.is_closed() {
                        return;
                    }
                    tracing::debug!(%channel, "no media for {RESUBSCRIBE_AFTER:?}; subscribing again where this worker was");
                    break;
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
