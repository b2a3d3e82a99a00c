//! What a decoded picture needs before the ladder sees it: interlaced
//! frames woven into progressive ones (`bwdif`), an HDR picture tone mapped
//! to SDR (`hdr.rs`), and a picture recorded on its side turned upright
//! (`upright.rs`). One filter chain, built on the first frame when its
//! format, size, field order and transfer are known; nothing at all (not
//! even a frame of delay) for a progressive, SDR, upright source.
//!
//! The web is progressive: players show an interlaced frame as it is, with
//! the combing of its two fields, and scaling it down blends the fields into
//! each other. Broadcast contribution encoders and capture cards still send
//! 1080i and 576i, so an interlaced source is deinterlaced once, before
//! every rendition, at the same frame rate (`send_frame`: one frame out per
//! frame in, so the ladder's cost does not double).

use std::collections::VecDeque;

use ff::frame;
use ffmpeg_next as ff;

use crate::filter_chain::{FilterChain, FilterError, Step};
use crate::hdr::Hdr;
use crate::source::StreamInfo;
use crate::upright::Rotation;

/// The deinterlacer: `bwdif` (motion adaptive, w3fdif and yadif combined),
/// only on frames flagged interlaced, one frame out per frame in.
const DEINTERLACE: &str = "mode=send_frame:parity=auto:deint=interlaced";

/// Threads of a chain that tone maps (its filters slice each frame).
const TONE_MAP_THREADS: i32 = 4;

/// Deinterlaces and turns decoded frames (push / pull).
pub(crate) struct Picture {
    rotation: Rotation,
    /// The stream says it is interlaced (its field order), before any frame.
    interlaced_stream: bool,
    chain: Chain,
    /// The times of the frames in the chain, in order: the filters keep one
    /// frame out per frame in, but rescale timestamps their own way.
    times: VecDeque<(Option<i64>, Option<i64>)>,
    /// Frames of a source that needs nothing, passed on as they are.
    ready: VecDeque<frame::Video>,
    /// The HDR transfer of the decoded frames (before any tone map).
    source_hdr: Option<Hdr>,
}

enum Chain {
    /// Not decided yet: waiting for the first frame.
    Undecided,
    None,
    /// The chain, and the [`Shape`] it was built for.
    Built(FilterChain, Shape),
}

/// What a filter chain is built for: the frames' format, size and HDR transfer.
type Shape = (i32, u32, u32, Option<Hdr>);

fn shape(frame: &frame::Video) -> Shape {
    // SAFETY: reading a plain field of a frame we own.
    let format = unsafe { (*frame.as_ptr()).format };
    (format, frame.width(), frame.height(), Hdr::of_frame(frame))
}

impl Picture {
    pub(crate) fn new(rotation: Rotation, interlaced_stream: bool) -> Self {
        Self {
            rotation,
            interlaced_stream,
            chain: Chain::Undecided,
            times: VecDeque::new(),
            ready: VecDeque::new(),
            source_hdr: None,
        }
    }

    /// The HDR transfer the source's decoded frames carry (`None`: SDR, or no frame yet).
    pub(crate) fn source_hdr(&self) -> Option<Hdr> {
        self.source_hdr
    }

    /// Hands over a decoded frame.
    pub(crate) fn push(&mut self, frame: frame::Video) -> Result<(), FilterError> {
        if matches!(&self.chain, Chain::Built(_, built) if *built != shape(&frame)) {
            // The decoder changed size, format or transfer mid-stream (an
            // in-band SPS): a filter configured for the old shape must not see it.
            // What the old chain holds goes first.
            self.drain()?;
            self.chain = Chain::Undecided;
        }
        if matches!(self.chain, Chain::Undecided) {
            self.source_hdr = Hdr::of_frame(&frame);
            self.chain = self.build(&frame)?;
        }
        match &mut self.chain {
            Chain::Built(chain, _) => {
                // SAFETY: reading a plain field of a frame we own.
                let best_effort = unsafe { (*frame.as_ptr()).best_effort_timestamp };
                let best_effort = (best_effort != ff::ffi::AV_NOPTS_VALUE).then_some(best_effort);
                self.times.push_back((frame.pts(), best_effort));
                chain.push(&frame)
            }
            _ => {
                self.ready.push_back(frame);
                Ok(())
            }
        }
    }

