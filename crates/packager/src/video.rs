//! Video codec configuration: H.264 (avcC) and HEVC (hvcC) records, SPS
//! parsing, and the RFC 6381 codec strings HLS and DASH advertise.

use crate::annexb;
use crate::bits::{rbsp, BitReader};
use crate::error::PackagerError;
use bytes::Bytes;

/// Video codecs the packager can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    Hevc,
}

/// What an SPS says about the coded pictures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpsInfo {
    /// `profile_idc`.
    pub profile: u8,
    /// Constraint flags byte (H.264) or tier flag (HEVC, 0/1).
    pub constraints: u8,
    /// `level_idc`.
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
}

impl VideoCodecConfig {
    /// From encoder or demuxer extradata: a configuration record (avcC/hvcC)
    /// or Annex B parameter sets.
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
        }
    }

    /// The RFC 6381 codec string, e.g. `avc1.64001f` or `hvc1.1.6.L93.B0`.
    pub fn codec_string(&self) -> String {
        match self {
            Self::Avc { avcc, .. } => format!("avc1.{:02x}{:02x}{:02x}", avcc[1], avcc[2], avcc[3]),
            Self::Hevc { codec_string, .. } => codec_string.clone(),
        }
    }

    /// What the SPS says.
    pub fn sps(&self) -> &SpsInfo {
        match self {
            Self::Avc { sps, .. } | Self::Hevc { sps, .. } => sps,
        }
    }
}

/// Builds an avcC record from Annex B SPS and PPS NAL units.
fn avcc_from_annexb(data: &[u8]) -> Result<Vec<u8>, PackagerError> {
    let units = annexb::nal_units(data);
    let sps: Vec<&[u8]> = units.iter().copied().filter(|u| u[0] & 0x1f == 7).collect();
    let pps: Vec<&[u8]> = units.iter().copied().filter(|u| u[0] & 0x1f == 8).collect();
    let first = sps
        .first()
        .ok_or_else(|| PackagerError::VideoConfig("no SPS among the parameter sets".into()))?;
    if pps.is_empty() {
        return Err(PackagerError::VideoConfig(
            "no PPS among the parameter sets".into(),
        ));
    }
    if sps.len() > 31 || pps.len() > 255 || units.iter().any(|u| u.len() > usize::from(u16::MAX)) {
        return Err(PackagerError::VideoConfig(
            "too many or too large parameter sets".into(),
        ));
    }
    let info = parse_sps(first)?;
    if first.len() < 4 {
        return Err(PackagerError::VideoConfig("SPS too short".into()));
    }
    let mut out = vec![
        1,
        first[1],
        first[2],
        first[3],
        0xff,
        0xe0 | sps.len() as u8,
    ];
    for s in &sps {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s);
    }
    out.push(pps.len() as u8);
    for p in &pps {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    if matches!(info.profile, 100 | 110 | 122 | 144) {
        out.push(0xfc | info.chroma_format);
        out.push(0xf8 | (info.bit_depth_luma - 8));
        out.push(0xf8 | (info.bit_depth_chroma - 8));
        out.push(0);
    }
    Ok(out)
}

/// Checks an avcC record and parses its first SPS.
pub fn parse_avcc(avcc: &[u8]) -> Result<SpsInfo, PackagerError> {
    let err = |m: &str| PackagerError::VideoConfig(format!("avcC: {m}"));
    if avcc.len() < 7 || avcc[0] != 1 {
        return Err(err(
            "not an AVCDecoderConfigurationRecord (version must be 1, at least 7 bytes)",
        ));
    }
    if avcc[4] & 3 != 3 {
        return Err(err("NAL length size must be 4 bytes"));
    }
    let mut pos = 6;
    let mut first_sps = None;
    for (count, what) in [(usize::from(avcc[5] & 0x1f), "SPS"), (0, "PPS")] {
        let count = if what == "PPS" {
            let c = *avcc
                .get(pos)
                .ok_or_else(|| err("ends before the PPS count"))?;
            pos += 1;
            usize::from(c)
        } else {
            count
        };
        if count == 0 {
            return Err(err(&format!("no {what}")));
        }
        for _ in 0..count {
            let len = avcc
                .get(pos..pos + 2)
                .ok_or_else(|| err(&format!("ends inside a {what} length")))?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let nal = avcc
                .get(pos + 2..pos + 2 + len)
                .ok_or_else(|| err(&format!("{what} length {len} runs past the record")))?;
            if what == "SPS" && first_sps.is_none() {
                first_sps = Some(nal);
            }
            pos += 2 + len;
        }
    }
    let sps = first_sps.ok_or_else(|| err("no SPS"))?;
    let info = parse_sps(sps)?;
    if sps.get(1..4) != avcc.get(1..4) {
        return Err(err("profile/level bytes disagree with the SPS"));
    }
    Ok(info)
}

