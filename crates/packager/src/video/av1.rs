//! AV1: the av1C record, the sequence header it carries, the codec string,
//! and samples as ISOBMFF stores them (AV1-ISOBMFF, "AV1 Codec ISO Media
//! File Format Binding").

use super::SpsInfo;
use crate::bits::BitReader;
use crate::error::PackagerError;

/// OBU types the parsing and the sample rewrite look at.
const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_PADDING: u8 = 15;

/// Reads an av1C record: what its header says (profile, level, tier, bit
/// depth, chroma) and the picture size from the sequence header among its
/// configuration OBUs; returns them with the record's codec string.
pub fn parse_av1c(av1c: &[u8]) -> Result<(SpsInfo, String), PackagerError> {
    let err = |m: String| PackagerError::VideoConfig(format!("av1C: {m}"));
    if av1c.len() < 4 || av1c[0] != 0x81 {
        return Err(err(
            "not an AV1CodecConfigurationRecord (marker 1, version 1, at least 4 bytes)".into(),
        ));
    }
    let profile = av1c[1] >> 5;
    let level = av1c[1] & 0x1f;
    let tier = av1c[2] >> 7;
    let (high, twelve, mono) = ((av1c[2] >> 6) & 1, (av1c[2] >> 5) & 1, (av1c[2] >> 4) & 1);
    let bit_depth = match (high, twelve) {
        (1, 1) => 12,
        (1, 0) => 10,
        _ => 8,
    };
    let chroma_format = match (mono, (av1c[2] >> 3) & 1, (av1c[2] >> 2) & 1) {
        (1, ..) => 0,
        (0, 1, 1) => 1,
        (0, 1, 0) => 2,
        _ => 3,
    };
    let header = obus(&av1c[4..])
        .map_err(err)?
        .into_iter()
        .find(|o| o.kind == OBU_SEQUENCE_HEADER)
        .ok_or_else(|| err("no sequence header among its configuration OBUs".into()))?;
    let (width, height) = sequence_size(header.payload).map_err(PackagerError::Sps)?;
    let info = SpsInfo {
        profile,
        constraints: tier,
        level,
        chroma_format,
        bit_depth_luma: bit_depth,
        bit_depth_chroma: bit_depth,
        width,
        height,
    };
    let tier = if tier == 1 { 'H' } else { 'M' };
    Ok((
        info,
        format!("av01.{profile}.{level:02}{tier}.{bit_depth:02}"),
    ))
}

/// One OBU of a low-overhead bitstream: its type, the whole OBU and its payload.
struct Obu<'a> {
    kind: u8,
    whole: &'a [u8],
    payload: &'a [u8],
}

/// Splits `data` into OBUs. An OBU without a size field runs to the end.
fn obus(mut data: &[u8]) -> Result<Vec<Obu<'_>>, String> {
    let mut out = Vec::new();
    while let Some(&head) = data.first() {
        if head & 0x80 != 0 {
            return Err("an OBU header's forbidden bit is set".into());
        }
        let kind = (head >> 3) & 0x0f;
        let mut at = 1 + usize::from((head >> 2) & 1);
        let size = if (head >> 1) & 1 == 1 {
            let (size, used) = leb128(data.get(at..).unwrap_or_default())?;
            at += used;
            size
        } else {
            data.len().saturating_sub(at)
        };
        let end = at
            .checked_add(size)
            .filter(|end| *end <= data.len())
            .ok_or_else(|| format!("an OBU of {size} bytes runs past its {} bytes", data.len()))?;
        out.push(Obu {
            kind,
            whole: &data[..end],
            payload: &data[at..end],
        });
        data = &data[end..];
    }
    Ok(out)
}

/// An unsigned LEB128 of at most 8 bytes: its value and length.
fn leb128(data: &[u8]) -> Result<(usize, usize), String> {
    let mut value: u64 = 0;
    for (i, b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let value = usize::try_from(value).map_err(|_| "an OBU size is too large")?;
            return Ok((value, i + 1));
        }
    }
    Err("an OBU size field ends early".into())
}

