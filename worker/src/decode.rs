//! The decode stage: the source's video decoded once, for every rendition,
//! on the CPU or on NVDEC (frames left in GPU memory).

use ff::{codec, decoder, frame, Rational};
use ffmpeg_next as ff;

use crate::hw::{self, CudaDevice, GpuError};
use crate::picture::{interlaced, Picture};
use crate::source::StreamInfo;
use crate::PipelineError;

/// Decoder threads for a source above [`ONE_THREAD_PIXEL_RATE`]: frame
/// threading on two keeps a 4K decode ahead of the encoders without the
/// latency of one thread per core.
const DECODER_THREADS: usize = 2;
/// Pixels per second one decoder thread takes (1080p60). One thread decodes
/// 1080p30 H.264 at about 7x real time on the development machine and
/// spends 5-10% fewer CPU-seconds than two frame threads (360p: 0.88-0.99
/// against 0.95-1.12 CPU-s per 30 s, three runs each), with a frame less
/// delay (docs/design/worker-cpu.md).
const ONE_THREAD_PIXEL_RATE: f64 = 1920.0 * 1080.0 * 60.0;
/// Packets NVDEC may refuse in a row before the GPU's decode side is taken
/// to have failed (a corrupt packet or two is the source's fault; a GPU that
/// refuses a second of video is not).
const NVDEC_REFUSALS: u32 = 30;

/// Why the decoder did not take a packet.
#[derive(Debug)]
pub enum Refused {
    /// The packet is corrupt: skip it, count it, go on.
    Corrupt(ff::Error),
    /// NVDEC failed: the session ends and the channel falls back to the CPU.
    Gpu(GpuError),
}

/// Video packets in, decoded frames out (push / pull).
pub struct VideoDecode {
    decoder: decoder::Video,
    decoded: frame::Video,
    /// Deinterlaces and turns the frames as the source needs.
    picture: Picture,
    /// The decoder is drained and the picture stage told so.
    drained: bool,
    on_gpu: bool,
    refused_in_a_row: u32,
}

impl VideoDecode {
    /// How the source's pictures are coded: SDR, or the HDR transfer a
    /// passthrough copy declares (known once a frame is decoded).
    pub fn source_range(&self) -> livefleet_packager::VideoRange {
        self.picture
            .source_hdr()
            .map_or(livefleet_packager::VideoRange::Sdr, crate::hdr::Hdr::range)
    }

    /// A decoder on the CPU, or on NVDEC when `gpu` names the device.
    pub fn open(stream: &StreamInfo, gpu: Option<&CudaDevice>) -> Result<Self, PipelineError> {
        let threads = if gpu.is_some() {
            1
        } else {
            decoder_threads(stream)
        };
        let mut ctx = decoder_context(&stream.parameters, stream.time_base, "video", threads)?;
        if let Some(device) = gpu {
            hw::nvdec::attach(&mut ctx, device).map_err(|source| PipelineError::Gpu {
                piece: crate::video_path::GpuPiece::Decode,
                source,
            })?;
        }
        let decoder = ctx.decoder().video().map_err(|source| match gpu {
            Some(_) => PipelineError::Gpu {
                piece: crate::video_path::GpuPiece::Decode,
                source: GpuError::NvdecOpen(source),
            },
            None => PipelineError::Decoder {
                what: "video",
                source,
            },
        })?;
        Ok(Self {
            decoder,
            decoded: frame::Video::empty(),
            picture: Picture::new(stream.rotation, interlaced(&stream.parameters)),
            drained: false,
            on_gpu: gpu.is_some(),
            refused_in_a_row: 0,
        })
    }

    /// Hands the decoder a packet.
    pub fn push(&mut self, packet: &ff::Packet) -> Result<(), Refused> {
        let Err(e) = self.decoder.send_packet(packet) else {
            return Ok(());
        };
        if !self.on_gpu {
            return Err(Refused::Corrupt(e));
        }
        self.refused_in_a_row += 1;
        let corrupt = matches!(e, ff::Error::InvalidData);
        if !corrupt {
            return Err(Refused::Gpu(GpuError::Call {
                what: "NVDEC refused a packet".into(),
                source: e,
            }));
        }
        if self.refused_in_a_row >= NVDEC_REFUSALS {
            return Err(Refused::Gpu(GpuError::NvdecRefuses {
                refused: self.refused_in_a_row,
                last: e,
            }));
        }
        Err(Refused::Corrupt(e))
    }

