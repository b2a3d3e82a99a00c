//! The written form of a profile: every key optional, as a producer may leave
//! it out. Both the YAML walk ([`crate::walk`]) and serde deserialisation fill
//! these, and [`crate::check`] turns them into a checked [`LadderProfile`].
//! Serialisation writes the same form back, leaving out what does not apply
//! (size of a passthrough rendition, `h264_profile` of an HEVC one).

use serde::{Deserialize, Serialize};

use crate::{AudioRendition, FrameRate, LadderProfile, VideoCodec, VideoRendition};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gop: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_upscale: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_cpu: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Vec<VideoWire>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Vec<AudioWire>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captions: Option<Vec<CaptionWire>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaptionWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VideoWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bitrate: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<FrameRate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h264_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AudioWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u64>,
}

impl From<LadderProfile> for ProfileWire {
    fn from(p: LadderProfile) -> Self {
        ProfileWire {
            name: Some(p.name),
            description: Some(p.description),
            segment_duration: Some(p.segment_duration),
            gop: Some(p.gop),
            encoder: Some(p.encoder.as_str().to_owned()),
            decoder: Some(p.decoder.as_str().to_owned()),
            preset: Some(p.preset.nvenc().to_owned()),
            allow_upscale: Some(p.allow_upscale),
            allow_cpu: Some(p.allow_cpu),
            video: Some(p.video.into_iter().map(VideoWire::from).collect()),
            audio: Some(p.audio.into_iter().map(AudioWire::from).collect()),
            captions: (!p.captions.is_empty()).then(|| {
                p.captions
                    .into_iter()
                    .map(|c| CaptionWire {
                        channel: Some(c.channel),
                        language: c.language,
                        name: Some(c.name),
                    })
                    .collect()
            }),
        }
    }
}

impl From<VideoRendition> for VideoWire {
    fn from(v: VideoRendition) -> Self {
        let name = Some(v.name.to_string());
        if v.passthrough {
            return VideoWire {
                name,
                passthrough: Some(true),
                bitrate: (v.bitrate > 0).then_some(v.bitrate),
                max_bitrate: (v.max_bitrate > 0).then_some(v.max_bitrate),
                ..VideoWire::default()
            };
        }
        VideoWire {
            name,
            passthrough: None,
            width: Some(u64::from(v.width)),
            height: Some(u64::from(v.height)),
            bitrate: Some(v.bitrate),
            max_bitrate: Some(v.max_bitrate),
            frame_rate: Some(v.frame_rate),
            codec: Some(v.codec.as_str().to_owned()),
            h264_profile: (v.codec == VideoCodec::H264).then(|| v.h264_profile.as_str().to_owned()),
            level: v.level,
        }
    }
}

impl From<AudioRendition> for AudioWire {
    fn from(a: AudioRendition) -> Self {
        AudioWire {
            name: Some(a.name.to_string()),
            passthrough: a.passthrough.then_some(true),
            bitrate: Some(a.bitrate),
            channels: Some(u64::from(a.channels)),
            sample_rate: Some(u64::from(a.sample_rate)),
        }
    }
}
