//! HEVC: the hvcC record, the SPS and the codec string.

use super::SpsInfo;
use crate::annexb;
use crate::bits::{rbsp, BitReader};
use crate::error::PackagerError;

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
pub(super) fn hvcc_from_annexb(data: &[u8]) -> Result<Vec<u8>, PackagerError> {
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
pub(super) fn hevc_codec_string(ptl: &[u8]) -> String {
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
