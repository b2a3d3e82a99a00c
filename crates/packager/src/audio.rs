//! AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1).

use crate::bits::BitReader;
use crate::error::PackagerError;
use bytes::Bytes;

const RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// An AAC track's decoder configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    asc: Bytes,
    object_type: u8,
    sample_rate: u32,
    channels: u8,
}

impl AudioConfig {
    /// Parses an AudioSpecificConfig; refuses what a player could not decode.
    pub fn new(asc: Bytes) -> Result<Self, PackagerError> {
        let (object_type, sample_rate, channels) =
            parse(&asc).map_err(PackagerError::AudioConfig)?;
        if asc.len() > 64 {
            return Err(PackagerError::AudioConfig(format!(
                "{} bytes is too long",
                asc.len()
            )));
        }
        Ok(Self {
            asc,
            object_type,
            sample_rate,
            channels,
        })
    }

    /// The raw AudioSpecificConfig.
    pub fn asc(&self) -> &Bytes {
        &self.asc
    }

    /// Audio object type (2 = AAC-LC, 5 = HE-AAC, 29 = HE-AACv2).
    pub fn object_type(&self) -> u8 {
        self.object_type
    }

    /// Sampling rate of the core decoder, in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Channel count.
    pub fn channels(&self) -> u8 {
        self.channels
    }

    /// The RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }
}

fn parse(asc: &[u8]) -> Result<(u8, u32, u8), String> {
    let mut r = BitReader::new(asc);
    let mut object_type = r.bits(5).map_err(|_| "empty or too short".to_string())?;
    if object_type == 31 {
        object_type = 32 + r.bits(6)?;
    }
    if object_type == 0 {
        return Err("audio object type 0 is invalid".into());
    }
    let index = r.bits(4)?;
    let sample_rate = match index {
        15 => r.bits(24)?,
        i => *RATES
            .get(i as usize)
            .ok_or_else(|| format!("sampling frequency index {i} is reserved"))?,
    };
    if !(7350..=192_000).contains(&sample_rate) {
        return Err(format!("sampling rate {sample_rate} Hz is out of range"));
    }
    let channels = match r.bits(4)? {
        0 => {
            return Err("channel configuration 0 (program config element) is not supported".into())
        }
        c @ 1..=6 => c as u8,
        7 => 8,
        c => return Err(format!("channel configuration {c} is not supported")),
    };
    Ok((object_type as u8, sample_rate, channels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_stereo_48k() {
        let a = AudioConfig::new(Bytes::from_static(&[0x11, 0x90])).unwrap();
        assert_eq!(
            (a.object_type(), a.sample_rate(), a.channels()),
            (2, 48000, 2)
        );
        assert_eq!(a.codec_string(), "mp4a.40.2");
    }

    #[test]
    fn explicit_rate_and_bad_fields() {
        // LC, index 15, 48000 explicitly, mono.
        let a = AudioConfig::new(Bytes::from_static(&[0x17, 0x80, 0x5d, 0xc0, 0x08])).unwrap();
        assert_eq!((a.sample_rate(), a.channels()), (48000, 1));
        assert!(AudioConfig::new(Bytes::new()).is_err());
        assert!(AudioConfig::new(Bytes::from_static(&[0x16, 0x80])).is_err()); // index 13
        assert!(AudioConfig::new(Bytes::from_static(&[0x11, 0x80])).is_err()); // channel config 0
        assert!(AudioConfig::new(Bytes::from_static(&[0x00, 0x10])).is_err()); // object type 0
    }
}