/// Parses an H.264 SPS NAL unit (with its header byte).
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, PackagerError> {
    parse_sps_inner(nal).map_err(PackagerError::Sps)
}

fn parse_sps_inner(nal: &[u8]) -> Result<SpsInfo, String> {
    if nal.first().map(|b| b & 0x1f) != Some(7) {
        return Err("not an SPS NAL unit".into());
    }
    let data = rbsp(&nal[1..]);
    let mut r = BitReader::new(&data);
    let profile = r.bits(8)? as u8;
    let constraints = r.bits(8)? as u8;
    let level = r.bits(8)? as u8;
    let _id = r.ue()?;
    let (mut chroma_format, mut depth_l, mut depth_c) = (1u32, 8u32, 8u32);
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format > 3 {
            return Err(format!("chroma_format_idc {chroma_format} is out of range"));
        }
        if chroma_format == 3 {
            r.bit()?;
        }
        depth_l = r.ue()?.saturating_add(8);
        depth_c = r.ue()?.saturating_add(8);
        if depth_l > 14 || depth_c > 14 {
            return Err("bit depth above 14".into());
        }
        r.bit()?; // qpprime_y_zero_transform_bypass
        if r.bit()? == 1 {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    let _log2_max_frame_num = r.ue()?;
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return Err("num_ref_frames_in_pic_order_cnt_cycle above 255".into());
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        2 => {}
        t => return Err(format!("pic_order_cnt_type {t} is out of range")),
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = u64::from(r.bit()?);
    if frame_mbs_only == 0 {
        r.bit()?;
    }
    r.bit()?; // direct_8x8_inference
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? == 1 {
        cl = u64::from(r.ue()?);
        cr = u64::from(r.ue()?);
        ct = u64::from(r.ue()?);
        cb = u64::from(r.ue()?);
    }
    let (sub_w, sub_h) = match chroma_format {
        0 => (1, 1),
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let width = (width_mbs * 16)
        .checked_sub(sub_w * (cl + cr))
        .ok_or("cropping wider than the picture")?;
    let height = ((2 - frame_mbs_only) * height_units * 16)
        .checked_sub(sub_h * (2 - frame_mbs_only) * (ct + cb))
        .ok_or("cropping taller than the picture")?;
    if width == 0 || height == 0 || width > 16384 || height > 16384 {
        return Err(format!("picture size {width}x{height} is out of range"));
    }
    Ok(SpsInfo {
        profile,
        constraints,
        level,
        chroma_format: chroma_format as u8,
        bit_depth_luma: depth_l as u8,
        bit_depth_chroma: depth_c as u8,
        width: width as u32,
        height: height as u32,
    })
}

fn skip_scaling_list(r: &mut BitReader, size: usize) -> Result<(), String> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = i64::from(r.se()?);
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// What the HEVC SPS says, plus the raw profile/tier/level fields the hvcC needs.
struct HevcSps {
    info: SpsInfo,
    ptl: [u8; 12],
    sub_layers: u8,
    temporal_nesting: u8,
}

fn parse_hevc_sps(nal: &[u8]) -> Result<HevcSps, String> {
    if nal.len() < 3 || (nal[0] >> 1) & 0x3f != 33 {
        return Err("not an HEVC SPS NAL unit".into());
    }
    let data = rbsp(&nal[2..]);
    let mut r = BitReader::new(&data);
    r.bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)?;
    let temporal_nesting = r.bit()? as u8;
    let mut ptl = [0u8; 12];
    for b in ptl.iter_mut() {
        *b = r.bits(8)? as u8;
    }
    let mut present = Vec::new();
    for _ in 0..max_sub_layers_minus1 {
        present.push((r.bit()?, r.bit()?));
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.bits(2)?;
        }
    }
    for (profile, level) in present {
        if profile == 1 {
            r.skip(88)?;
        }
        if level == 1 {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format = r.ue()?;
    if chroma_format > 3 {
        return Err(format!("chroma_format_idc {chroma_format} is out of range"));
    }
    if chroma_format == 3 {
        r.bit()?;
    }
    let w = u64::from(r.ue()?);
    let h = u64::from(r.ue()?);
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? == 1 {
        cl = u64::from(r.ue()?);
        cr = u64::from(r.ue()?);
        ct = u64::from(r.ue()?);
        cb = u64::from(r.ue()?);
    }
    let depth_l = r.ue()?.saturating_add(8);
    let depth_c = r.ue()?.saturating_add(8);
    if depth_l > 16 || depth_c > 16 {
        return Err("bit depth above 16".into());
    }
    let (sub_w, sub_h) = match chroma_format {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let width = w
        .checked_sub(sub_w * (cl + cr))
        .ok_or("cropping wider than the picture")?;
    let height = h
        .checked_sub(sub_h * (ct + cb))
        .ok_or("cropping taller than the picture")?;
    if width == 0 || height == 0 || width > 16384 || height > 16384 {
        return Err(format!("picture size {width}x{height} is out of range"));
    }
    Ok(HevcSps {
        info: SpsInfo {
            profile: ptl[0] & 0x1f,
            constraints: (ptl[0] >> 5) & 1,
            level: ptl[11],
            chroma_format: chroma_format as u8,
            bit_depth_luma: depth_l as u8,
            bit_depth_chroma: depth_c as u8,
            width: width as u32,
            height: height as u32,
        },
        ptl,
        sub_layers: max_sub_layers_minus1 as u8 + 1,
        temporal_nesting,
    })
}

/// Builds an hvcC record from Annex B VPS, SPS and PPS NAL units.
fn hvcc_from_annexb(data: &[u8]) -> Result<Vec<u8>, PackagerError> {
    let units: Vec<&[u8]> = annexb::nal_units(data)
        .into_iter()
        .filter(|u| u.len() >= 2)
        .collect();
    let of = |t: u8| {
        units
            .iter()
            .copied()
            .filter(move |u| (u[0] >> 1) & 0x3f == t)
            .collect::<Vec<_>>()
    };
    let (vps, sps, pps) = (of(32), of(33), of(34));
    if vps.is_empty() || sps.is_empty() || pps.is_empty() {
        return Err(PackagerError::VideoConfig(
            "HEVC parameter sets need a VPS, an SPS and a PPS".into(),
        ));
    }
    if units.len() > 64 || units.iter().any(|u| u.len() > usize::from(u16::MAX)) {
        return Err(PackagerError::VideoConfig(
            "too many or too large parameter sets".into(),
        ));
    }
    let s = parse_hevc_sps(sps[0]).map_err(PackagerError::Sps)?;
    let mut out = vec![1];
    out.extend_from_slice(&s.ptl);
    out.extend_from_slice(&[0xf0, 0x00, 0xfc, 0xfc | s.info.chroma_format]);
    out.push(0xf8 | (s.info.bit_depth_luma - 8));
    out.push(0xf8 | (s.info.bit_depth_chroma - 8));
    out.extend_from_slice(&[0, 0]); // avgFrameRate
    out.push(((s.sub_layers & 7) << 3) | ((s.temporal_nesting & 1) << 2) | 3);
    out.push(3);
    for (t, list) in [(32u8, &vps), (33, &sps), (34, &pps)] {
        out.push(0x80 | t);
        out.extend_from_slice(&(list.len() as u16).to_be_bytes());
        for n in list.iter() {
            out.extend_from_slice(&(n.len() as u16).to_be_bytes());
            out.extend_from_slice(n);
        }
    }
    Ok(out)
}

/// Checks an hvcC record, parses its SPS and builds the codec string.
pub fn parse_hvcc(hvcc: &[u8]) -> Result<(SpsInfo, String), PackagerError> {
    let err = |m: String| PackagerError::VideoConfig(format!("hvcC: {m}"));
    if hvcc.len() < 23 || hvcc[0] != 1 {
        return Err(err(
            "not an HEVCDecoderConfigurationRecord (version must be 1, at least 23 bytes)".into(),
        ));
    }
    if hvcc[21] & 3 != 3 {
        return Err(err("NAL length size must be 4 bytes".into()));
    }
    let arrays = hvcc[22];
    let mut pos = 23;
    let mut sps = None;
    for _ in 0..arrays {
        let head = hvcc
            .get(pos..pos + 3)
            .ok_or_else(|| err("ends inside an array header".into()))?;
        let (kind, count) = (head[0] & 0x3f, u16::from_be_bytes([head[1], head[2]]));
        pos += 3;
        for _ in 0..count {
            let len = hvcc
                .get(pos..pos + 2)
                .ok_or_else(|| err("ends inside a NAL length".into()))?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let nal = hvcc
                .get(pos + 2..pos + 2 + len)
                .ok_or_else(|| err(format!("NAL length {len} runs past the record")))?;
            if kind == 33 && sps.is_none() {
                sps = Some(nal);
            }
            pos += 2 + len;
        }
    }
    let sps =
        parse_hevc_sps(sps.ok_or_else(|| err("no SPS".into()))?).map_err(PackagerError::Sps)?;
    Ok((sps.info, hevc_codec_string(&hvcc[1..13])))
}

/// `hvc1.<space><profile>.<compat>.<tier><level>.<constraints>` (ISO/IEC 14496-15 E.3).
fn hevc_codec_string(ptl: &[u8]) -> String {
    let space = ["", "A", "B", "C"][usize::from(ptl[0] >> 6)];
    let tier = if ptl[0] & 0x20 != 0 { "H" } else { "L" };
    let compat = u32::from_be_bytes([ptl[1], ptl[2], ptl[3], ptl[4]]).reverse_bits();
    let mut constraints: Vec<u8> = ptl[5..11].to_vec();
    while constraints.last() == Some(&0) {
        constraints.pop();
    }
    let mut s = format!("hvc1.{space}{}.{compat:X}.{tier}{}", ptl[0] & 0x1f, ptl[11]);
    for c in constraints {
        s.push_str(&format!(".{c:X}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    // Parameter sets for 640x360 as libx264 and libx265 write them.
    pub(crate) const SPS_640X360: [u8; 25] = [
        0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00,
        0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x58, 0xba, 0x80,
    ];
    pub(crate) const PPS: [u8; 4] = [0x68, 0xce, 0x0f, 0xc8];
    const HEVC_PARAMETER_SETS: [&[u8]; 3] = [
        &[
            0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00,
            0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0x95, 0x98, 0x09,
        ],
        &[
            0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00,
            0x00, 0x03, 0x00, 0x3f, 0xa0, 0x05, 0x02, 0x01, 0x69, 0x65, 0x95, 0x9a, 0x49, 0x32,
            0xbc, 0x05, 0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0xc1,
        ],
        &[0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40],
    ];

    #[test]
    fn hevc_from_parameter_sets() {
        let mut annexb = Vec::new();
        for n in HEVC_PARAMETER_SETS {
            annexb.extend_from_slice(&[0, 0, 0, 1]);
            annexb.extend_from_slice(n);
        }
        let c = VideoCodecConfig::from_extradata(VideoCodec::Hevc, &annexb).unwrap();
        assert_eq!(c.codec_string(), "hvc1.1.6.L63.90");
        assert_eq!((c.sps().width, c.sps().height), (640, 360));
        let VideoCodecConfig::Hevc { hvcc, .. } = &c else {
            panic!()
        };
        assert_eq!(
            VideoCodecConfig::from_extradata(VideoCodec::Hevc, hvcc).unwrap(),
            c
        );
    }

    #[test]
    fn sps_of_a_cropped_picture() {
        let info = parse_sps(&SPS_640X360).unwrap();
        assert_eq!(
            (info.profile, info.level, info.width, info.height),
            (66, 30, 640, 360)
        );
    }

    #[test]
    fn avcc_from_parameter_sets() {
        let mut annexb = vec![0, 0, 0, 1];
        annexb.extend_from_slice(&SPS_640X360);
        annexb.extend_from_slice(&[0, 0, 0, 1]);
        annexb.extend_from_slice(&PPS);
        let c = VideoCodecConfig::from_extradata(VideoCodec::H264, &annexb).unwrap();
        assert_eq!(c.codec_string(), "avc1.42c01e");
        let VideoCodecConfig::Avc { avcc, .. } = &c else {
            panic!()
        };
        // The record round-trips through the avcC path too.
        let again = VideoCodecConfig::from_extradata(VideoCodec::H264, avcc).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn huge_exp_golomb_values_do_not_overflow() {
        // Found by the codec_config fuzz target: a bit depth of u32::MAX - 8.
        let mut nal = vec![0x27, 0x87, 0x8d, 0x00, 0x3b, 0, 0, 0, 1];
        nal.extend([0xff; 100]);
        assert!(parse_sps(&nal).is_err());
    }

    #[test]
    fn lying_records_are_refused() {
        assert!(VideoCodecConfig::from_extradata(VideoCodec::H264, &[]).is_err());
        assert!(VideoCodecConfig::from_extradata(
            VideoCodec::H264,
            &[1, 0x64, 0, 0x1e, 0xff, 0xe1, 0xff, 0xff, 0x67]
        )
        .is_err());
        assert!(VideoCodecConfig::from_extradata(VideoCodec::H264, &[0, 0, 1, 0x68, 1]).is_err());
        assert!(VideoCodecConfig::from_extradata(VideoCodec::Hevc, &[1; 30]).is_err());
    }

    #[test]
    fn hevc_codec_string_main_profile() {
        // Main profile, compat flags 1 and 2, level 3.1 (93), progressive-source constraint.
        let ptl = [0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93];
        assert_eq!(hevc_codec_string(&ptl), "hvc1.1.6.L93.90");
    }
}
