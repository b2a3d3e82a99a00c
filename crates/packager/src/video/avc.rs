//! H.264: the avcC record and the SPS.

use super::SpsInfo;
use crate::annexb;
use crate::bits::{rbsp, BitReader};
use crate::error::PackagerError;

/// Builds an avcC record from Annex B SPS and PPS NAL units.
pub(super) fn avcc_from_annexb(data: &[u8]) -> Result<Vec<u8>, PackagerError> {
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
