//! The AAC `AudioSpecificConfig` (ISO/IEC 14496-3, 1.6.2.1): its first
//! fields, enough to refuse nonsense and to describe the stream.

use bytes::Bytes;

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Why an AAC sequence header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AacConfigError {
    #[error("AAC sequence header is {0} bytes; an AudioSpecificConfig has at least 2")]
    Short(usize),
    #[error("AAC sequence header has audio object type 0 (null)")]
    NullObjectType,
    #[error("AAC sequence header has reserved sampling frequency index {0}")]
    FrequencyIndex(u8),
    #[error("AAC sequence header has an explicit sampling frequency of {0} Hz")]
    Frequency(u32),
    #[error("AAC sequence header has reserved channel configuration {0}")]
    ChannelConfig(u8),
}

/// A checked `AudioSpecificConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// Audio object type (2 = AAC-LC, 5 = SBR, 29 = PS).
    pub object_type: u8,
    /// Sampling frequency in Hz.
    pub sample_rate: u32,
    /// Channel configuration (0 = defined in the stream, 1..=7 per the standard).
    pub channel_config: u8,
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(v)
    }
}

impl AacConfig {
    /// Parses and checks the object type, the sampling frequency and the
    /// channel configuration.
    pub fn parse(config: &Bytes) -> Result<Self, AacConfigError> {
        let short = || AacConfigError::Short(config.len());
        if config.len() < 2 {
            return Err(short());
        }
        let mut bits = Bits {
            data: config,
            pos: 0,
        };
        let mut object_type = bits.read(5).ok_or_else(short)?;
        if object_type == 31 {
            object_type = 32 + bits.read(6).ok_or_else(short)?;
        }
        if object_type == 0 {
            return Err(AacConfigError::NullObjectType);
        }
        let index = bits.read(4).ok_or_else(short)? as u8;
        let sample_rate = match index {
            0..=12 => SAMPLE_RATES[usize::from(index)],
            15 => {
                let hz = bits.read(24).ok_or_else(short)?;
                if !(1000..=192_000).contains(&hz) {
                    return Err(AacConfigError::Frequency(hz));
                }
                hz
            }
            _ => return Err(AacConfigError::FrequencyIndex(index)),
        };
        let channel_config = bits.read(4).ok_or_else(short)? as u8;
        if channel_config > 7 {
            return Err(AacConfigError::ChannelConfig(channel_config));
        }
        // object_type is at most 32 + 63.
        Ok(Self {
            object_type: object_type as u8,
            sample_rate,
            channel_config,
        })
    }

    /// The RFC 6381 codec string, `mp4a.40.<object type>`.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lc_stereo_44100() {
        let c = AacConfig::parse(&Bytes::from_static(&[0x12, 0x10])).unwrap();
        assert_eq!(
            c,
            AacConfig {
                object_type: 2,
                sample_rate: 44100,
                channel_config: 2
            }
        );
        assert_eq!(c.codec_string(), "mp4a.40.2");
        let c = AacConfig::parse(&Bytes::from_static(&[0x11, 0x90])).unwrap();
        assert_eq!(c.sample_rate, 48000);
    }

    #[test]
    fn refuses_nonsense() {
        assert_eq!(
            AacConfig::parse(&Bytes::from_static(&[0x12])),
            Err(AacConfigError::Short(1))
        );
        assert_eq!(
            AacConfig::parse(&Bytes::from_static(&[0x00, 0x10])),
            Err(AacConfigError::NullObjectType)
        );
        // index 13
        assert_eq!(
            AacConfig::parse(&Bytes::from_static(&[0x16, 0x90])),
            Err(AacConfigError::FrequencyIndex(13))
        );
        // channel config 9
        assert_eq!(
            AacConfig::parse(&Bytes::from_static(&[0x12, 0x48])),
            Err(AacConfigError::ChannelConfig(9))
        );
        // explicit frequency cut short
        assert!(AacConfig::parse(&Bytes::from_static(&[0x17, 0x80])).is_err());
    }
}
