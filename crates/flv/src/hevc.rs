//! The `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15, 8.3.3.1), the
//! HEVC sequence start of Enhanced RTMP and the `hvcC` box of MP4.

use bytes::Bytes;

/// Why an HEVC sequence start was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HevcConfigError {
    #[error("HEVC sequence start is {0} bytes, shorter than the 23-byte minimum")]
    Short(usize),
    #[error("HEVC sequence start has configurationVersion {0}, expected 1")]
    Version(u8),
    #[error("HEVC sequence start declares {0}-byte NAL lengths; only 1, 2 and 4 exist")]
    LengthSize(u8),
    #[error(
        "HEVC sequence start lies about its lengths: {what} at offset {offset} claims \
         {claimed} bytes, but only {available} remain"
    )]
    Truncated {
        what: &'static str,
        offset: usize,
        claimed: usize,
        available: usize,
    },
    #[error("HEVC sequence start carries no {0}; the stream cannot be decoded")]
    Missing(&'static str),
}

/// NAL unit types of the parameter sets an HEVC stream needs.
const VPS: u8 = 32;
const SPS: u8 = 33;
const PPS: u8 = 34;
const NEEDED: [(u8, &str); 3] = [(VPS, "VPS"), (SPS, "SPS"), (PPS, "PPS")];

/// A checked `HEVCDecoderConfigurationRecord`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    /// Size in bytes of the length prefix in front of every NAL unit (1, 2 or 4).
    pub nal_length_size: u8,
    /// The record as received.
    pub record: Bytes,
}

impl HevcConfig {
    /// Parses and checks a record: version 1, a valid length size, every
    /// array and NAL unit inside the buffer, and a VPS, an SPS and a PPS.
    pub fn parse(record: &Bytes) -> Result<Self, HevcConfigError> {
        if record.len() < 23 {
            return Err(HevcConfigError::Short(record.len()));
        }
        if record[0] != 1 {
            return Err(HevcConfigError::Version(record[0]));
        }
        let nal_length_size = (record[21] & 0b11) + 1;
        if nal_length_size == 3 {
            return Err(HevcConfigError::LengthSize(nal_length_size));
        }
        let mut found = Vec::new();
        let mut at = 23;
        for _ in 0..record[22] {
            let head = take(record, &mut at, 3, "parameter set array")?;
            let nal_type = head[0] & 0x3f;
            let count = u16::from_be_bytes([head[1], head[2]]);
            for _ in 0..count {
                let len = take(record, &mut at, 2, "NAL unit length")?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                take(record, &mut at, len, "parameter set")?;
            }
            if count > 0 {
                found.push(nal_type);
            }
        }
        if let Some((_, name)) = NEEDED.iter().find(|(t, _)| !found.contains(t)) {
            return Err(HevcConfigError::Missing(name));
        }
        Ok(Self {
            nal_length_size,
            record: record.clone(),
        })
    }
}

/// The next `len` bytes at `*at`, which moves past them.
fn take<'a>(
    record: &'a [u8],
    at: &mut usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], HevcConfigError> {
    let available = record.len().saturating_sub(*at);
    if len > available {
        return Err(HevcConfigError::Truncated {
            what,
            offset: *at,
            claimed: len,
            available,
        });
    }
    let bytes = &record[*at..*at + len];
    *at += len;
    Ok(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record for 640x360 as libx265 writes it: VPS, SPS, PPS, with
    /// `length_size_minus_one` in byte 21.
    pub(crate) fn record(length_size_minus_one: u8) -> Vec<u8> {
        let sets: [(u8, &[u8]); 3] = [
            (
                VPS,
                &[
                    0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90,
                    0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0x95, 0x98, 0x09,
                ],
            ),
            (
                SPS,
                &[
                    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03,
                    0x00, 0x00, 0x03, 0x00, 0x3f, 0xa0, 0x05, 0x02, 0x01, 0x69, 0x65, 0x95, 0x9a,
                    0x49, 0x32, 0xbc, 0x05, 0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00,
                    0x03, 0x03, 0xc1,
                ],
            ),
            (PPS, &[0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40]),
        ];
        let mut r = vec![
            1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x3f, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0,
            0,
        ];
        r.push(0x0c | length_size_minus_one);
        r.push(sets.len() as u8);
        for (nal_type, nal) in sets {
            r.push(0x80 | nal_type);
            r.extend_from_slice(&1u16.to_be_bytes());
            r.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            r.extend_from_slice(nal);
        }
        r
    }

    #[test]
    fn a_record_with_its_parameter_sets_parses() {
        let c = HevcConfig::parse(&Bytes::from(record(3))).unwrap();
        assert_eq!(c.nal_length_size, 4);
        let c = HevcConfig::parse(&Bytes::from(record(1))).unwrap();
        assert_eq!(c.nal_length_size, 2);
    }

    #[test]
    fn lying_and_incomplete_records_are_refused() {
        let parse = |v: Vec<u8>| HevcConfig::parse(&Bytes::from(v));
        assert_eq!(parse(vec![1; 10]), Err(HevcConfigError::Short(10)));
        let mut v = record(3);
        v[0] = 0;
        assert_eq!(parse(v), Err(HevcConfigError::Version(0)));
        assert_eq!(parse(record(2)), Err(HevcConfigError::LengthSize(3)));
        let mut v = record(3);
        v.truncate(v.len() - 3);
        assert!(matches!(
            parse(v),
            Err(HevcConfigError::Truncated {
                what: "parameter set",
                ..
            })
        ));
        // Only the first array (the VPS).
        let mut v = record(3);
        v[22] = 1;
        assert_eq!(parse(v), Err(HevcConfigError::Missing("SPS")));
    }
}
