//! The `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15, 5.3.3.1), the H.264
//! sequence header of FLV and the `avcC` box of MP4.

use bytes::{Bytes, BytesMut};

/// Why an H.264 sequence header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvcConfigError {
    #[error("AVC sequence header is {0} bytes, shorter than the 7-byte minimum")]
    Short(usize),
    #[error("AVC sequence header has configurationVersion {0}, expected 1")]
    Version(u8),
    #[error("AVC sequence header declares {0}-byte NAL lengths; only 1, 2 and 4 exist")]
    LengthSize(u8),
    #[error(
        "AVC sequence header lies about its lengths: {what} #{index} claims {claimed} bytes \
         at offset {offset}, but only {available} remain"
    )]
    Truncated {
        what: &'static str,
        index: usize,
        offset: usize,
        claimed: usize,
        available: usize,
    },
    #[error("AVC sequence header carries no {0}; the stream cannot be decoded")]
    Missing(&'static str),
    #[error("AVC sequence header has an empty {what} #{index}")]
    EmptyParameterSet { what: &'static str, index: usize },
}

/// A checked `AVCDecoderConfigurationRecord`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// `AVCProfileIndication` (66 baseline, 77 main, 100 high, ...).
    pub profile: u8,
    /// `profile_compatibility`: the constraint flags.
    pub compatibility: u8,
    /// `AVCLevelIndication` (31 for level 3.1, ...).
    pub level: u8,
    /// Size in bytes of the length prefix in front of every NAL unit (1, 2 or 4).
    pub nal_length_size: u8,
    /// Sequence parameter sets, without length prefixes.
    pub sps: Vec<Bytes>,
    /// Picture parameter sets, without length prefixes.
    pub pps: Vec<Bytes>,
    /// Bytes after the PPS list (the High profile chroma/bit depth extension), kept as is.
    pub trailer: Bytes,
}

impl AvcConfig {
    /// Parses and checks a record: version 1, a valid length size, at least
    /// one SPS and one PPS, and every parameter set inside the buffer.
    pub fn parse(record: &Bytes) -> Result<Self, AvcConfigError> {
        if record.len() < 7 {
            return Err(AvcConfigError::Short(record.len()));
        }
        if record[0] != 1 {
            return Err(AvcConfigError::Version(record[0]));
        }
        let nal_length_size = (record[4] & 0b11) + 1;
        if nal_length_size == 3 {
            return Err(AvcConfigError::LengthSize(nal_length_size));
        }
        let mut at = 5;
        let sps_count = usize::from(record[at] & 0b1_1111);
        at += 1;
        let sps = read_sets(record, &mut at, sps_count, "SPS")?;
        let pps_count = match record.get(at) {
            Some(n) => usize::from(*n),
            None => {
                return Err(AvcConfigError::Truncated {
                    what: "PPS count",
                    index: 0,
                    offset: at,
                    claimed: 1,
                    available: 0,
                })
            }
        };
        at += 1;
        let pps = read_sets(record, &mut at, pps_count, "PPS")?;
        if sps.is_empty() {
            return Err(AvcConfigError::Missing("SPS"));
        }
        if pps.is_empty() {
            return Err(AvcConfigError::Missing("PPS"));
        }
        Ok(Self {
            profile: record[1],
            compatibility: record[2],
            level: record[3],
            nal_length_size,
            sps,
            pps,
            trailer: record.slice(at..),
        })
    }

    /// The RFC 6381 codec string, `avc1.PPCCLL`, as HLS and DASH want it.
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile, self.compatibility, self.level
        )
    }

    /// Writes the record back, with `nal_length_size` as given (the reserved
    /// bits are written as ones, as the standard asks).
    pub fn to_record(&self, nal_length_size: u8) -> Bytes {
        let mut b = BytesMut::new();
        b.extend_from_slice(&[
            1,
            self.profile,
            self.compatibility,
            self.level,
            0b1111_1100 | (nal_length_size.saturating_sub(1) & 0b11),
            // parse() read at most 31 SPS from the 5-bit count.
            0b1110_0000 | (self.sps.len().min(31) as u8),
        ]);
        for s in self.sps.iter().take(31) {
            put_set(&mut b, s);
        }
        b.extend_from_slice(&[self.pps.len().min(255) as u8]);
        for p in self.pps.iter().take(255) {
            put_set(&mut b, p);
        }
        b.extend_from_slice(&self.trailer);
        b.freeze()
    }
}

