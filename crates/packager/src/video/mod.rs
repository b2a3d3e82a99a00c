//! Video codec configuration: H.264 (avcC), HEVC (hvcC) and AV1 (av1C)
//! records, SPS and sequence header parsing, and the RFC 6381 codec strings
//! HLS and DASH advertise.

pub mod av1;
mod avc;
mod hevc;
#[cfg(test)]
pub(crate) mod tests;

use crate::annexb;
use crate::error::PackagerError;
use bytes::Bytes;

use avc::avcc_from_annexb;
pub use avc::{parse_avcc, parse_sps};
use hevc::hvcc_from_annexb;
pub use hevc::parse_hvcc;

/// Video codecs the packager can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    Hevc,
    /// Copied only (a passthrough of an AV1 source); never encoded.
    Av1,
}

/// What an SPS (or an AV1 sequence header and its av1C) says about the coded pictures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpsInfo {
    /// `profile_idc`.
    pub profile: u8,
    /// Constraint flags byte (H.264) or tier flag (HEVC, AV1: 0/1).
    pub constraints: u8,
    /// `level_idc` (AV1: `seq_level_idx_0`).
    pub level: u8,
    pub chroma_format: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    /// Displayed width and height after cropping.
    pub width: u32,
    pub height: u32,
}

/// A video track's decoder configuration, as the sample entry carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoCodecConfig {
    /// An AVCDecoderConfigurationRecord.
    Avc { avcc: Bytes, sps: SpsInfo },
    /// An HEVCDecoderConfigurationRecord.
    Hevc {
        hvcc: Bytes,
        sps: SpsInfo,
        codec_string: String,
    },
    /// An AV1CodecConfigurationRecord.
    Av1 {
        av1c: Bytes,
        sps: SpsInfo,
        codec_string: String,
    },
}

impl VideoCodecConfig {
    /// From encoder or demuxer extradata: a configuration record
    /// (avcC/hvcC/av1C) or Annex B parameter sets (H.264, HEVC).
    pub fn from_extradata(codec: VideoCodec, extradata: &[u8]) -> Result<Self, PackagerError> {
        let err = |m: &str| PackagerError::VideoConfig(m.to_string());
        if extradata.is_empty() {
            return Err(err("no codec configuration (empty extradata)"));
        }
        match codec {
            VideoCodec::H264 => {
                let avcc = if annexb::is_annexb(extradata) {
                    avcc_from_annexb(extradata)?
                } else {
                    extradata.to_vec()
                };
                let sps = parse_avcc(&avcc)?;
                Ok(Self::Avc {
                    avcc: Bytes::from(avcc),
                    sps,
                })
            }
            VideoCodec::Hevc => {
                let hvcc = if annexb::is_annexb(extradata) {
                    hvcc_from_annexb(extradata)?
                } else {
                    extradata.to_vec()
                };
                let (sps, codec_string) = parse_hvcc(&hvcc)?;
                Ok(Self::Hevc {
                    hvcc: Bytes::from(hvcc),
                    sps,
                    codec_string,
                })
            }
            VideoCodec::Av1 => {
                let (sps, codec_string) = av1::parse_av1c(extradata)?;
                Ok(Self::Av1 {
                    av1c: Bytes::copy_from_slice(extradata),
                    sps,
                    codec_string,
                })
            }
        }
    }

    /// The RFC 6381 codec string, e.g. `avc1.64001f`, `hvc1.1.6.L93.B0` or `av01.0.05M.08`.
    pub fn codec_string(&self) -> String {
        match self {
            Self::Avc { avcc, .. } => format!("avc1.{:02x}{:02x}{:02x}", avcc[1], avcc[2], avcc[3]),
            Self::Hevc { codec_string, .. } | Self::Av1 { codec_string, .. } => {
                codec_string.clone()
            }
        }
    }

    /// What the SPS says.
    pub fn sps(&self) -> &SpsInfo {
        match self {
            Self::Avc { sps, .. } | Self::Hevc { sps, .. } | Self::Av1 { sps, .. } => sps,
        }
    }
}
