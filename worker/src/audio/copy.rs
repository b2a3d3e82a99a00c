//! A copied audio rendition: the source's AAC frames as they are, and
//! silence where the source has none, as the encoded renditions have it
//! (before audio that starts late in a session, after audio that stops
//! before the video, through a session that has none yet). The silence is
//! one AAC-LC frame of digital silence, encoded once at the source's rate
//! and channels and repeated: it decodes with the source's configuration,
//! so the init segment stays the source's. Before, a copied rendition had
//! nothing there: a file whose audio stopped 3 s before its video ended
//! its audio playlist with a 1 s segment, and players stalled there.
//! A source in another AAC profile (HE-AAC's SBR) is not padded (an LC
//! frame does not decode as one of its frames); a log line says so.

use bytes::Bytes;
use ff::{format, frame, ChannelLayout};
use ffmpeg_next as ff;
use livefleet_packager::{AudioConfig, Sample};
use livefleet_profile::AudioRendition;

use crate::encoder;

/// Samples in an AAC frame.
const AAC_FRAME: i64 = 1024;
/// MPEG-4 audio object type of AAC-LC.
const AAC_LC: u8 = 2;

/// What a copied rendition has sent, and its frame of silence.
pub(super) struct CopyTrack {
    /// Where what was sent ends (samples at the track's rate).
    next: Option<i64>,
    /// Whether any of the source's audio was copied.
    heard: bool,
    /// One AAC frame of silence that decodes with the source's configuration.
    silence: Option<Bytes>,
}

impl CopyTrack {
    /// A copy of a source whose AudioSpecificConfig is `asc`.
    pub fn open(rendition: &AudioRendition, asc: &[u8]) -> Self {
        let silence = silent_frame(rendition, asc);
        if silence.is_none() {
            tracing::info!(
                rendition = %rendition.name,
                "the copied audio is not AAC-LC: where the source has no audio, this rendition has none"
            );
        }
        Self {
            next: None,
            heard: false,
            silence,
        }
    }

    /// Whether any of the source's audio was copied.
    pub fn heard(&self) -> bool {
        self.heard
    }

    /// Where what was sent ends (samples).
    pub fn end(&self) -> Option<i64> {
        self.next
    }

    /// The samples for a source frame at `at` (samples, on the timeline)
    /// lasting `duration` (0: unknown, an AAC frame): the silence before
    /// it where the track has a hole of a frame or more, then the frame.
    /// A frame that starts a little before what was sent ends (timestamps
    /// rounded to milliseconds) follows it; one that lies wholly before it
    /// is dropped.
    pub fn packet(&mut self, at: i64, duration: i64, data: Bytes, base: i64) -> Vec<Sample> {
        if at < base {
            return Vec::new();
        }
        let mut at = at;
        if let Some(next) = self.next.filter(|n| at < *n) {
            if at + AAC_FRAME <= next {
                return Vec::new();
            }
            at = next;
        }
        let mut out = self.silence_before(at, base);
        self.heard = true;
        out.push(sample(at, None, data));
        self.next = Some(at + if duration > 0 { duration } else { AAC_FRAME });
        out
    }

    /// Silence from where the track ends (or `base`) until `until` is covered.
    pub fn silence_to(&mut self, until: i64, base: i64) -> Vec<Sample> {
        let Some(silence) = &self.silence else {
            return Vec::new();
        };
        let mut at = self.next.unwrap_or(base);
        let mut out = Vec::new();
        while at < until {
            out.push(sample(at, Some(AAC_FRAME as u32), silence.clone()));
            at += AAC_FRAME;
        }
        if !out.is_empty() {
            self.next = Some(at);
        }
        out
    }

    /// Whole frames of silence ending where a frame at `at` starts.
    fn silence_before(&self, at: i64, base: i64) -> Vec<Sample> {
        let Some(silence) = &self.silence else {
            return Vec::new();
        };
        let from = self.next.unwrap_or(base);
        let frames = (at - from).max(0) / AAC_FRAME;
        (1..=frames)
            .rev()
            .map(|k| sample(at - k * AAC_FRAME, Some(AAC_FRAME as u32), silence.clone()))
            .collect()
    }
}

fn sample(at: i64, duration: Option<u32>, data: Bytes) -> Sample {
    Sample {
        dts: at,
        pts: at,
        duration,
        keyframe: true,
        segment_start: false,
        data,
    }
}

