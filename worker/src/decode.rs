//! The decode stage: the source's video decoded once, for every rendition.

use ff::{codec, decoder, frame, Rational};
use ffmpeg_next as ff;

use crate::source::StreamInfo;
use crate::PipelineError;

/// Decoder threads: frame threading on two threads keeps a 1080p H.264
/// decode ahead of the encoders without the latency of one thread per core.
const DECODER_THREADS: usize = 2;

/// Video packets in, decoded frames out (push / pull).
pub struct VideoDecode {
    decoder: decoder::Video,
    decoded: frame::Video,
}

impl VideoDecode {
    pub fn open(stream: &StreamInfo) -> Result<Self, PipelineError> {
        let decoder = open_decoder(&stream.parameters, stream.time_base, "video")?
            .video()
            .map_err(|source| PipelineError::Decoder {
                what: "video",
                source,
            })?;
        Ok(Self {
            decoder,
            decoded: frame::Video::empty(),
        })
    }

    /// Hands the decoder a packet; an error means the packet was refused (corrupt).
    pub fn push(&mut self, packet: &ff::Packet) -> Result<(), ff::Error> {
        self.decoder.send_packet(packet)
    }

    /// The next decoded frame, if one is ready.
    pub fn pull(&mut self) -> Option<frame::Video> {
        self.decoder
            .receive_frame(&mut self.decoded)
            .ok()
            .map(|()| std::mem::replace(&mut self.decoded, frame::Video::empty()))
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
    let mut ctx = codec::context::Context::from_parameters(clone_parameters(params))
        .map_err(|source| PipelineError::Decoder { what, source })?;
    // SAFETY: setting the packet time base on an unopened context we own.
    unsafe {
        (*ctx.as_mut_ptr()).pkt_timebase = tb.into();
    }
    ctx.set_threading(codec::threading::Config {
        kind: codec::threading::Type::Frame,
        count: DECODER_THREADS,
        ..Default::default()
    });
    Ok(ctx.decoder())
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