    /// The next frame ready for the ladder.
    pub(crate) fn pull(&mut self) -> Result<Option<frame::Video>, FilterError> {
        if let Some(f) = self.ready.pop_front() {
            return Ok(Some(f));
        }
        let Chain::Built(chain, _) = &mut self.chain else {
            return Ok(None);
        };
        let Some(mut out) = chain.pull()? else {
            return Ok(None);
        };
        let (pts, best_effort) = self.times.pop_front().unwrap_or((out.pts(), None));
        out.set_pts(pts);
        // SAFETY: plain fields of a frame we own.
        unsafe {
            (*out.as_mut_ptr()).best_effort_timestamp =
                best_effort.unwrap_or(ff::ffi::AV_NOPTS_VALUE);
        }
        Ok(Some(out))
    }

    /// No more frames: the ones the filters hold back come out of [`Self::pull`].
    pub(crate) fn finish(&mut self) -> Result<(), FilterError> {
        match &mut self.chain {
            Chain::Built(chain, _) => chain.finish(),
            _ => Ok(()),
        }
    }

    /// Ends the chain and moves what it held to the frames ready to go.
    fn drain(&mut self) -> Result<(), FilterError> {
        self.finish()?;
        let mut held = Vec::new();
        while let Some(f) = self.pull()? {
            held.push(f);
        }
        self.ready.extend(held);
        self.times.clear();
        Ok(())
    }

    fn build(&self, first: &frame::Video) -> Result<Chain, FilterError> {
        let interlaced = self.interlaced_stream || first.is_interlaced();
        let mut steps = Vec::new();
        if interlaced {
            steps.push(Step {
                name: "bwdif",
                options: DEINTERLACE.into(),
            });
        }
        let hdr = Hdr::of_frame(first);
        if let Some(h) = hdr {
            steps.extend(h.steps(first));
        }
        steps.extend(self.rotation.steps());
        if steps.is_empty() {
            return Ok(Chain::None);
        }
        let built = shape(first);
        let (format, width, height, _) = built;
        // SAFETY: reading a plain field of a decoded frame we own.
        let hw = unsafe { !(*first.as_ptr()).hw_frames_ctx.is_null() };
        if hw {
            tracing::warn!(
                interlaced,
                hdr = hdr.map(Hdr::name),
                degrees = self.rotation.degrees(),
                "frames in GPU memory are passed on as decoded (not deinterlaced, tone mapped or turned)"
            );
            return Ok(Chain::None);
        }
        let mut work = Vec::new();
        if interlaced {
            work.push("deinterlacing".to_string());
        }
        if let Some(h) = hdr {
            work.push(format!("tone mapping {} to SDR", h.name()));
        }
        if self.rotation != Rotation::Upright {
            work.push(format!("turning {}°", self.rotation.degrees()));
        }
        let what = format!("the source: {}", work.join(", "));
        tracing::info!(
            interlaced,
            hdr = hdr.map(Hdr::name),
            degrees = self.rotation.degrees(),
            "{what}"
        );
        let input = format!(
            "video_size={width}x{height}:pix_fmt={format}:time_base=1/90000:pixel_aspect=1/1"
        );
        // Deinterlacing and turning cost little; a tone map at 1080p costs
        // more than one core keeps up with at 30 fps (docs/design/bad-input.md).
        let threads = if hdr.is_some() { TONE_MAP_THREADS } else { 1 };
        FilterChain::new(what, &input, &steps, Some(threads), |_| Ok(()))
            .map(|c| Chain::Built(c, built))
    }
}

