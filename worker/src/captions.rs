//! Closed captions kept whole through a rendition's cadence.
//!
//! Broadcast sources carry CEA-608/708 captions as ATSC A/53 `cc_data` in
//! their H.264/HEVC SEI; FFmpeg's decoder hands each frame's `cc_data` over
//! as side data, the scalers keep it, and libx264 and NVENC write it back
//! into the rendition (their `a53cc` option, on by default). The cadence
//! (`cadence.rs`) is where it would be lost: a 60 fps source thinned to a
//! 30 fps rung drops every other frame and half of the caption bytes with
//! it, which leaves nothing a decoder can read; a repeated frame would say
//! its captions twice. So the captions of a dropped frame ride on the next
//! frame encoded (at most 31 `cc_data` triplets a frame, what A/53 can say;
//! the rest waits for the frame after), and a repeat says nothing of its
//! own. The ffmpeg CLI (5.1) loses them on the same thinning.
//! Record: docs/design/captions.md.

use std::collections::VecDeque;

use ff::frame::{self, side_data::Type};
use ffmpeg_next as ff;

/// The most `cc_data` triplets one picture carries (A/53's 5-bit `cc_count`).
const MAX_TRIPLETS: usize = 31;

/// The most triplets waiting: a second of full pictures at 30 fps. A source
/// sending more than the renditions' pictures can carry (a lying or broken
/// inserter) loses its oldest bytes instead of growing without bound.
const MAX_WAITING: usize = 30 * MAX_TRIPLETS;

/// Caption triplets waiting for a frame to ride on.
#[derive(Default)]
pub(crate) struct CaptionCarry {
    waiting: VecDeque<[u8; 3]>,
}

impl CaptionCarry {
    /// A frame the cadence drops: its captions go with the next frame sent.
    pub(crate) fn dropped(&mut self, f: &frame::Video) {
        if let Some(sd) = f.side_data(Type::A53CC) {
            self.waiting.extend(meaningful(sd.data()));
            self.bound();
        }
    }

    fn bound(&mut self) {
        let over = self.waiting.len().saturating_sub(MAX_WAITING);
        if over > 0 {
            self.waiting.drain(..over);
            tracing::warn!(
                dropped_triplets = over,
                "more caption data than the renditions' pictures carry; the oldest is dropped"
            );
        }
    }

    /// Before `f` is encoded: the captions waiting, then its own, as many as
    /// one picture carries.
    pub(crate) fn onto(&mut self, f: &mut frame::Video) {
        if self.waiting.is_empty() {
            return;
        }
        if let Some(sd) = f.side_data(Type::A53CC) {
            let own: Vec<[u8; 3]> = meaningful(sd.data()).collect();
            self.waiting.extend(own);
            self.bound();
        }
        let take = self.waiting.len().min(MAX_TRIPLETS);
        let bytes: Vec<u8> = self.waiting.drain(..take).flatten().collect();
        f.remove_side_data(Type::A53CC);
        if let Some(mut sd) = f.new_side_data(Type::A53CC, bytes.len()) {
            // SAFETY: the side data was just allocated with `bytes.len()` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), (*sd.as_mut_ptr()).data, bytes.len());
            }
        }
    }

    /// After `f` was encoded: a repeat of it must not say its captions again.
    pub(crate) fn said(f: &mut frame::Video) {
        f.remove_side_data(Type::A53CC);
    }
}

/// Media (90 kHz) after which a source that has carried no captions is
/// taken as having none: caption inserters send `cc_data` with every
/// picture, padding included, from the start.
const CAPTIONS_EXPECTED_WITHIN_90K: i64 = 10 * 90_000;

/// Where the source and the profile disagree about captions: players list
/// only the services the manifests declare (the profile's `captions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaptionNotice {
    /// The source carries captions the profile does not declare.
    Undeclared,
    /// The profile declares captions the source has not carried.
    Missing,
}

/// Watches a session's decoded frames for captions, to tell the operator
/// once where the source and the profile disagree.
pub(crate) struct CaptionWatch {
    declared: bool,
    first_90k: Option<i64>,
    settled: bool,
}

impl CaptionWatch {
    pub(crate) fn new(declared: bool) -> Self {
        Self {
            declared,
            first_90k: None,
            settled: false,
        }
    }

    /// A decoded frame at `pts_90k`; a notice at most once a session.
    pub(crate) fn frame(&mut self, f: &frame::Video, pts_90k: i64) -> Option<CaptionNotice> {
        if self.settled {
            return None;
        }
        let first = *self.first_90k.get_or_insert(pts_90k);
        if f.side_data(Type::A53CC).is_some() {
            self.settled = true;
            return (!self.declared).then_some(CaptionNotice::Undeclared);
        }
        if pts_90k.saturating_sub(first) >= CAPTIONS_EXPECTED_WITHIN_90K {
            self.settled = true;
            return self.declared.then_some(CaptionNotice::Missing);
        }
        None
    }
}

