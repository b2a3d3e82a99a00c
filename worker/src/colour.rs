//! The colour description every encoded rendition carries: how players are
//! to turn its Y'CbCr into RGB (matrix, range) and what that RGB means
//! (primaries, transfer).
//!
//! Scaling changes none of these, so a rendition says what the pictures fed
//! to the ladder say: the source's description, or BT.709 after the HDR tone
//! map. An encoder told nothing writes nothing, and players then guess, by
//! size: a BT.709 source's 360p rung read as BT.601 comes out with its greens
//! and reds shifted (the ffmpeg CLI carries the description; see
//! docs/design/bad-input.md). Where the source says no matrix, the renditions
//! say the one a player guesses for the source itself, so every rung is
//! shown as the source would be.

use ff::ffi::{
    AVColorPrimaries as P, AVColorRange as R, AVColorSpace as M, AVColorTransferCharacteristic as T,
};
use ff::{format, frame};
use ffmpeg_next as ff;
use livefleet_packager::VideoRange;

/// What a rendition's encoder writes into its bitstream (H.264/HEVC VUI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour {
    pub primaries: P,
    pub transfer: T,
    pub matrix: M,
    pub range: R,
}

impl Default for Colour {
    /// Nothing said: players guess.
    fn default() -> Self {
        Self {
            primaries: P::AVCOL_PRI_UNSPECIFIED,
            transfer: T::AVCOL_TRC_UNSPECIFIED,
            matrix: M::AVCOL_SPC_UNSPECIFIED,
            range: R::AVCOL_RANGE_UNSPECIFIED,
        }
    }
}

impl Colour {
    /// The renditions' description, from the first picture the ladder is fed
    /// (after deinterlacing, the tone map and turning).
    pub(crate) fn of_picture(first: &frame::Video) -> Self {
        // SAFETY: reading plain fields of a frame we hold.
        let said = unsafe {
            let f = first.as_ptr();
            Self {
                primaries: (*f).color_primaries,
                transfer: (*f).color_trc,
                matrix: (*f).colorspace,
                range: (*f).color_range,
            }
        };
        said.resolved(first.format(), first.width(), first.height())
    }

    /// `self` as the renditions carry it, for pictures of `format` and size:
    /// - a full-range `yuvj` format is made limited by the CPU scaler (the
    ///   only one that sees such frames), other frames keep their range;
    /// - a missing matrix is the one the primaries imply, else the one
    ///   players guess from the size (BT.709 from 1280 wide or above 576
    ///   lines, BT.601 below);
    /// - missing primaries and transfer stay missing: nothing says them.
    fn resolved(mut self, format: format::Pixel, width: u32, height: u32) -> Self {
        if is_full_range_format(format) {
            self.range = R::AVCOL_RANGE_MPEG;
        }
        if self.range == R::AVCOL_RANGE_UNSPECIFIED {
            self.range = R::AVCOL_RANGE_MPEG;
        }
        if self.matrix == M::AVCOL_SPC_UNSPECIFIED || self.matrix == M::AVCOL_SPC_RESERVED {
            self.matrix = match self.primaries {
                P::AVCOL_PRI_BT709 => M::AVCOL_SPC_BT709,
                P::AVCOL_PRI_SMPTE170M | P::AVCOL_PRI_SMPTE240M => M::AVCOL_SPC_SMPTE170M,
                P::AVCOL_PRI_BT470BG => M::AVCOL_SPC_BT470BG,
                P::AVCOL_PRI_BT2020 => M::AVCOL_SPC_BT2020_NCL,
                _ if width >= 1280 || height > 576 => M::AVCOL_SPC_BT709,
                _ => M::AVCOL_SPC_SMPTE170M,
            };
        }
        self
    }

    /// What manifests and init segments declare for such pictures: HDR only
    /// where they are still HDR (GPU frames are not tone mapped).
    pub(crate) fn video_range(&self) -> VideoRange {
        match self.transfer {
            T::AVCOL_TRC_SMPTE2084 => VideoRange::Pq,
            T::AVCOL_TRC_ARIB_STD_B67 => VideoRange::Hlg,
            _ => VideoRange::Sdr,
        }
    }