/// Whether the stream says its pictures are fields (a field order other
/// than progressive or unknown): a file's, after its first frames were probed.
pub(crate) fn interlaced(params: &ff::codec::Parameters) -> bool {
    // SAFETY: reading a plain field of parameters we hold.
    let order = unsafe { (*params.as_ptr()).field_order };
    !matches!(
        order,
        ff::ffi::AVFieldOrder::AV_FIELD_UNKNOWN | ff::ffi::AVFieldOrder::AV_FIELD_PROGRESSIVE
    )
}

/// Why a source is decoded on the CPU even where NVDEC could: the
/// deinterlacer and the turn are CPU filters.
pub(crate) fn cpu_decode_reason(stream: &StreamInfo) -> Option<&'static str> {
    if interlaced(&stream.parameters) {
        Some("the source is interlaced and is deinterlaced on the CPU")
    } else if Hdr::of_stream(&stream.parameters).is_some() {
        Some("the source is HDR and is tone mapped to SDR on the CPU")
    } else if stream.rotation != Rotation::Upright {
        Some("the source is recorded on its side and is turned upright on the CPU")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(picture: &mut Picture, pts: &[i64], interlaced: bool) -> Vec<frame::Video> {
        ff::init().unwrap();
        let mut out = Vec::new();
        for &p in pts {
            let mut f = frame::Video::new(ff::format::Pixel::YUV420P, 64, 32);
            f.set_pts(Some(p));
            // SAFETY: a plain field of a frame we own.
            unsafe { (*f.as_mut_ptr()).interlaced_frame = i32::from(interlaced) };
            picture.push(f).unwrap();
            while let Some(f) = picture.pull().unwrap() {
                out.push(f);
            }
        }
        picture.finish().unwrap();
        while let Some(f) = picture.pull().unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn a_turned_frame_keeps_its_time() {
        let mut p = Picture::new(Rotation::Clockwise, false);
        let out = frames(&mut p, &[0, 3000], false);
        let got: Vec<_> = out
            .iter()
            .map(|f| (f.width(), f.height(), f.pts()))
            .collect();
        assert_eq!(got, [(32, 64, Some(0)), (32, 64, Some(3000))]);
    }

    #[test]
    fn interlaced_frames_come_out_progressive_one_for_one() {
        let mut p = Picture::new(Rotation::Upright, false);
        let pts = [0, 3000, 6000, 9000];
        let out = frames(&mut p, &pts, true);
        assert_eq!(out.len(), pts.len(), "one frame out per frame in");
        for (f, want) in out.iter().zip(pts) {
            assert_eq!(f.pts(), Some(want));
            assert!(!f.is_interlaced(), "woven");
        }
    }

    #[test]
    fn a_size_change_mid_stream_gets_a_new_chain_and_loses_no_frame() {
        ff::init().unwrap();
        let mut p = Picture::new(Rotation::Clockwise, true);
        let mut out = Vec::new();
        for (i, (w, h)) in [(64, 32), (64, 32), (128, 64), (128, 64)]
            .into_iter()
            .enumerate()
        {
            let mut f = frame::Video::new(ff::format::Pixel::YUV420P, w, h);
            f.set_pts(Some(i as i64 * 3000));
            // SAFETY: a plain field of a frame we own.
            unsafe { (*f.as_mut_ptr()).interlaced_frame = 1 };
            p.push(f).unwrap();
            while let Some(f) = p.pull().unwrap() {
                out.push((f.width(), f.height(), f.pts()));
            }
        }
        p.finish().unwrap();
        while let Some(f) = p.pull().unwrap() {
            out.push((f.width(), f.height(), f.pts()));
        }
        assert_eq!(
            out,
            [
                (32, 64, Some(0)),
                (32, 64, Some(3000)),
                (64, 128, Some(6000)),
                (64, 128, Some(9000))
            ]
        );
    }

    #[test]
    fn a_progressive_upright_source_passes_through_without_delay() {
        let mut p = Picture::new(Rotation::Upright, false);
        ff::init().unwrap();
        let mut f = frame::Video::new(ff::format::Pixel::YUV420P, 64, 32);
        f.set_pts(Some(7));
        p.push(f).unwrap();
        assert_eq!(p.pull().unwrap().map(|f| f.pts()), Some(Some(7)));
    }
}
