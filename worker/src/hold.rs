//! The last picture held while the audio goes on without video.
//!
//! A file whose audio runs past its video (a music track over a short
//! clip, a video stream of one still frame), or a live publisher whose
//! camera stalls while its microphone goes on, has audio where there is no
//! picture. Left alone, the video track ended (or stopped) there: the audio
//! after it went into one long last audio segment (10 s for 8 s of extra
//! audio), the video playlist lacked those segments, and players stopped
//! where the video did, the audio after it never heard. So the renditions
//! repeat their last picture, on the segment grid, until the audio's end:
//! at the end of any session, where the audio runs past the video by more
//! than [`END_AFTER_90K`]; in a live session, once more than
//! [`LIVE_AFTER_90K`] of audio has come with no video packet between, a
//! little behind the audio ([`LIVE_LAG_90K`]), as broadcast encoders repeat
//! the last frame on input loss. What starts a live hold is the order
//! packets arrive in, not their timestamps: a publisher whose audio is
//! stamped ahead of its video still sends video between, and is never held
//! for. The next video packet ends the hold; a decoded picture that comes
//! back covered by held ones is dropped, and the ones after it take over.
//! A file's audio leading its video mid-file is left alone (a muxer's
//! interleave says nothing of time). Audio that starts before a session's
//! first picture by more than [`END_AFTER_90K`] (an MPEG-TS capture that
//! begins before the first keyframe, a Matroska file whose video starts
//! 3 s in) starts the timeline, and the first picture is held from there
//! ([`audio_lead`]); before, that audio was cut.
//! Record: docs/design/bad-input.md.

use ffmpeg_next::{Rational, Rescale};

use crate::encoder::VIDEO_TIME_BASE;

/// At a session's end, audio past the video's end by more than this is
/// held for (less is left to the last audio segment).
const END_AFTER_90K: i64 = 45_000;
/// In a live session, more audio than this read with no video packet starts a hold.
const LIVE_AFTER_90K: i64 = 90_000;
/// How far the held pictures trail the live audio: a video that comes back
/// finds its place after them.
const LIVE_LAG_90K: i64 = 22_500;
/// An audio packet more than this past what came before is not counted
/// (a broken timestamp would otherwise hold the picture for hours).
const AUDIO_GAP_90K: i64 = 10 * 90_000;

/// What the session has seen of both tracks, on the broadcast's timeline (90 kHz).
#[derive(Debug)]
pub(crate) struct Hold {
    /// Ticks between held pictures.
    step: i64,
    /// The last picture sent (decoded or held).
    video_at: Option<i64>,
    /// Where the audio read so far ends.
    audio_end: Option<i64>,
    /// The held pictures since the last decoded one.
    held: u64,
    /// Where the audio read since the last video packet starts (live).
    audio_alone_from: Option<i64>,
    /// A live hold runs (until the next video packet).
    holding: bool,
    /// Where the first picture is stamped when the audio starts before it.
    lead_from: Option<i64>,
    /// The first picture's own time, held up to after a lead.
    lead_until: Option<i64>,
}

impl Hold {
    /// `step`: ticks between held pictures (a frame of the fastest rendition);
    /// `None` holds nothing (a passthrough rendition cannot repeat a picture).
    pub fn new(step: Option<i64>) -> Self {
        Self {
            step: step.unwrap_or(0),
            video_at: None,
            audio_end: None,
            held: 0,
            audio_alone_from: None,
            holding: false,
            lead_from: None,
            lead_until: None,
        }
    }

    /// The audio starts before the first picture: it is stamped at `start`
    /// (the timeline's start) and held up to its own time.
    pub fn lead_from(mut self, start: Option<i64>) -> Self {
        self.lead_from = start.filter(|_| self.step > 0);
        self
    }

    /// The held pictures from the first picture (stamped at the audio's
    /// start) up to its own time.
    pub fn lead_due(&mut self) -> Vec<i64> {
        let Some(until) = self.lead_until.take() else {
            return Vec::new();
        };
        let start = self.video_at.unwrap_or(until);
        tracing::info!(
            audio_lead_seconds = (until - start) as f64 / 90_000.0,
            "the audio starts before the video: the first picture is held from the audio's start"
        );
        let due = self.until(until);
        self.held = 0;
        due
    }

