//! `livefleet worker calibrate`: measures how many pixels per second this
//! node encodes in real time, per encoder kind, for the placement cost model.
//!
//! It encodes a synthetic 1280x720 moving pattern with the profile-default
//! settings (2 s GOP, preset p4 → x264 `faster`) on as many parallel encoders
//! as the node has cores (NVENC: 2 sessions), and reports the sustained
//! pixel rate with 20% headroom for decoding, scaling and audio.

use std::time::{Duration, Instant};

use ff::{format, frame, Rational};
use ffmpeg_next as ff;
use livefleet_profile::{H264Profile, Preset, VideoCodec};

use crate::encoder::{self, EncoderKind, VideoSettings};

/// What one encoder kind achieved.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub kind: EncoderKind,
    /// Encoders run side by side.
    pub parallel: usize,
    /// Frames encoded per second, all encoders together.
    pub frames_per_second: f64,
    /// Sustained pixels per second, all encoders together.
    pub pixels_per_second: f64,
    /// The figure to configure: 80% of the measured rate.
    pub capacity_pps: u64,
}

/// Why the calibration could not measure.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("FFmpeg initialisation: {0}")]
    Init(ff::Error),
    #[error(transparent)]
    Open(#[from] encoder::EncoderError),
    #[error("the encoder refused a frame: {0}")]
    Encode(ff::Error),
    #[error("an encoder thread panicked")]
    Panicked,
}

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;

/// Encodes for `duration` with `kind` on `parallel` threads.
pub fn measure(
    kind: EncoderKind,
    parallel: usize,
    duration: Duration,
) -> Result<Calibration, CalibrationError> {
    ff::init().map_err(CalibrationError::Init)?;
    crate::ffmpeg_log::route_to_tracing();
    let settings = VideoSettings {
        width: WIDTH,
        height: HEIGHT,
        frame_rate: Rational::new(30, 1),
        bitrate: 3_000_000,
        max_bitrate: 3_300_000,
        gop_frames: 60,
        codec: VideoCodec::H264,
        h264_profile: H264Profile::High,
        level: None,
        preset: Preset::default(),
        threads: 1,
        colour: Default::default(),
    };
    let threads: Vec<_> = (0..parallel.max(1))
        .map(|i| {
            let s = settings.clone();
            std::thread::spawn(move || encode_for(kind, &s, i, duration))
        })
        .collect();
    let mut frames = 0u64;
    let mut elapsed = Duration::ZERO;
    for t in threads {
        let (n, d) = t.join().map_err(|_| CalibrationError::Panicked)??;
        frames += n;
        elapsed = elapsed.max(d);
    }
    let fps = frames as f64 / elapsed.as_secs_f64().max(1e-3);
    let pps = fps * f64::from(WIDTH * HEIGHT);
    Ok(Calibration {
        kind,
        parallel: parallel.max(1),
        frames_per_second: fps,
        pixels_per_second: pps,
        capacity_pps: (pps * 0.8) as u64,
    })
}

fn encode_for(
    kind: EncoderKind,
    s: &VideoSettings,
    seed: usize,
    duration: Duration,
) -> Result<(u64, Duration), CalibrationError> {
    let mut enc = encoder::open_video(
        kind,
        s,
        "calibration",
        encoder::FrameInput::System(ffmpeg_next::format::Pixel::YUV420P),
    )?;
    let mut f = frame::Video::new(format::Pixel::YUV420P, s.width, s.height);
    let mut packet = ff::Packet::empty();
    let start = Instant::now();
    let mut n: u64 = 0;
    let step = 90_000 / 30;
    while start.elapsed() < duration {
        pattern(&mut f, n as usize + seed * 7);
        f.set_pts(Some(n as i64 * step));
        enc.send_frame(&f).map_err(CalibrationError::Encode)?;
        while enc.receive_packet(&mut packet).is_ok() {}
        n += 1;
    }
    let _ = enc.send_eof();
    while enc.receive_packet(&mut packet).is_ok() {}
    Ok((n, start.elapsed()))
}

/// Paints frame `t` of a moving gradient with some texture into a YUV 4:2:0
/// frame, so an encoder has real work.
pub(crate) fn pattern(f: &mut frame::Video, t: usize) {
    let (width, height) = (f.width() as usize, f.height() as usize);
    let stride = f.stride(0);
    let luma = f.data_mut(0);
    for y in 0..height {
        let row = &mut luma[y * stride..y * stride + width];
        for (x, p) in row.iter_mut().enumerate() {
            *p = ((x + 2 * t) ^ (y + t)) as u8;
        }
    }
    for plane in 1..3 {
        let v = (t * 3 + plane * 50) as u8;
        f.data_mut(plane).fill(v);
    }
}