/// The triplets of `cc_data` that carry something: valid, and not CEA-608's
/// null pair (padding, which a picture that carries more needs no longer).
fn meaningful(cc_data: &[u8]) -> impl Iterator<Item = [u8; 3]> + '_ {
    cc_data
        .chunks_exact(3)
        .map(|t| [t[0], t[1], t[2]])
        .filter(|t| {
            let valid = t[0] & 0x04 != 0;
            let cea608 = t[0] & 0x03 < 2;
            valid && !(cea608 && t[1] & 0x7f == 0 && t[2] & 0x7f == 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_with(cc: &[u8]) -> frame::Video {
        let mut f = frame::Video::empty();
        let mut sd = f.new_side_data(Type::A53CC, cc.len()).unwrap();
        // SAFETY: allocated with cc.len() bytes just above.
        unsafe { std::ptr::copy_nonoverlapping(cc.as_ptr(), (*sd.as_mut_ptr()).data, cc.len()) };
        f
    }

    fn cc_of(f: &frame::Video) -> Vec<u8> {
        f.side_data(Type::A53CC)
            .map(|s| s.data().to_vec())
            .unwrap_or_default()
    }

    /// Field 1 carries `a b`, field 2 padding: one 30 fps picture's `cc_data`.
    fn picture(a: u8, b: u8) -> Vec<u8> {
        vec![0xfc, a, b, 0xf9, 0x80, 0x80]
    }

    #[test]
    fn a_dropped_frames_captions_ride_on_the_next_one() {
        let mut carry = CaptionCarry::default();
        carry.dropped(&frame_with(&picture(0x94, 0x20)));
        let mut kept = frame_with(&picture(0xc8, 0x45));
        carry.onto(&mut kept);
        assert_eq!(cc_of(&kept), vec![0xfc, 0x94, 0x20, 0xfc, 0xc8, 0x45]);
    }

    #[test]
    fn a_frame_with_nothing_waiting_is_left_as_it_came() {
        let mut carry = CaptionCarry::default();
        carry.dropped(&frame_with(&picture(0x80, 0x80)));
        let mut kept = frame_with(&picture(0xc8, 0x45));
        carry.onto(&mut kept);
        assert_eq!(cc_of(&kept), picture(0xc8, 0x45), "padding is not carried");
        let mut bare = frame::Video::empty();
        carry.onto(&mut bare);
        assert!(cc_of(&bare).is_empty());
    }

    #[test]
    fn no_picture_carries_more_than_a53_can_say() {
        let mut carry = CaptionCarry::default();
        for k in 0..40u8 {
            carry.dropped(&frame_with(&[0xfe, k, k]));
        }
        let mut first = frame::Video::empty();
        carry.onto(&mut first);
        assert_eq!(cc_of(&first).len(), 31 * 3);
        let mut second = frame::Video::empty();
        carry.onto(&mut second);
        assert_eq!(cc_of(&second).len(), 9 * 3, "the rest goes with the next");
        assert_eq!(cc_of(&second)[1], 31, "in order");
    }

    #[test]
    fn a_disagreement_with_the_profile_is_told_once() {
        let captioned = frame_with(&picture(0x80, 0x80));
        let bare = frame::Video::empty();
        let mut w = CaptionWatch::new(false);
        assert_eq!(w.frame(&bare, 0), None);
        assert_eq!(w.frame(&captioned, 3000), Some(CaptionNotice::Undeclared));
        assert_eq!(w.frame(&captioned, 6000), None, "once");

        let mut w = CaptionWatch::new(true);
        assert_eq!(w.frame(&bare, 90_000), None);
        assert_eq!(w.frame(&bare, 90_000 + 9 * 90_000), None);
        assert_eq!(
            w.frame(&bare, 90_000 + 10 * 90_000),
            Some(CaptionNotice::Missing)
        );
        assert_eq!(w.frame(&bare, 90_000 + 20 * 90_000), None, "once");

        let mut w = CaptionWatch::new(true);
        assert_eq!(w.frame(&captioned, 0), None, "they agree");
        assert_eq!(w.frame(&bare, 20 * 90_000), None);
        let mut w = CaptionWatch::new(false);
        assert_eq!(w.frame(&bare, 20 * 90_000), None, "they agree");
    }

    #[test]
    fn a_flood_of_captions_stays_bounded_and_keeps_the_newest() {
        let mut carry = CaptionCarry::default();
        for k in 0..200u32 {
            let cc: Vec<u8> = (0..31).flat_map(|_| [0xfe, (k % 128) as u8, 1]).collect();
            carry.dropped(&frame_with(&cc));
        }
        assert_eq!(carry.waiting.len(), MAX_WAITING);
        assert_eq!(carry.waiting.back().unwrap()[1], (199 % 128) as u8);
    }

    #[test]
    fn a_repeat_says_nothing_again() {
        let mut f = frame_with(&picture(0xc8, 0x45));
        CaptionCarry::said(&mut f);
        assert!(cc_of(&f).is_empty());
    }
}