    /// A decoded picture at `pts`: the time it is stamped at (its own, or
    /// the audio's start for a session's first picture after a lead), or
    /// `None` when held pictures already cover it (it came back late; it
    /// is dropped).
    pub fn picture(&mut self, pts: i64) -> Option<i64> {
        if self.video_at.is_none() {
            if let Some(start) = self.lead_from.filter(|s| pts > *s) {
                self.video_at = Some(start);
                self.lead_until = Some(pts);
                return Some(start);
            }
        }
        if self.held > 0 {
            if self.video_at.is_some_and(|at| pts <= at) {
                return None;
            }
            tracing::info!(
                held_seconds = self.held_seconds(),
                "video is back; the held picture ends"
            );
            self.held = 0;
        }
        self.video_at = Some(self.video_at.map_or(pts, |at| at.max(pts)));
        Some(pts)
    }

    /// A video packet was read: a live hold ends.
    pub fn video_packet(&mut self) {
        self.audio_alone_from = None;
        self.holding = false;
    }

    /// An audio packet spanning `start..end`.
    pub fn audio(&mut self, start: i64, end: i64) {
        self.audio_alone_from.get_or_insert(start);
        let reach = self.audio_end.into_iter().chain(self.video_at).max();
        if reach.is_some_and(|r| start > r + AUDIO_GAP_90K) {
            return;
        }
        self.audio_end = Some(self.audio_end.map_or(end, |e| e.max(end)));
    }

    /// The held pictures due now in a live session: none until more than
    /// [`LIVE_AFTER_90K`] of audio came alone, then up to [`LIVE_LAG_90K`]
    /// behind it.
    pub fn live_due(&mut self) -> Vec<i64> {
        let (Some(video), Some(audio), Some(alone)) =
            (self.video_at, self.audio_end, self.audio_alone_from)
        else {
            return Vec::new();
        };
        if !self.holding && audio - alone <= LIVE_AFTER_90K {
            return Vec::new();
        }
        if !self.holding {
            self.holding = true;
            tracing::warn!(
                audio_lead_seconds = (audio - video) as f64 / 90_000.0,
                "the video stopped while the audio goes on: holding the last picture"
            );
        }
        self.until(audio - LIVE_LAG_90K)
    }

    /// The held pictures due at the session's end: up to the audio's end,
    /// where it runs past the video by more than [`END_AFTER_90K`].
    pub fn end_due(&mut self) -> Vec<i64> {
        let (Some(video), Some(audio)) = (self.video_at, self.audio_end) else {
            return Vec::new();
        };
        if self.held == 0 && audio - (video + self.step) <= END_AFTER_90K {
            return Vec::new();
        }
        let before = self.held;
        let due = self.until(audio - self.step);
        if !due.is_empty() {
            tracing::info!(
                audio_past_video_seconds = (audio - video - self.step) as f64 / 90_000.0,
                held_seconds = (self.held - before) as f64 * self.step as f64 / 90_000.0,
                "the audio runs past the video: the last picture is held to its end"
            );
        }
        due
    }

    /// Held pictures one step apart after the last picture, up to `until`
    /// (the last one starts before it).
    fn until(&mut self, until: i64) -> Vec<i64> {
        let mut due = Vec::new();
        let Some(mut at) = self.video_at.filter(|_| self.step > 0) else {
            return due;
        };
        while at + self.step <= until {
            at += self.step;
            due.push(at);
        }
        self.video_at = Some(at);
        self.held += due.len() as u64;
        due
    }

    fn held_seconds(&self) -> f64 {
        self.held as f64 * self.step as f64 / 90_000.0
    }
}

