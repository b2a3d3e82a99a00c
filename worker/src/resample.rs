//! Audio resampling into planar float, the AAC encoder's input.

use ff::{format, frame, software::resampling, ChannelLayout};
use ffmpeg_next as ff;

/// Converts `input` (or, with `None`, drains what the resampler still holds)
/// and appends the planar samples to `fifo`.
///
/// The output frame is sized by `swr_get_out_samples`, which counts the
/// samples the resampler buffers: sized by the input's count instead, a
/// 44.1 -> 48 kHz conversion leaves 48/44.1 - 1 of every frame inside the
/// resampler, and that audio is never heard.
pub(crate) fn resample_into(
    ctx: &mut resampling::Context,
    input: Option<&frame::Audio>,
    channels: usize,
    fifo: &mut [Vec<f32>],
) -> Result<(), ff::Error> {
    loop {
        let in_samples = input.map_or(0, |f| f.samples() as i32);
        // SAFETY: `ctx` is an initialised resampler owned by the caller.
        let room = unsafe { ff::ffi::swr_get_out_samples(ctx.as_mut_ptr(), in_samples) };
        if room < 0 {
            return Err(ff::Error::from(room));
        }
        if room == 0 && input.is_none() {
            return Ok(());
        }
        let mut converted = frame::Audio::new(
            format::Sample::F32(format::sample::Type::Planar),
            room.max(1) as usize,
            ChannelLayout::default(channels as i32),
        );
        match input {
            Some(f) => ctx.run(f, &mut converted)?,
            None => ctx.flush(&mut converted)?,
        };
        let n = converted.samples();
        for (ch, buf) in fifo.iter_mut().enumerate().take(converted.planes()) {
            buf.extend_from_slice(&converted.plane::<f32>(ch)[..n]);
        }
        // Input is consumed in one call; a drain goes on until nothing comes out.
        if input.is_some() || n == 0 {
            return Ok(());
        }
    }
}
