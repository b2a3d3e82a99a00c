//! The input of the mode runs: a 1280x720 30 fps H.264 clip written with
//! FFmpeg's libraries (libx264, MP4), so `gpu-check` needs no file and no CLI.

use std::path::Path;

use ff::{codec, encoder, format, frame, Dictionary, Rational};
use ffmpeg_next as ff;

use crate::calibrate::pattern;

pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 720;
const FPS: i32 = 30;

/// Why the clip could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error("writing the check's clip ({what}): {source}")]
    Write {
        what: &'static str,
        source: ff::Error,
    },
    #[error("this FFmpeg has no libx264")]
    NoX264,
}

/// Writes `seconds` of the moving pattern to `path`.
pub fn write(path: &Path, seconds: f64) -> Result<(), ClipError> {
    let failed = |what: &'static str, source: ff::Error| ClipError::Write { what, source };
    let mut out = format::output(path).map_err(|e| failed("open", e))?;
    let codec = encoder::find_by_name("libx264").ok_or(ClipError::NoX264)?;
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(|e| failed("encoder", e))?;
    enc.set_width(WIDTH);
    enc.set_height(HEIGHT);
    enc.set_format(format::Pixel::YUV420P);
    enc.set_time_base(Rational::new(1, FPS));
    enc.set_frame_rate(Some(Rational::new(FPS, 1)));
    enc.set_gop(FPS as u32);
    enc.set_bit_rate(4_000_000);
    if out.format().flags().contains(format::Flags::GLOBAL_HEADER) {
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut opts = Dictionary::new();
    opts.set("preset", "ultrafast");
    let mut enc = enc
        .open_as_with(codec, opts)
        .map_err(|e| failed("encoder", e))?;
    let mut stream = out.add_stream(codec).map_err(|e| failed("stream", e))?;
    stream.set_parameters(&enc);
    stream.set_time_base(Rational::new(1, FPS));
    out.write_header().map_err(|e| failed("header", e))?;
    let stream_tb = out
        .stream(0)
        .map(|s| s.time_base())
        .ok_or(failed("stream", ff::Error::StreamNotFound))?;
    let mut f = frame::Video::new(format::Pixel::YUV420P, WIDTH, HEIGHT);
    let frames = (seconds * f64::from(FPS)).ceil().max(1.0) as i64;
    let mut packet = ff::Packet::empty();
    let mut drain = |enc: &mut encoder::Video, out: &mut format::context::Output| {
        while enc.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            packet.rescale_ts(Rational::new(1, FPS), stream_tb);
            packet
                .write_interleaved(out)
                .map_err(|e| failed("packet", e))?;
        }
        Ok::<(), ClipError>(())
    };
    for n in 0..frames {
        pattern(&mut f, n as usize);
        f.set_pts(Some(n));
        enc.send_frame(&f).map_err(|e| failed("frame", e))?;
        drain(&mut enc, &mut out)?;
    }
    enc.send_eof().map_err(|e| failed("flush", e))?;
    drain(&mut enc, &mut out)?;
    out.write_trailer().map_err(|e| failed("trailer", e))
}
