//! The channel's preview picture: at every segment boundary the decoded
//! source picture, scaled down to at most 640 pixels on its longer side
//! (square pixels, as it is shown), stored as `thumbnail.jpg` beside the
//! manifests, for channel listings and players' posters. What peers call a
//! thumbnail publisher; the ffmpeg CLI's `-update 1 thumbnail.jpg` output.
//!
//! Its own thread takes a picture only when it is idle, so it never holds up
//! the ladder. A picture it cannot make is logged and skipped; the third
//! failure in a row ends the session's thumbnails (with a warning), never
//! the channel.

use bytes::Bytes;
use crossbeam_channel::Receiver;
use ff::{codec, encoder, ffi, format::Pixel, frame, software::scaling, Rational};
use ffmpeg_next as ff;
use std::sync::Arc;

use crate::pack::{PackMsg, PackSender};

/// The longer side of the picture at most, in pixels.
const LONGEST_SIDE: u32 = 640;
/// MJPEG quantiser scale (2 best .. 31 worst): about 30 KB for 640x360.
const QUALITY: i32 = 4;
/// Failures in a row after which a session stops making pictures.
const MAX_FAILURES: u32 = 3;

/// The picture's size for a source of `width` x `height` with sample aspect
/// `sar`: square pixels, the longer side at most [`LONGEST_SIDE`], never
/// larger than shown, both sides even.
pub fn size_for(width: u32, height: u32, sar: Rational) -> (u32, u32) {
    let (w, h) = crate::ladder::shown_size(width.max(1), height.max(1), sar);
    let scale = (f64::from(LONGEST_SIDE) / f64::from(w.max(h))).min(1.0);
    let even = |x: u32| ((f64::from(x) * scale / 2.0).round() as u32 * 2).max(2);
    (even(w), even(h))
}

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("the GPU picture could not be copied to memory: {0}")]
    Download(ff::Error),
    #[error("cannot scale {0:?} pictures: {1}")]
    Scale(Pixel, ff::Error),
    #[error("the JPEG encoder failed: {0}")]
    Encode(ff::Error),
    #[error("FFmpeg has no MJPEG encoder")]
    NoEncoder,
}

struct Scaler {
    context: scaling::Context,
    /// The source's format, width and height.
    source: (Pixel, u32, u32),
    /// The picture's width and height.
    size: (u32, u32),
}

/// Scales and encodes pictures; both are kept while the source's size and
/// format stay the same.
#[derive(Default)]
pub struct ThumbnailMaker {
    scaler: Option<Scaler>,
    encoder: Option<(encoder::Video, (u32, u32))>,
    count: i64,
}

impl ThumbnailMaker {
    /// A JPEG of `picture`.
    pub fn make(&mut self, picture: &frame::Video) -> Result<Bytes, ThumbnailError> {
        let sar = picture.aspect_ratio();
        let downloaded;
        let picture = if picture.format() == Pixel::CUDA {
            downloaded = download(picture)?;
            &downloaded
        } else {
            picture
        };
        let key = (picture.format(), picture.width(), picture.height());
        if self.scaler.as_ref().is_none_or(|s| s.source != key) {
            // Sized once per source format: an odd aspect ratio is warned about once.
            let (w, h) = size_for(key.1, key.2, sar);
            let context = scaling::Context::get(
                key.0,
                key.1,
                key.2,
                Pixel::YUVJ420P,
                w,
                h,
                scaling::Flags::BICUBIC,
            )
            .map_err(|e| ThumbnailError::Scale(key.0, e))?;
            self.scaler = Some(Scaler {
                context,
                source: key,
                size: (w, h),
            });
        }
        let scaler = self.scaler.as_mut().expect("set above");
        let (w, h) = scaler.size;
        let mut small = frame::Video::empty();
        scaler
            .context
            .run(picture, &mut small)
            .map_err(|e| ThumbnailError::Scale(key.0, e))?;
        if self
            .encoder
            .as_ref()
            .is_none_or(|(_, size)| *size != (w, h))
        {
            self.encoder = Some((open_mjpeg(w, h)?, (w, h)));
        }
        let (enc, _) = self.encoder.as_mut().expect("set above");
        small.set_pts(Some(self.count));
        self.count += 1;
        enc.send_frame(&small).map_err(ThumbnailError::Encode)?;
        let mut packet = ff::Packet::empty();
        enc.receive_packet(&mut packet)
            .map_err(ThumbnailError::Encode)?;
        Ok(Bytes::copy_from_slice(packet.data().unwrap_or_default()))
    }
}