fn put_set(b: &mut BytesMut, set: &Bytes) {
    // parse() only yields sets with a 16-bit length.
    let len = u16::try_from(set.len()).unwrap_or(u16::MAX);
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&set[..usize::from(len)]);
}

fn read_sets(
    record: &Bytes,
    at: &mut usize,
    count: usize,
    what: &'static str,
) -> Result<Vec<Bytes>, AvcConfigError> {
    let mut sets = Vec::with_capacity(count);
    for index in 0..count {
        let available = record.len().saturating_sub(*at);
        if available < 2 {
            return Err(AvcConfigError::Truncated {
                what,
                index,
                offset: *at,
                claimed: 2,
                available,
            });
        }
        let len = usize::from(u16::from_be_bytes([record[*at], record[*at + 1]]));
        *at += 2;
        let available = available - 2;
        if len > available {
            return Err(AvcConfigError::Truncated {
                what,
                index,
                offset: *at,
                claimed: len,
                available,
            });
        }
        if len == 0 {
            return Err(AvcConfigError::EmptyParameterSet { what, index });
        }
        sets.push(record.slice(*at..*at + len));
        *at += len;
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as x264 writes it for 640x360 High@3.0, 4-byte lengths.
    pub(crate) fn sample() -> Bytes {
        let mut v = vec![
            1, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1e,
        ];
        v.extend_from_slice(&[0x01, 0x00, 0x03, 0x68, 0xeb, 0xe3]);
        Bytes::from(v)
    }

    #[test]
    fn reads_a_real_looking_record() {
        let c = AvcConfig::parse(&sample()).unwrap();
        assert_eq!(c.nal_length_size, 4);
        assert_eq!(c.sps, vec![Bytes::from_static(&[0x67, 0x64, 0x00, 0x1e])]);
        assert_eq!(c.pps, vec![Bytes::from_static(&[0x68, 0xeb, 0xe3])]);
        assert_eq!(c.codec_string(), "avc1.64001e");
        assert_eq!(c.to_record(4), sample());
    }

    #[test]
    fn refuses_lying_lengths() {
        let mut v = sample().to_vec();
        v[7] = 0x40; // SPS claims 64 bytes
        let e = AvcConfig::parse(&Bytes::from(v)).unwrap_err();
        assert!(
            matches!(
                e,
                AvcConfigError::Truncated {
                    what: "SPS",
                    claimed: 64,
                    ..
                }
            ),
            "{e}"
        );
        let mut v = sample().to_vec();
        v[14] = 0x09; // PPS claims 9 bytes
        let e = AvcConfig::parse(&Bytes::from(v)).unwrap_err();
        assert!(
            matches!(e, AvcConfigError::Truncated { what: "PPS", .. }),
            "{e}"
        );
        let v = sample().slice(..12); // PPS count missing
        assert!(AvcConfig::parse(&v).is_err());
    }

    #[test]
    fn refuses_bad_headers() {
        assert_eq!(
            AvcConfig::parse(&Bytes::from_static(&[1, 2])),
            Err(AvcConfigError::Short(2))
        );
        let mut v = sample().to_vec();
        v[0] = 0;
        assert_eq!(
            AvcConfig::parse(&Bytes::from(v)),
            Err(AvcConfigError::Version(0))
        );
        let mut v = sample().to_vec();
        v[4] = 0xfe;
        assert_eq!(
            AvcConfig::parse(&Bytes::from(v)),
            Err(AvcConfigError::LengthSize(3))
        );
        let mut v = sample().to_vec();
        v[5] = 0xe0;
        v.truncate(6);
        v.push(0);
        assert_eq!(
            AvcConfig::parse(&Bytes::from(v)),
            Err(AvcConfigError::Missing("SPS"))
        );
    }
}