/// One AAC-LC frame of digital silence at the rate and channels `asc`
/// says, in steady state (the encoder's first frames carry its priming);
/// `None` for another profile, or where the encoder fails.
fn silent_frame(rendition: &AudioRendition, asc: &[u8]) -> Option<Bytes> {
    let config = AudioConfig::new(Bytes::copy_from_slice(asc)).ok()?;
    if config.object_type() != AAC_LC {
        return None;
    }
    let (rate, channels) = (config.sample_rate(), config.channels());
    let mut enc =
        encoder::open_aac(rate, channels, rendition.bitrate, rendition.name.as_str()).ok()?;
    let planar = format::Sample::F32(format::sample::Type::Planar);
    let mut packet = ff::Packet::empty();
    let mut last = None;
    for n in 0..4 {
        let mut f = frame::Audio::new(
            planar,
            AAC_FRAME as usize,
            ChannelLayout::default(i32::from(channels)),
        );
        f.set_rate(rate);
        for ch in 0..usize::from(channels) {
            f.plane_mut::<f32>(ch).fill(0.0);
        }
        f.set_pts(Some(n * AAC_FRAME));
        enc.send_frame(&f).ok()?;
        while enc.receive_packet(&mut packet).is_ok() {
            last = packet.data().map(Bytes::copy_from_slice);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendition() -> AudioRendition {
        livefleet_profile::LadderProfile::from_yaml(
            "t",
            "name: t\nsegment_duration: 2\ngop: 2\nencoder: x264\nvideo:\n  - { name: 180p, width: 320, height: 180, bitrate: 300k }\naudio:\n  - { name: audio, bitrate: 128k, channels: 2, sample_rate: 48000, passthrough: true }\n",
        )
        .unwrap()
        .audio[0]
            .clone()
    }

    /// AAC-LC, 48 kHz, stereo.
    const LC_48K_STEREO: [u8; 2] = [0x11, 0x90];
    /// HE-AAC (SBR, object type 5), 24 kHz core and 48 kHz out, stereo.
    const HE_AAC: [u8; 3] = [0x2b, 0x11, 0x88];

    fn frames(samples: &[Sample]) -> Vec<(i64, bool)> {
        samples
            .iter()
            .map(|s| (s.dts, s.duration.is_some()))
            .collect()
    }

    #[test]
    fn audio_that_starts_late_follows_whole_frames_of_silence() {
        ff::init().unwrap();
        let mut t = CopyTrack::open(&rendition(), &LC_48K_STEREO);
        assert!(t.silence.as_ref().is_some_and(|s| !s.is_empty()));
        // The first frame at 3000 samples past the base of 100: two frames of silence before it.
        let got = t.packet(3100, 1024, Bytes::from_static(b"aac"), 100);
        assert_eq!(frames(&got), [(1052, true), (2076, true), (3100, false)]);
        assert!(t.heard());
        // A frame stamped a little early follows the last; one wholly before it is dropped.
        assert_eq!(
            frames(&t.packet(4100, 0, Bytes::new(), 100)),
            [(4124, false)]
        );
        assert!(t.packet(3000, 0, Bytes::new(), 100).is_empty());
        // After the source stops: silence to the video's end.
        let tail = t.silence_to(7000, 100);
        assert_eq!(frames(&tail), [(5148, true), (6172, true)]);
        assert_eq!(t.end(), Some(7196));
    }

    #[test]
    fn a_session_without_audio_yet_is_silent_from_its_base() {
        ff::init().unwrap();
        let mut t = CopyTrack::open(&rendition(), &LC_48K_STEREO);
        let got = t.silence_to(2048, 0);
        assert_eq!(frames(&got), [(0, true), (1024, true)]);
        assert!(!t.heard());
        // The first real frame right after it: no more silence.
        assert_eq!(
            frames(&t.packet(2048, 1024, Bytes::new(), 0)),
            [(2048, false)]
        );
    }

    #[test]
    fn he_aac_is_copied_without_silence() {
        ff::init().unwrap();
        let mut t = CopyTrack::open(&rendition(), &HE_AAC);
        assert!(t.silence_to(10_000, 0).is_empty());
        assert_eq!(frames(&t.packet(5000, 0, Bytes::new(), 0)), [(5000, false)]);
    }
}