/// Where a session's timeline starts when its audio leads its first
/// picture (`origin`, in `video_tb`) by more than [`END_AFTER_90K`] and
/// less than [`AUDIO_GAP_90K`]: the first audio packet read before the
/// picture, in `video_tb`. `None`: the picture starts it, and the audio
/// before it is cut.
pub(crate) fn audio_lead(
    audio: impl IntoIterator<Item = i64>,
    audio_tb: Rational,
    origin: i64,
    video_tb: Rational,
) -> Option<i64> {
    let start = audio.into_iter().min()?.rescale(audio_tb, video_tb);
    let lead = (origin - start).rescale(video_tb, VIDEO_TIME_BASE);
    (lead > END_AFTER_90K && lead <= AUDIO_GAP_90K).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: i64 = 3000;

    #[test]
    fn audio_past_the_end_is_held_for_on_the_frame_grid() {
        let mut h = Hold::new(Some(STEP));
        for pts in (0..120).map(|n| n * STEP) {
            assert!(h.picture(pts).is_some());
        }
        // Video ends at 4 s (last frame 3.967 s); audio at 12 s.
        h.audio(0, 12 * 90_000);
        let due = h.end_due();
        assert_eq!(due.first(), Some(&(120 * STEP)));
        assert_eq!(due.last(), Some(&(12 * 90_000 - STEP)));
        assert_eq!(due.len(), 240);
        assert!(h.end_due().is_empty(), "held once");
    }

    #[test]
    fn a_little_audio_past_the_end_is_left_to_the_audio_segment() {
        let mut h = Hold::new(Some(STEP));
        h.picture(0);
        h.picture(STEP);
        h.audio(0, 2 * STEP + END_AFTER_90K);
        assert!(h.end_due().is_empty());
        // Nothing to hold with: a passthrough ladder, or no audio.
        let mut h = Hold::new(None);
        h.picture(0);
        h.audio(0, 10 * 90_000);
        assert!(h.end_due().is_empty());
        let mut h = Hold::new(Some(STEP));
        h.picture(0);
        assert!(h.end_due().is_empty());
    }

    #[test]
    fn a_live_stall_is_held_behind_the_audio_until_the_video_comes_back() {
        let mut h = Hold::new(Some(STEP));
        h.video_packet();
        h.picture(0);
        h.audio(0, 90_000);
        assert!(h.live_due().is_empty(), "1 s of audio alone: no hold yet");
        h.audio(90_000, 90_000 + 1920);
        let due = h.live_due();
        assert_eq!(due.first(), Some(&STEP));
        assert!(*due.last().unwrap() <= 90_000 + 1920 - LIVE_LAG_90K);
        // Each packet of audio after that holds on behind it.
        h.audio(92_000, 96_000);
        assert!(h.live_due().iter().all(|p| *p <= 96_000 - LIVE_LAG_90K));
        // A video packet ends the hold; a late picture the hold covered is
        // dropped, the next one takes over.
        h.video_packet();
        h.audio(96_000, 98_000);
        assert!(h.live_due().is_empty());
        assert_eq!(h.picture(60_000), None);
        assert_eq!(h.picture(96_000), Some(96_000));
        assert!(h.live_due().is_empty());
    }

    #[test]
    fn audio_stamped_ahead_of_its_video_is_not_a_stall() {
        // Every packet of audio 2 s ahead of the video, but sent between video packets.
        let mut h = Hold::new(Some(STEP));
        for n in 0..300 {
            h.video_packet();
            assert!(h.picture(n * STEP).is_some());
            h.audio(180_000 + n * STEP, 180_000 + (n + 1) * STEP);
            assert!(h.live_due().is_empty(), "held at frame {n}");
        }
    }

    #[test]
    fn audio_before_the_first_picture_holds_it_from_the_audio_s_start() {
        let ms = Rational::new(1, 1000);
        // Audio from 1.4 s, the first picture at 2.9 s: the timeline starts at 1.4 s.
        assert_eq!(audio_lead([1500, 1400, 1421], ms, 2900, ms), Some(1400));
        // A lead under half a second, or beyond 10 s, is cut as before.
        assert_eq!(audio_lead([2500], ms, 2900, ms), None);
        assert_eq!(audio_lead([0], ms, 20_000, ms), None);
        assert_eq!(audio_lead([], ms, 2900, ms), None);
        // The first picture (1.5 s into the timeline) is stamped at its
        // start and held up to its own time; the next one follows it.
        let mut h = Hold::new(Some(STEP)).lead_from(Some(0));
        assert_eq!(h.picture(135_000), Some(0));
        let due = h.lead_due();
        assert_eq!((due.len(), due.last()), (45, Some(&135_000)));
        assert_eq!(h.picture(138_000), Some(138_000));
        assert!(h.lead_due().is_empty());
        // Without a step (a passthrough rendition) nothing is held.
        let mut h = Hold::new(None).lead_from(Some(0));
        assert_eq!(h.picture(135_000), Some(135_000));
    }

    #[test]
    fn audio_far_past_what_came_before_is_not_counted() {
        let mut h = Hold::new(Some(STEP));
        h.picture(0);
        h.audio(0, 90_000);
        h.audio(3600 * 90_000, 3600 * 90_000 + 1920);
        let due = h.end_due();
        assert_eq!(
            due.last(),
            Some(&(90_000 - STEP)),
            "held to the audio's first second only"
        );
    }
}
