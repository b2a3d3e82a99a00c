//! zimg (libavfilter's `zscale`) as the CPU scaler of 8-bit 4:2:0 frames:
//! `buffer -> zscale -> buffersink`, one filter thread, per rendition.
//!
//! The kernel is swscale's bicubic (B = 0, C = 0.6) and chroma is taken as
//! centre-sited, as swscale takes it: the pictures are 63 to 70 dB from
//! swscale's, and zimg spends about a third less CPU on them
//! (docs/design/worker-cpu.md).

use ff::{format, frame};
use ffmpeg_next as ff;

use crate::filter_chain::{FilterChain, FilterError, Step};

/// The `zscale` options: swscale's bicubic, chroma sited as swscale sites it.
const ZSCALE_KERNEL: &str = "filter=bicubic:param_a=0:param_b=0.6:chromal=center:chromalin=center";

/// Whether zimg can scale `src` to `width` x `height`: 8-bit 4:2:0 with
/// even sizes on both sides (zimg refuses sizes its subsampling does not
/// divide). Everything else goes to swscale.
pub(crate) fn suits(src: &frame::Video, width: u32, height: u32) -> bool {
    src.format() == format::Pixel::YUV420P
        && [src.width(), src.height(), width, height]
            .iter()
            .all(|d| d % 2 == 0 && *d > 0)
}

/// `buffer -> zscale -> format=yuv420p -> buffersink` for one rendition.
pub(crate) struct ZimgScaler(FilterChain);

impl ZimgScaler {
    /// A scaler from `width_in` x `height_in` YUV420P to `width` x `height`.
    pub(crate) fn new(
        width_in: u32,
        height_in: u32,
        width: u32,
        height: u32,
    ) -> Result<Self, FilterError> {
        let input = format!(
            "video_size={width_in}x{height_in}:pix_fmt=yuv420p:time_base=1/90000:pixel_aspect=1/1"
        );
        let steps = [
            Step {
                name: "zscale",
                options: format!("w={width}:h={height}:{ZSCALE_KERNEL}"),
            },
            Step {
                name: "format",
                options: "pix_fmts=yuv420p".into(),
            },
        ];
        // One thread: every rendition already scales on a thread of its own.
        FilterChain::new(
            format!("zscale {width_in}x{height_in} to {width}x{height}"),
            &input,
            &steps,
            Some(1),
            |_| Ok(()),
        )
        .map(Self)
    }

    /// The scaled frame. `src` is not consumed: the other renditions read
    /// the same decoded frame.
    pub(crate) fn scale(&mut self, src: &frame::Video) -> Result<frame::Video, FilterError> {
        self.0.run(src)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ff::software::scaling;

    /// A 1920x1080 YUV420P picture with edges and gradients in every plane.
    fn picture(width: u32, height: u32) -> frame::Video {
        let _ = ff::init();
        let mut f = frame::Video::new(format::Pixel::YUV420P, width, height);
        for plane in 0..3 {
            let stride = f.stride(plane);
            let (w, h) = (
                f.plane_width(plane) as usize,
                f.plane_height(plane) as usize,
            );
            let data = f.data_mut(plane);
            for y in 0..h {
                for x in 0..w {
                    let checker = if (x / 37 + y / 23) % 2 == 0 { 60 } else { 0 };
                    data[y * stride + x] = ((x * 3 + y * (plane + 1)) % 180 + checker) as u8;
                }
            }
        }
        f
    }

    fn psnr(a: &frame::Video, b: &frame::Video, plane: usize) -> f64 {
        let (w, h) = (
            a.plane_width(plane) as usize,
            a.plane_height(plane) as usize,
        );
        assert_eq!(
            (w, h),
            (
                b.plane_width(plane) as usize,
                b.plane_height(plane) as usize
            )
        );
        let mut sse = 0.0;
        for y in 0..h {
            let ra = &a.data(plane)[y * a.stride(plane)..][..w];
            let rb = &b.data(plane)[y * b.stride(plane)..][..w];
            sse += ra
                .iter()
                .zip(rb)
                .map(|(p, q)| (f64::from(*p) - f64::from(*q)).powi(2))
                .sum::<f64>();
        }
        let mse = sse / (w * h) as f64;
        if mse == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (255.0f64.powi(2) / mse).log10()
        }
    }

    #[test]
    fn zimg_pictures_match_swscale_bicubic_in_every_plane() {
        let src = picture(1920, 1080);
        for (w, h) in [(1280, 720), (854, 480), (640, 360)] {
            let ours = ZimgScaler::new(1920, 1080, w, h)
                .unwrap()
                .scale(&src)
                .unwrap();
            assert_eq!((ours.width(), ours.height()), (w, h));
            assert_eq!(ours.format(), format::Pixel::YUV420P);
            let mut reference = frame::Video::empty();
            scaling::Context::get(
                src.format(),
                1920,
                1080,
                format::Pixel::YUV420P,
                w,
                h,
                scaling::Flags::BICUBIC,
            )
            .unwrap()
            .run(&src, &mut reference)
            .unwrap();
            for plane in 0..3 {
                let db = psnr(&ours, &reference, plane);
                // A rendition is about 45 dB from its source: 50 dB between
                // the scalers changes it by well under 0.1 dB.
                assert!(db > 50.0, "{w}x{h} plane {plane}: {db:.1} dB from swscale");
            }
        }
    }

    #[test]
    fn odd_sizes_and_other_formats_go_to_swscale() {
        let even = picture(640, 360);
        assert!(suits(&even, 320, 180));
        assert!(!suits(&even, 321, 180));
        assert!(!suits(&picture(641, 361), 320, 180));
        let _ = ff::init();
        let nv12 = frame::Video::new(format::Pixel::NV12, 640, 360);
        assert!(!suits(&nv12, 320, 180));
    }

    #[test]
    fn a_scaler_serves_every_frame_of_its_size() {
        let src = picture(640, 360);
        let mut z = ZimgScaler::new(640, 360, 426, 240).unwrap();
        for _ in 0..5 {
            let f = z.scale(&src).unwrap();
            assert_eq!((f.width(), f.height()), (426, 240));
        }
    }
}
