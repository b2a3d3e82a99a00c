//! Where compressed media comes from: a file or URL FFmpeg can open, or the
//! media packets of a live channel. Both look the same to the pipeline: codec
//! parameters per track, then packets stamped in each track's time base.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ff::{codec, format, media, Rational, Rescale};
use ffmpeg_next as ff;
use livefleet_base::Track;

use crate::cut_short::check_boxes;
pub use crate::cut_short::CutShort;
use crate::joins::Joins;
use crate::PipelineError;

/// What a decoder needs to know about one elementary stream.
pub struct StreamInfo {
    pub parameters: codec::Parameters,
    pub time_base: Rational,
    /// Nominal frame rate, when the container declares one.
    pub frame_rate: Option<Rational>,
    /// How the decoded picture is turned to be shown (a file's display matrix).
    pub rotation: crate::upright::Rotation,
}

/// The tracks of one source.
pub struct SourceInfo {
    pub video: StreamInfo,
    pub audio: Option<StreamInfo>,
    /// Declared duration in seconds, when known (files); drives progress.
    pub duration: Option<f64>,
}

/// A source of compressed packets for one publish session.
pub trait PacketSource: Send {
    fn info(&self) -> &SourceInfo;
    /// The next packet, `Ok(None)` at the end of the session.
    fn next_packet(&mut self) -> Result<Option<(Track, ff::Packet)>, PipelineError>;
    /// Whether packets come as they are published (read in time order, so
    /// audio leading the video means the video stalled: `crate::hold`).
    fn live(&self) -> bool {
        false
    }
}

/// A file or URL opened with FFmpeg's demuxers.
pub struct FileSource {
    input: format::context::Input,
    info: SourceInfo,
    video_index: usize,
    audio_index: Option<usize>,
    name: String,
    last_seconds: f64,
    /// The first video packet's time: the input read so far is the span
    /// from it to `last_seconds`.
    first_seconds: Option<f64>,
    /// Where the audio read so far starts and ends.
    audio_seconds: Option<(f64, f64)>,
    /// Set from outside (a Ctrl-C) to end the input where it is.
    stop: Option<Arc<AtomicBool>>,
    /// Joins where the timestamps jump, for the formats whose timestamps may
    /// (MPEG-TS); `None` for the others.
    joins: Option<Joins>,
    /// The declared duration as read, before any join moved it.
    declared: Option<f64>,
    /// Told of the declared duration as joins move it (the progress bar).
    progress: Option<Arc<crate::progress::Progress>>,
}

impl FileSource {
    pub fn open(name: &str) -> Result<Self, PipelineError> {
        Self::open_until(name, None)
    }