/// Runs until `rx` closes, storing each picture it is handed through the package stage.
pub(crate) fn run(rx: Receiver<Arc<frame::Video>>, out: &PackSender) {
    let mut maker = ThumbnailMaker::default();
    let mut failures = 0;
    while let Ok(picture) = rx.recv() {
        match maker.make(&picture) {
            Ok(jpeg) => {
                failures = 0;
                if out.send(PackMsg::Thumbnail(jpeg)).is_err() {
                    return;
                }
            }
            Err(e) => {
                failures += 1;
                tracing::info!(error = %e, "no thumbnail at this boundary");
                if failures >= MAX_FAILURES {
                    tracing::warn!(error = %e, "thumbnails stop for this session after {MAX_FAILURES} failures in a row; the video goes on");
                    return;
                }
            }
        }
    }
}

fn open_mjpeg(width: u32, height: u32) -> Result<encoder::Video, ThumbnailError> {
    let codec = encoder::find(codec::Id::MJPEG).ok_or(ThumbnailError::NoEncoder)?;
    let mut ctx = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(ThumbnailError::Encode)?;
    ctx.set_width(width);
    ctx.set_height(height);
    ctx.set_format(Pixel::YUVJ420P);
    ctx.set_time_base(Rational::new(1, 1));
    ctx.set_flags(codec::Flags::QSCALE);
    ctx.set_global_quality(QUALITY * ffi::FF_QP2LAMBDA);
    ctx.open_as(codec).map_err(ThumbnailError::Encode)
}

/// A GPU picture copied to memory (NV12, or P010 for 10-bit sources).
fn download(picture: &frame::Video) -> Result<frame::Video, ThumbnailError> {
    let mut sw = frame::Video::empty();
    // SAFETY: both frames are valid; FFmpeg allocates the destination's buffers.
    let r = unsafe { ffi::av_hwframe_transfer_data(sw.as_mut_ptr(), picture.as_ptr(), 0) };
    if r < 0 {
        return Err(ThumbnailError::Download(ff::Error::from(r)));
    }
    Ok(sw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longer_side_is_at_most_640_and_pixels_are_square() {
        let square = Rational::new(1, 1);
        assert_eq!(size_for(1920, 1080, square), (640, 360));
        assert_eq!(size_for(1080, 1920, square), (360, 640));
        assert_eq!(size_for(320, 240, square), (320, 240));
        // Anamorphic DVD: 720x576 shown 16:9.
        assert_eq!(size_for(720, 576, Rational::new(64, 45)), (640, 360));
        assert_eq!(size_for(97, 55, square), (98, 56));
        assert_eq!(size_for(1, 1, square), (2, 2));
    }

    #[test]
    fn a_picture_becomes_a_jpeg_of_that_size() {
        ff::init().unwrap();
        let mut f = frame::Video::new(Pixel::YUV420P, 1280, 720);
        for plane in 0..3 {
            f.data_mut(plane).fill(if plane == 0 { 200 } else { 128 });
        }
        let mut maker = ThumbnailMaker::default();
        for _ in 0..2 {
            let jpeg = maker.make(&f).unwrap();
            assert_eq!(&jpeg[..2], &[0xff, 0xd8], "a JPEG starts with SOI");
            assert_eq!(&jpeg[jpeg.len() - 2..], &[0xff, 0xd9], "and ends with EOI");
            let mut d = codec::context::Context::new_with_codec(
                ff::decoder::find(codec::Id::MJPEG).unwrap(),
            )
            .decoder()
            .video()
            .unwrap();
            let mut packet = ff::Packet::copy(&jpeg);
            packet.set_pts(Some(0));
            d.send_packet(&packet).unwrap();
            let mut out = frame::Video::empty();
            d.receive_frame(&mut out).unwrap();
            assert_eq!((out.width(), out.height()), (640, 360));
            // Full range: the source's limited-range 200 is brighter in the JPEG.
            let luma = out.data(0)[out.stride(0) * 100 + 100];
            assert!((212..=220).contains(&luma), "luma {luma}");
        }
    }
}