    /// The next decoded frame, if one is ready: progressive, and turned the
    /// way the source is shown (`picture.rs`).
    pub fn pull(&mut self) -> Result<Option<frame::Video>, PipelineError> {
        loop {
            if let Some(f) = self.picture.pull().map_err(PipelineError::Picture)? {
                return Ok(Some(f));
            }
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {
                    self.refused_in_a_row = 0;
                    let frame = std::mem::replace(&mut self.decoded, frame::Video::empty());
                    self.picture.push(frame).map_err(PipelineError::Picture)?;
                }
                Err(ff::Error::Eof) if !self.drained => {
                    self.drained = true;
                    self.picture.finish().map_err(PipelineError::Picture)?;
                }
                Err(_) => return Ok(None),
            }
        }
    }

    /// No more packets: what the decoder still holds comes out of [`Self::pull`].
    pub fn finish(&mut self) {
        let _ = self.decoder.send_eof();
    }
}

/// A decoder for `params`, with the packet time base set.
pub(crate) fn open_decoder(
    params: &codec::Parameters,
    tb: Rational,
    what: &'static str,
) -> Result<decoder::Decoder, PipelineError> {
    Ok(decoder_context(params, tb, what, DECODER_THREADS)?.decoder())
}

/// An unopened decoder context for `params`, with the packet time base set.
fn decoder_context(
    params: &codec::Parameters,
    tb: Rational,
    what: &'static str,
    threads: usize,
) -> Result<codec::context::Context, PipelineError> {
    let mut ctx = codec::context::Context::from_parameters(clone_parameters(params))
        .map_err(|source| PipelineError::Decoder { what, source })?;
    // SAFETY: setting the packet time base on an unopened context we own.
    unsafe {
        (*ctx.as_mut_ptr()).pkt_timebase = tb.into();
    }
    ctx.set_threading(codec::threading::Config {
        kind: codec::threading::Type::Frame,
        count: threads,
        ..Default::default()
    });
    Ok(ctx)
}

/// A deep copy of codec parameters.
pub(crate) fn clone_parameters(p: &codec::Parameters) -> codec::Parameters {
    let mut out = codec::Parameters::new();
    // SAFETY: both pointers are valid parameter sets; avcodec_parameters_copy deep-copies.
    unsafe {
        ff::ffi::avcodec_parameters_copy(out.as_mut_ptr(), p.as_ptr());
    }
    out
}

/// Threads for a CPU decode of `stream`: one up to [`ONE_THREAD_PIXEL_RATE`],
/// two above it or when the picture size is unknown.
fn decoder_threads(stream: &StreamInfo) -> usize {
    let fps = stream.frame_rate.map_or(30.0, f64::from).clamp(1.0, 240.0);
    match crate::codec_params::picture_size(&stream.parameters) {
        Some((w, h)) if f64::from(w) * f64::from(h) * fps <= ONE_THREAD_PIXEL_RATE => 1,
        _ => DECODER_THREADS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec_params::parameters_from_config;
    use crate::encoder::{open_video, EncoderKind, FrameInput, VideoSettings};
    use livefleet_base::Track;
    use livefleet_profile::{H264Profile, Preset, VideoCodec};

    /// A live source's parameters: only the SPS/PPS of an encoder of this size.
    fn live_stream(width: u32, height: u32, fps: i32) -> StreamInfo {
        let _ = ff::init();
        let settings = VideoSettings {
            width,
            height,
            frame_rate: Rational(fps, 1),
            bitrate: 1_000_000,
            max_bitrate: 1_300_000,
            gop_frames: 60,
            codec: VideoCodec::H264,
            h264_profile: H264Profile::Main,
            level: None,
            preset: Preset::FASTEST,
            threads: 1,
            colour: Default::default(),
        };
        let enc = open_video(
            EncoderKind::X264,
            &settings,
            "test",
            FrameInput::System(ff::format::Pixel::YUV420P),
        )
        .unwrap();
        let config = crate::rendition::encoder_extradata(&enc);
        StreamInfo {
            parameters: parameters_from_config(Track::Video, codec::Id::H264, &config),
            time_base: Rational(1, 1000),
            frame_rate: Some(Rational(fps, 1)),
            rotation: Default::default(),
        }
    }

    #[test]
    fn decoder_threads_follow_the_source_pixel_rate() {
        let small = live_stream(640, 360, 30);
        assert_eq!(
            crate::codec_params::picture_size(&small.parameters),
            Some((640, 360))
        );
        assert_eq!(decoder_threads(&small), 1);
        assert_eq!(decoder_threads(&live_stream(1920, 1080, 60)), 1);
        assert_eq!(
            decoder_threads(&live_stream(3840, 2160, 30)),
            DECODER_THREADS
        );
        let unknown = StreamInfo {
            parameters: parameters_from_config(Track::Video, codec::Id::H264, &[]),
            time_base: Rational(1, 1000),
            frame_rate: None,
            rotation: Default::default(),
        };
        assert_eq!(decoder_threads(&unknown), DECODER_THREADS, "size unknown");
    }
}
