//! HDR sources made SDR for the ladder. OBS streams HDR (HEVC or AV1 with
//! the PQ or HLG transfer) and phones record HLG by default; the ladder is
//! 8-bit H.264, which players show as BT.709 SDR. Converted without a tone
//! map, an HDR picture comes out grey and washed out (its code values read
//! as if they were SDR ones), so it is tone mapped once, before every
//! rendition: to linear light, BT.2020 to BT.709 primaries, Hable's curve,
//! back to BT.709 (zimg and libavfilter's `tonemap`; the recipe FFmpeg's
//! documentation gives). A passthrough copy stays HDR.

use ffmpeg_next as ff;

use crate::filter_chain::Step;

/// The transfer an HDR picture is coded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hdr {
    /// SMPTE ST 2084, "perceptual quantizer" (HDR10, OBS's HDR streams).
    Pq,
    /// ARIB STD-B67, hybrid log-gamma (phones, broadcast).
    Hlg,
}

impl Hdr {
    fn of_transfer(trc: ff::ffi::AVColorTransferCharacteristic) -> Option<Self> {
        match trc {
            ff::ffi::AVColorTransferCharacteristic::AVCOL_TRC_SMPTE2084 => Some(Self::Pq),
            ff::ffi::AVColorTransferCharacteristic::AVCOL_TRC_ARIB_STD_B67 => Some(Self::Hlg),
            _ => None,
        }
    }

    /// What a decoded frame says.
    pub(crate) fn of_frame(frame: &ff::frame::Video) -> Option<Self> {
        // SAFETY: reading a plain field of a frame we hold.
        Self::of_transfer(unsafe { (*frame.as_ptr()).color_trc })
    }

    /// What a stream's parameters say, before any frame.
    pub(crate) fn of_stream(params: &ff::codec::Parameters) -> Option<Self> {
        // SAFETY: reading a plain field of parameters we hold.
        Self::of_transfer(unsafe { (*params.as_ptr()).color_trc })
    }

    /// What manifests and init segments declare for a copy of such a source.
    pub(crate) fn range(self) -> livefleet_packager::VideoRange {
        match self {
            Self::Pq => livefleet_packager::VideoRange::Pq,
            Self::Hlg => livefleet_packager::VideoRange::Hlg,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Pq => "PQ",
            Self::Hlg => "HLG",
        }
    }

    /// The filters that make `first` and the frames like it SDR BT.709,
    /// 8-bit 4:2:0. What the frame does not say is taken as HDR is made:
    /// BT.2020 primaries and matrix, limited range.
    pub(crate) fn steps(self, first: &ff::frame::Video) -> Vec<Step> {
        use ff::ffi::{AVColorPrimaries as P, AVColorRange as R, AVColorSpace as M};
        // SAFETY: reading plain fields of a frame we hold.
        let (primaries, matrix, range) = unsafe {
            let f = first.as_ptr();
            ((*f).color_primaries, (*f).colorspace, (*f).color_range)
        };
        let tin = match self {
            Self::Pq => "smpte2084",
            Self::Hlg => "arib-std-b67",
        };
        let pin = match primaries {
            P::AVCOL_PRI_BT709 => "bt709",
            _ => "bt2020",
        };
        let min = match matrix {
            M::AVCOL_SPC_BT709 => "bt709",
            M::AVCOL_SPC_BT2020_CL => "bt2020c",
            _ => "bt2020nc",
        };
        let rin = match range {
            R::AVCOL_RANGE_JPEG => "full",
            _ => "limited",
        };
        let step = |name, options: &str| Step {
            name,
            options: options.to_owned(),
        };
        // The documented recipe converts the primaries in a zscale of its
        // own; in the first one the picture is the same (PSNR inf) for one
        // float pass less (5.3 - 5.5 CPU-s against 5.9 - 6.4 per 5 s of 1080p).
        vec![
            step(
                "zscale",
                &format!("tin={tin}:pin={pin}:min={min}:rin={rin}:t=linear:p=bt709:npl=100"),
            ),
            step("format", "gbrpf32le"),
            step("tonemap", "tonemap=hable:desat=0"),
            step("zscale", "t=bt709:m=bt709:r=limited"),
            step("format", "yuv420p"),
        ]
    }
}
