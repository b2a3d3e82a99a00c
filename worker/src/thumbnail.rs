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
use ff::{frame, Rational};
use ffmpeg_next as ff;
use std::sync::Arc;

use crate::jpeg::{fit, Jpeg, JpegError, Shape, Shrinker};
use crate::pack::{PackMsg, PackSender};

/// The longer side of the picture at most, in pixels.
const LONGEST_SIDE: u32 = 640;
/// Failures in a row after which a session stops making pictures.
const MAX_FAILURES: u32 = 3;

/// The picture's size for a source of `width` x `height` with sample aspect
/// `sar`: square pixels, the longer side at most [`LONGEST_SIDE`], never
/// larger than shown, both sides even.
pub fn size_for(width: u32, height: u32, sar: Rational) -> (u32, u32) {
    fit(width, height, sar, LONGEST_SIDE)
}

/// Scales and encodes pictures for the channel's preview.
#[derive(Default)]
pub struct ThumbnailMaker {
    shrinker: Shrinker,
    jpeg: Jpeg,
    /// The source's shape, and the picture's size.
    sized: Option<(Shape, (u32, u32))>,
}

impl ThumbnailMaker {
    /// A JPEG of `picture`.
    pub fn make(&mut self, picture: &frame::Video) -> Result<Bytes, JpegError> {
        let key = (picture.format(), picture.width(), picture.height());
        let size = match self.sized {
            Some((source, size)) if source == key => size,
            _ => {
                // Sized once per source format: an odd aspect ratio is warned about once.
                let size = size_for(key.1, key.2, picture.aspect_ratio());
                self.sized = Some((key, size));
                size
            }
        };
        let mut small = self.shrinker.shrink(picture, size)?;
        self.jpeg.encode(&mut small)
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

#[cfg(test)]
mod tests {
    use super::*;
    use ff::{codec, format::Pixel};

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