/// `max_frame_width_minus_1 + 1` and the height from a sequence header
/// OBU's payload (AV1 spec 5.5).
fn sequence_size(payload: &[u8]) -> Result<(u32, u32), String> {
    let mut r = BitReader::new(payload);
    r.bits(3)?; // seq_profile
    r.bit()?; // still_picture
    let reduced = r.bit()? == 1;
    if reduced {
        r.bits(5)?; // seq_level_idx[0]
    } else {
        let mut buffer_delay_bits = 0;
        let timing_info = r.bit()? == 1;
        let mut decoder_model = false;
        if timing_info {
            r.skip(64)?; // num_units_in_display_tick, time_scale
            if r.bit()? == 1 {
                r.ue()?; // num_ticks_per_picture_minus_1 (uvlc)
            }
            decoder_model = r.bit()? == 1;
            if decoder_model {
                buffer_delay_bits = r.bits(5)? + 1;
                r.skip(32 + 5 + 5)?;
            }
        }
        let initial_display_delay = r.bit()? == 1;
        let operating_points = r.bits(5)? + 1;
        for _ in 0..operating_points {
            r.bits(12)?; // operating_point_idc
            if r.bits(5)? > 7 {
                r.bit()?; // seq_tier
            }
            if decoder_model && r.bit()? == 1 {
                r.skip(2 * buffer_delay_bits as usize + 1)?;
            }
            if initial_display_delay && r.bit()? == 1 {
                r.bits(4)?;
            }
        }
    }
    let width_bits = r.bits(4)? + 1;
    let height_bits = r.bits(4)? + 1;
    let width = u64::from(r.bits(width_bits)?) + 1;
    let height = u64::from(r.bits(height_bits)?) + 1;
    let fit = |v: u64| u32::try_from(v).map_err(|_| "frame size out of range".to_string());
    Ok((fit(width)?, fit(height)?))
}

/// A temporal unit as an ISOBMFF sample stores it: without temporal
/// delimiter and padding OBUs. A unit that does not parse is kept as it came
/// (the player's decoder judges it), and said so in the error.
pub fn to_sample(unit: &[u8]) -> Result<Vec<u8>, (Vec<u8>, String)> {
    match obus(unit) {
        Ok(obus) => Ok(obus
            .iter()
            .filter(|o| o.kind != OBU_TEMPORAL_DELIMITER && o.kind != OBU_PADDING)
            .flat_map(|o| o.whole.iter().copied())
            .collect()),
        Err(e) => Err((unit.to_vec(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// av1C records as FFmpeg 5.1 writes them: SVT-AV1 640x360 8-bit, libaom
    /// 1280x720 10-bit.
    const SVT_640X360: [u8; 17] = [
        0x81, 0x01, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x0c, 0xc4, 0xff, 0x67, 0x00, 0xbe,
        0x00, 0x10,
    ];
    const AOM_1280X720_10BIT: [u8; 17] = [
        0x81, 0x05, 0x4c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x2d, 0x4c, 0xff, 0xb3, 0xcc, 0xaf,
        0x94, 0x04,
    ];

    #[test]
    fn records_give_the_codec_string_and_size() {
        let (info, codec) = parse_av1c(&SVT_640X360).unwrap();
        assert_eq!(codec, "av01.0.01M.08");
        assert_eq!((info.width, info.height, info.chroma_format), (640, 360, 1));
        let (info, codec) = parse_av1c(&AOM_1280X720_10BIT).unwrap();
        assert_eq!(codec, "av01.0.05M.10");
        assert_eq!(
            (info.width, info.height, info.bit_depth_luma),
            (1280, 720, 10)
        );
    }

    #[test]
    fn bad_records_are_errors() {
        for bad in [
            &SVT_640X360[..3],
            &SVT_640X360[..4],  // no sequence header
            &SVT_640X360[..10], // a sequence header cut short
            &[0x01, 0x01, 0x0c, 0x00][..],
        ] {
            assert!(parse_av1c(bad).is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn samples_lose_temporal_delimiters_and_padding() {
        // TD, a frame OBU of 2 bytes, padding of 1 byte, an OBU without a size to the end.
        let unit = [
            0x12, 0x00, 0x32, 0x02, 0xaa, 0xbb, 0x7a, 0x01, 0x00, 0x30, 0xcc, 0xdd,
        ];
        assert_eq!(
            to_sample(&unit).unwrap(),
            vec![0x32, 0x02, 0xaa, 0xbb, 0x30, 0xcc, 0xdd]
        );
        let (kept, why) = to_sample(&[0x32, 0x09, 0xaa]).unwrap_err();
        assert_eq!(kept, vec![0x32, 0x09, 0xaa]);
        assert!(why.contains("runs past"), "{why}");
    }
}