    /// Opens `name`; once `stop` is set the input ends at the next packet,
    /// and a read blocked on the network is interrupted.
    pub fn open_until(name: &str, stop: Option<Arc<AtomicBool>>) -> Result<Self, PipelineError> {
        // `-` is standard input, as the ffmpeg CLI reads it.
        let name = if name == "-" { "pipe:0" } else { name };
        if let Err(reason) = check_boxes(std::path::Path::new(name)) {
            return Err(PipelineError::CutShort {
                input: name.to_owned(),
                reason,
            });
        }
        let opened = match stop.clone() {
            Some(stop) => format::input_with_interrupt(&name, move || stop.load(Ordering::Relaxed)),
            None => format::input(&name),
        };
        let input = opened.map_err(|source| PipelineError::OpenInput {
            input: name.to_owned(),
            source,
        })?;
        // A cover picture (an audio file's artwork, a thumbnail) is a video
        // stream of one frame, not the video.
        let still = |s: &format::stream::Stream| {
            s.disposition()
                .contains(format::stream::Disposition::ATTACHED_PIC)
        };
        let video = input
            .streams()
            .best(media::Type::Video)
            .filter(|s| !still(s))
            .or_else(|| {
                input
                    .streams()
                    .find(|s| s.parameters().medium() == media::Type::Video && !still(s))
            })
            .ok_or_else(|| PipelineError::NoVideoStream {
                input: name.to_owned(),
                cover_only: input.streams().any(|s| still(&s)),
            })?;
        let video_index = video.index();
        let video_id = video.parameters().id();
        if ff::decoder::find(video_id).is_none() || video_id == codec::Id::None {
            let codec = if video_id == codec::Id::None {
                // SAFETY: reading the FourCC field of the stream's parameters.
                let tag = unsafe { (*video.parameters().as_ptr()).codec_tag }.to_le_bytes();
                let printable = tag.iter().all(|b| b.is_ascii_graphic());
                if printable && tag != [0; 4] {
                    format!(
                        "with tag {:?} (unknown to FFmpeg)",
                        String::from_utf8_lossy(&tag)
                    )
                } else {
                    "(unknown to FFmpeg)".to_string()
                }
            } else {
                format!("{video_id:?}")
            };
            return Err(PipelineError::UnsupportedCodec { codec });
        }
        let video_info = StreamInfo {
            parameters: video.parameters(),
            time_base: video.time_base(),
            frame_rate: base_frame_rate(video.rate(), video.avg_frame_rate()),
            rotation: video
                .side_data()
                .find(|d| d.kind() == ff::codec::packet::side_data::Type::DisplayMatrix)
                .map(|d| crate::upright::Rotation::from_display_matrix(d.data()))
                .unwrap_or_default(),
        };
        let audio = input
            .streams()
            .best(media::Type::Audio)
            .filter(|a| ff::decoder::find(a.parameters().id()).is_some());
        let audio_index = audio.as_ref().map(|a| a.index());
        let audio_info = audio.map(|a| StreamInfo {
            parameters: a.parameters(),
            time_base: a.time_base(),
            frame_rate: None,
            rotation: Default::default(),
        });
        let duration = media_duration(&input, video_index);
        // SAFETY: reading the flags of the opened input's format.
        let discontinuous = unsafe {
            let format = (*input.as_ptr()).iformat;
            !format.is_null() && (*format).flags & ff::ffi::AVFMT_TS_DISCONT != 0
        };
        Ok(Self {
            joins: discontinuous.then(Joins::default),
            declared: duration,
            progress: None,
            info: SourceInfo {
                video: video_info,
                audio: audio_info,
                duration,
            },
            input,
            video_index,
            audio_index,
            name: name.to_owned(),
            last_seconds: 0.0,
            first_seconds: None,
            audio_seconds: None,
            stop,
        })
    }

    /// Keeps `progress`'s declared duration true as joins move it.
    pub fn report_to(&mut self, progress: Arc<crate::progress::Progress>) {
        self.progress = Some(progress);
    }

    /// Seconds of video read from the input so far (timestamp jumps
    /// joined): what the input holds, whatever the output kept of it.
    pub fn read_seconds(&self) -> f64 {
        self.first_seconds
            .map_or(0.0, |first| (self.last_seconds - first).max(0.0))
    }

    /// Seconds of the input read so far, from its earliest track's start to
    /// its furthest track's end: audio that starts before the video, or runs
    /// past it, is input too (the renditions hold a picture for it), so a
    /// file is truncated only where every track ends early.
    pub fn reached_seconds(&self) -> f64 {
        let video = self.first_seconds.map(|first| (first, self.last_seconds));
        let (start, end) = [video, self.audio_seconds]
            .into_iter()
            .flatten()
            .fold((f64::MAX, f64::MIN), |(s, e), (a, b)| (s.min(a), e.max(b)));
        (end - start).max(0.0)
    }

    /// Timestamp jumps joined so far.
    pub fn joins(&self) -> u32 {
        self.joins.as_ref().map_or(0, |j| j.count)
    }

    /// Moves a packet by the joins' offset, first making a join if the
    /// packet's decode time jumped.
    fn join(&mut self, track: Track, packet: &mut ff::Packet) {
        let Some(joins) = self.joins.as_mut() else {
            return;
        };
        let time_base = match track {
            Track::Video => self.info.video.time_base,
            Track::Audio => match &self.info.audio {
                Some(a) => a.time_base,
                None => return,
            },
        };
        let us = Rational::new(1, 1_000_000);
        if let Some(dts) = packet.dts() {
            let duration = packet.duration().rescale(time_base, us);
            if let Some(jump) = joins.place(track, dts.rescale(time_base, us), duration) {
                tracing::warn!(
                    input = %self.name,
                    track = ?jump.track,
                    expected_seconds = jump.expected_us as f64 / 1e6,
                    found_seconds = jump.found_us as f64 / 1e6,
                    "the input's timestamps jump (recordings joined end to end, a splice); joined: what follows continues the timeline, as the ffmpeg CLI joins it"
                );
                if let Some(declared) = self.declared {
                    let moved = (declared - joins.removed_us as f64 / 1e6).max(0.0);
                    self.info.duration = Some(moved);
                    if let Some(p) = &self.progress {
                        p.duration_ms
                            .store((moved * 1000.0) as u64, Ordering::Relaxed);
                    }
                }
            }
        }
        let offset = joins.offset_us().rescale(us, time_base);
        if offset != 0 {
            packet.set_dts(packet.dts().map(|t| t + offset));
            packet.set_pts(packet.pts().map(|t| t + offset));
        }
    }
}

