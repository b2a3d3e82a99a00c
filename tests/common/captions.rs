//! Sources with closed captions, as broadcast encoders and caption
//! inserters send them: CEA-608 in ATSC A/53 `cc_data`, in an H.264 SEI
//! before every picture; and what FFmpeg's 608 decoder reads back.

use std::fs;
use std::path::{Path, PathBuf};

use super::{ffmpeg, profile};

/// Odd parity on a 7-bit CEA-608 byte.
fn parity(b: u8) -> u8 {
    let b = b & 0x7f;
    if b.count_ones().is_multiple_of(2) {
        b | 0x80
    } else {
        b
    }
}

/// A pop-on caption of `text` as CEA-608 byte pairs: resume caption loading,
/// the characters, end of caption (show it).
fn pop_on(text: &str) -> Vec<(u8, u8)> {
    let mut chars: Vec<u8> = text.bytes().collect();
    if chars.len() % 2 == 1 {
        chars.push(0);
    }
    let mut pairs = vec![(0x14, 0x20)];
    pairs.extend(chars.chunks(2).map(|c| (c[0], c[1])));
    pairs.push((0x14, 0x2f));
    pairs
}

/// An SEI NAL unit (Annex B) carrying one picture's A/53 `cc_data`: the
/// field-1 pair `pair`, field 2 padding.
fn cc_sei(pair: (u8, u8)) -> Vec<u8> {
    let cc = [
        0x42,
        0xff,
        0xfc,
        parity(pair.0),
        parity(pair.1),
        0xf9,
        0x80,
        0x80,
        0xff,
    ];
    let mut payload = vec![0xb5, 0x00, 0x31, b'G', b'A', b'9', b'4', 0x03];
    payload.extend(cc);
    let mut rbsp = vec![4, payload.len() as u8];
    rbsp.extend(payload);
    rbsp.push(0x80);
    let mut nal = vec![0, 0, 0, 1, 6];
    let mut zeros = 0;
    for b in rbsp {
        if zeros >= 2 && b <= 3 {
            nal.push(3);
            zeros = 0;
        }
        nal.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    nal
}

/// Annex B `stream` with a caption SEI before every picture: `text` from
/// half a second in, erased at 2 s.
fn with_captions(stream: &[u8], fps: usize, text: &str) -> Vec<u8> {
    let mut starts: Vec<usize> = stream
        .windows(3)
        .enumerate()
        .filter(|(_, w)| *w == [0, 0, 1])
        .map(|(i, _)| i + 3)
        .collect();
    starts.push(stream.len() + 3);
    let mut schedule = std::collections::HashMap::new();
    for (k, pair) in pop_on(text).into_iter().enumerate() {
        schedule.insert(fps / 2 + k, pair);
    }
    schedule.insert(2 * fps, (0x14, 0x2c));
    let mut out = Vec::new();
    let mut picture = 0;
    for w in starts.windows(2) {
        let nal = &stream[w[0]..w[1] - 3];
        let nal = &nal[..nal.len() - nal.iter().rev().take_while(|b| **b == 0).count()];
        if matches!(nal.first().map(|b| b & 0x1f), Some(1 | 5)) {
            out.extend(cc_sei(schedule.get(&picture).copied().unwrap_or((0, 0))));
            picture += 1;
        }
        out.extend([0, 0, 0, 1]);
        out.extend(nal);
    }
    out
}

/// A `secs`-second 640x360 clip at `fps` in `pix_fmt` with `text` as a
/// CEA-608 caption (from 0.5 s, erased at 2 s) and AAC audio. No B-frames: the captions are in picture order.
pub fn captioned_clip(dir: &Path, fps: usize, pix_fmt: &str, text: &str, secs: u32) -> PathBuf {
    let secs = secs.to_string();
    let plain = dir.join("plain.h264");
    let source = format!("testsrc2=size=640x360:rate={fps}");
    let rate = fps.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &source,
        "-t",
        &secs,
        "-pix_fmt",
        pix_fmt,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-bf",
        "0",
        "-f",
        "h264",
        plain.to_str().unwrap(),
    ]);
    let captioned = dir.join("captioned.h264");
    let stream = fs::read(&plain).unwrap();
    fs::write(&captioned, with_captions(&stream, fps, text)).unwrap();
    let clip = dir.join("captioned.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-t",
        &secs,
        "-i",
        "sine=sample_rate=48000",
        "-r",
        &rate,
        "-i",
        captioned.to_str().unwrap(),
        "-map",
        "1:v",
        "-map",
        "0:a",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        clip.to_str().unwrap(),
    ]);
    clip
}

/// The captions FFmpeg's CEA-608 decoder reads from `video`, as SubRip text.
pub fn caption_text(video: &Path, dir: &Path) -> String {
    let srt = dir.join("captions.srt");
    let _ = fs::remove_file(&srt);
    let source = format!("movie={}[out0+subcc]", video.display());
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &source,
        "-map",
        "0:s",
        srt.to_str().unwrap(),
    ]);
    fs::read_to_string(&srt).unwrap_or_default()
}

/// `cpu-small` declaring one caption service (`service`: a YAML flow
/// mapping such as `{ channel: CC1, language: en, name: English }`), in `dir`.
pub fn captioned_profile(dir: &Path, service: &str) -> PathBuf {
    let path = dir.join("captioned.yaml");
    let small = fs::read_to_string(profile("cpu-small.yaml")).unwrap();
    fs::write(
        &path,
        small.replace("name: cpu-small", "name: cpu-small-captions")
            + &format!("\ncaptions:\n  - {service}\n"),
    )
    .unwrap();
    path
}