    /// Tells an encoder not yet opened.
    pub(crate) fn apply(&self, ctx: &mut ff::encoder::video::Video) {
        // SAFETY: plain field writes on a context we own and have not opened yet.
        unsafe {
            let c = ctx.as_mut_ptr();
            (*c).color_primaries = self.primaries;
            (*c).color_trc = self.transfer;
            (*c).colorspace = self.matrix;
            (*c).color_range = self.range;
        }
    }
}

pub(crate) fn is_full_range_format(format: format::Pixel) -> bool {
    matches!(
        format,
        format::Pixel::YUVJ420P
            | format::Pixel::YUVJ422P
            | format::Pixel::YUVJ444P
            | format::Pixel::YUVJ440P
            | format::Pixel::YUVJ411P
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(primaries: P, matrix: M, range: R) -> Colour {
        Colour {
            primaries,
            transfer: T::AVCOL_TRC_UNSPECIFIED,
            matrix,
            range,
        }
    }

    #[test]
    fn what_the_source_says_is_kept() {
        let bt601 = Colour {
            primaries: P::AVCOL_PRI_SMPTE170M,
            transfer: T::AVCOL_TRC_SMPTE170M,
            matrix: M::AVCOL_SPC_SMPTE170M,
            range: R::AVCOL_RANGE_MPEG,
        };
        assert_eq!(
            bt601.resolved(format::Pixel::YUV420P, 1920, 1080),
            bt601,
            "an HD BT.601 source stays BT.601 (OBS's old default)"
        );
    }

    #[test]
    fn a_missing_matrix_is_what_players_guess_for_the_source() {
        let none = said(
            P::AVCOL_PRI_UNSPECIFIED,
            M::AVCOL_SPC_UNSPECIFIED,
            R::AVCOL_RANGE_UNSPECIFIED,
        );
        let hd = none.resolved(format::Pixel::YUV420P, 1280, 720);
        assert_eq!(hd.matrix, M::AVCOL_SPC_BT709);
        assert_eq!(hd.range, R::AVCOL_RANGE_MPEG);
        assert_eq!(hd.primaries, P::AVCOL_PRI_UNSPECIFIED);
        let portrait = none.resolved(format::Pixel::YUV420P, 720, 1280);
        assert_eq!(portrait.matrix, M::AVCOL_SPC_BT709);
        let sd = none.resolved(format::Pixel::YUV420P, 720, 576);
        assert_eq!(sd.matrix, M::AVCOL_SPC_SMPTE170M);
        let by_primaries = said(
            P::AVCOL_PRI_BT709,
            M::AVCOL_SPC_UNSPECIFIED,
            R::AVCOL_RANGE_MPEG,
        )
        .resolved(format::Pixel::YUV420P, 640, 360);
        assert_eq!(by_primaries.matrix, M::AVCOL_SPC_BT709);
    }

    #[test]
    fn full_range_is_kept_unless_the_scaler_makes_it_limited() {
        let full = said(P::AVCOL_PRI_BT709, M::AVCOL_SPC_BT709, R::AVCOL_RANGE_JPEG);
        assert_eq!(
            full.resolved(format::Pixel::YUVJ420P, 1280, 720).range,
            R::AVCOL_RANGE_MPEG
        );
        assert_eq!(
            full.resolved(format::Pixel::YUV420P, 1280, 720).range,
            R::AVCOL_RANGE_JPEG
        );
        assert_eq!(
            full.resolved(format::Pixel::CUDA, 1280, 720).range,
            R::AVCOL_RANGE_JPEG
        );
    }

    #[test]
    fn only_pictures_still_hdr_are_declared_hdr() {
        let mut c = Colour::default();
        assert_eq!(c.video_range(), VideoRange::Sdr);
        c.transfer = T::AVCOL_TRC_SMPTE2084;
        assert_eq!(c.video_range(), VideoRange::Pq);
        c.transfer = T::AVCOL_TRC_ARIB_STD_B67;
        assert_eq!(c.video_range(), VideoRange::Hlg);
    }
}