impl PacketSource for FileSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_packet(&mut self) -> Result<Option<(Track, ff::Packet)>, PipelineError> {
        loop {
            let stopped = || {
                self.stop
                    .as_ref()
                    .is_some_and(|s| s.load(Ordering::Relaxed))
            };
            if stopped() {
                return Ok(None);
            }
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ff::Error::Eof) => return Ok(None),
                Err(ff::Error::Exit) if stopped() => return Ok(None),
                Err(source) => {
                    tracing::warn!(input = %self.name, at_seconds = self.last_seconds, error = %source, "input read failed");
                    return Err(PipelineError::Read {
                        at_seconds: self.last_seconds,
                        source,
                    });
                }
            }
            let track = if packet.stream() == self.video_index {
                Track::Video
            } else if Some(packet.stream()) == self.audio_index {
                Track::Audio
            } else {
                continue;
            };
            self.join(track, &mut packet);
            if track == Track::Video {
                if let Some(ts) = packet.dts().or(packet.pts()) {
                    self.last_seconds = ts as f64 * f64::from(self.info.video.time_base);
                    self.first_seconds.get_or_insert(self.last_seconds);
                }
            } else if let (Some(ts), Some(audio)) = (packet.pts(), &self.info.audio) {
                let tb = f64::from(audio.time_base);
                let (start, end) = (ts as f64 * tb, (ts + packet.duration().max(0)) as f64 * tb);
                let (first, last) = self.audio_seconds.get_or_insert((start, end));
                (*first, *last) = (first.min(start), last.max(end));
            }
            return Ok(Some((track, packet)));
        }
    }
}

/// How long the video lasts, as the file declares it: the video stream's own
/// duration, else the container's less its start time. The container's
/// duration alone is no measure of the media: a file whose timestamps start
/// at 30 s (an edit list, `-output_ts_offset`) declares 36 s for 6 s of video.
fn media_duration(input: &format::context::Input, video_index: usize) -> Option<f64> {
    let stream = input.stream(video_index)?;
    if stream.duration() > 0 {
        return Some(stream.duration() as f64 * f64::from(stream.time_base()));
    }
    let tb = f64::from(ff::ffi::AV_TIME_BASE);
    // SAFETY: reading a plain field of the opened format context.
    let start = unsafe { (*input.as_ptr()).start_time };
    let start = if start == ff::ffi::AV_NOPTS_VALUE {
        0
    } else {
        start.max(0)
    };
    (input.duration() > 0).then(|| (input.duration() - start).max(0) as f64 / tb)
}

/// A file's frame rate: the stream's base rate (the rate its timestamps are
/// on: 30 for a 30 fps capture that drops frames, where the average says 14),
/// or the average where the base rate is missing or absurd (a container
/// clock, such as FLV's 1000). As the ffmpeg CLI guesses it.
fn base_frame_rate(base: Rational, average: Rational) -> Option<Rational> {
    let valid = |r: Rational| r.numerator() > 0 && r.denominator() > 0;
    match (valid(base), valid(average)) {
        (true, true) if f64::from(base) > 210.0 && f64::from(average) < 70.0 => Some(average),
        (true, _) if f64::from(base) <= 240.0 => Some(base),
        (_, true) => Some(average),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_rate_wins_unless_it_is_a_container_clock() {
        let r = |n, d| Rational::new(n, d);
        assert_eq!(base_frame_rate(r(30, 1), r(2100, 149)), Some(r(30, 1)));
        assert_eq!(base_frame_rate(r(1000, 1), r(30, 1)), Some(r(30, 1)));
        assert_eq!(base_frame_rate(r(0, 1), r(25, 1)), Some(r(25, 1)));
        assert_eq!(
            base_frame_rate(r(30000, 1001), r(0, 0)),
            Some(r(30000, 1001))
        );
        assert_eq!(base_frame_rate(r(0, 0), r(0, 0)), None);
    }
}
