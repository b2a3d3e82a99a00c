//! Pictures for people to look at: a decoded picture scaled to a size
//! (square pixels, full-range 4:2:0, bicubic) and encoded as JPEG. The
//! channel's preview picture (`crate::thumbnail`) and a VOD's storyboard
//! (`crate::storyboard`) are made with them.

use bytes::Bytes;
use ff::{codec, encoder, ffi, format::Pixel, frame, software::scaling, Rational};
use ffmpeg_next as ff;

/// MJPEG quantiser scale (2 best .. 31 worst): about 30 KB for 640x360.
const QUALITY: i32 = 4;

/// A `width` x `height` picture of sample aspect `sar` as shown (square
/// pixels), scaled so its longer side is at most `longest`, both sides even.
pub(crate) fn fit(width: u32, height: u32, sar: Rational, longest: u32) -> (u32, u32) {
    let (w, h) = crate::ladder::shown_size(width.max(1), height.max(1), sar);
    let scale = (f64::from(longest) / f64::from(w.max(h))).min(1.0);
    let even = |x: u32| ((f64::from(x) * scale / 2.0).round() as u32 * 2).max(2);
    (even(w), even(h))
}

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum JpegError {
    #[error("the GPU picture could not be copied to memory: {0}")]
    Download(ff::Error),
    #[error("cannot scale {0:?} pictures: {1}")]
    Scale(Pixel, ff::Error),
    #[error("the JPEG encoder failed: {0}")]
    Encode(ff::Error),
    #[error("FFmpeg has no MJPEG encoder")]
    NoEncoder,
}

/// A picture's format, width and height.
pub(crate) type Shape = (Pixel, u32, u32);

/// Scales pictures to full-range 4:2:0 of a given size (bicubic); the
/// scaler is kept while the source's shape and the size stay the same.
#[derive(Default)]
pub(crate) struct Shrinker {
    context: Option<(scaling::Context, Shape, (u32, u32))>,
}

impl Shrinker {
    /// `picture` (in memory or on the GPU) scaled to `size`.
    pub fn shrink(
        &mut self,
        picture: &frame::Video,
        size: (u32, u32),
    ) -> Result<frame::Video, JpegError> {
        let downloaded;
        let picture = if picture.format() == Pixel::CUDA {
            downloaded = download(picture)?;
            &downloaded
        } else {
            picture
        };
        let key = (picture.format(), picture.width(), picture.height());
        if self
            .context
            .as_ref()
            .is_none_or(|(_, source, to)| *source != key || *to != size)
        {
            let context = scaling::Context::get(
                key.0,
                key.1,
                key.2,
                Pixel::YUVJ420P,
                size.0,
                size.1,
                scaling::Flags::BICUBIC,
            )
            .map_err(|e| JpegError::Scale(key.0, e))?;
            self.context = Some((context, key, size));
        }
        let (context, _, _) = self.context.as_mut().expect("set above");
        let mut small = frame::Video::empty();
        context
            .run(picture, &mut small)
            .map_err(|e| JpegError::Scale(key.0, e))?;
        Ok(small)
    }
}

/// Encodes full-range 4:2:0 pictures as JPEG; the encoder is kept while
/// the size stays the same.
#[derive(Default)]
pub(crate) struct Jpeg {
    encoder: Option<(encoder::Video, (u32, u32))>,
    count: i64,
}

impl Jpeg {
    pub fn encode(&mut self, picture: &mut frame::Video) -> Result<Bytes, JpegError> {
        let size = (picture.width(), picture.height());
        if self.encoder.as_ref().is_none_or(|(_, s)| *s != size) {
            self.encoder = Some((open_mjpeg(size.0, size.1)?, size));
        }
        let (enc, _) = self.encoder.as_mut().expect("set above");
        picture.set_pts(Some(self.count));
        self.count += 1;
        enc.send_frame(picture).map_err(JpegError::Encode)?;
        let mut packet = ff::Packet::empty();
        enc.receive_packet(&mut packet).map_err(JpegError::Encode)?;
        Ok(Bytes::copy_from_slice(packet.data().unwrap_or_default()))
    }
}

fn open_mjpeg(width: u32, height: u32) -> Result<encoder::Video, JpegError> {
    let codec = encoder::find(codec::Id::MJPEG).ok_or(JpegError::NoEncoder)?;
    let mut ctx = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(JpegError::Encode)?;
    ctx.set_width(width);
    ctx.set_height(height);
    ctx.set_format(Pixel::YUVJ420P);
    ctx.set_time_base(Rational::new(1, 1));
    ctx.set_flags(codec::Flags::QSCALE);
    ctx.set_global_quality(QUALITY * ffi::FF_QP2LAMBDA);
    ctx.open_as(codec).map_err(JpegError::Encode)
}

/// A GPU picture copied to memory (NV12, or P010 for 10-bit sources).
fn download(picture: &frame::Video) -> Result<frame::Video, JpegError> {
    let mut sw = frame::Video::empty();
    // SAFETY: both frames are valid; FFmpeg allocates the destination's buffers.
    let r = unsafe { ffi::av_hwframe_transfer_data(sw.as_mut_ptr(), picture.as_ptr(), 0) };
    if r < 0 {
        return Err(JpegError::Download(ff::Error::from(r)));
    }
    Ok(sw)
}
