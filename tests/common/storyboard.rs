//! Reading a VOD's storyboard (`storyboard.vtt` and its sprites) with the
//! ffmpeg CLI, and checking each tile against the video it stands for.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::{jpeg_size, run, segment_durations, text};

/// One cue: its span and the rectangle of the sprite it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub sprite: String,
    pub rect: (u32, u32, u32, u32),
}

/// The cues of a WebVTT storyboard; panics on anything else.
pub fn storyboard_cues(vtt: &str) -> Vec<Cue> {
    assert!(vtt.starts_with("WEBVTT\n"), "not WebVTT: {vtt}");
    let seconds = |t: &str| {
        let parts: Vec<f64> = t.split(':').map(|p| p.parse().unwrap()).collect();
        parts.iter().fold(0.0, |acc, p| acc * 60.0 + p)
    };
    let mut cues = Vec::new();
    let mut lines = vtt.lines();
    while let Some(line) = lines.next() {
        let Some((from, to)) = line.split_once(" --> ") else {
            continue;
        };
        let payload = lines.next().expect("a cue's payload");
        let (sprite, xywh) = payload.split_once("#xywh=").expect("a tile rectangle");
        let v: Vec<u32> = xywh.split(',').map(|n| n.parse().unwrap()).collect();
        cues.push(Cue {
            start: seconds(from),
            end: seconds(to),
            sprite: sprite.to_owned(),
            rect: (v[0], v[1], v[2], v[3]),
        });
    }
    cues
}

/// Luma of an image or video as `width` x `height` grey pictures (full
/// range), every frame of it.
fn grey_frames(input: &Path, size: Option<(u32, u32)>) -> Vec<Vec<u8>> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-i"]).arg(input);
    if let Some((w, h)) = size {
        cmd.args(["-vf", &format!("scale={w}:{h}")]);
    }
    let out = run(cmd.args(["-f", "rawvideo", "-pix_fmt", "gray", "-"]));
    assert!(
        out.status.success(),
        "ffmpeg {input:?}: {}",
        text(&out.stderr)
    );
    let (w, h) = size.unwrap_or_else(|| jpeg_size(&fs::read(input).unwrap()).unwrap());
    out.stdout
        .chunks_exact((w * h) as usize)
        .map(<[u8]>::to_vec)
        .collect()
}

fn mean_difference(a: &[u8], b: &[u8]) -> f64 {
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.len().max(1) as f64
}

/// Checks the storyboard of the presentation in `dir` against its
/// `rendition` (at `fps`): the cues cover its timeline end to end, every
/// tile lies inside its sprite, and each tile is the rendition's picture at
/// its cue's start (of all its frames, the one closest to the tile, within
/// a frame). Returns the cues.
pub fn check_storyboard(dir: &Path, rendition: &str, fps: f64) -> Vec<Cue> {
    let vtt = fs::read_to_string(dir.join("storyboard.vtt")).expect("storyboard.vtt");
    let cues = storyboard_cues(&vtt);
    assert!(!cues.is_empty(), "{vtt}");
    let total: f64 = segment_durations(&dir.join(rendition).join("index.m3u8"))
        .iter()
        .sum();
    assert_eq!(cues[0].start, 0.0, "{vtt}");
    assert!(
        (cues.last().unwrap().end - total).abs() < 0.01,
        "{total} s: {vtt}"
    );
    for pair in cues.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "contiguous: {vtt}");
    }
    let (_, _, w, h) = cues[0].rect;
    let frames = grey_frames(&dir.join(rendition).join("index.m3u8"), Some((w, h)));
    for (i, cue) in cues.iter().enumerate() {
        let sprite_path = dir.join(&cue.sprite);
        let (sw, sh) = jpeg_size(&fs::read(&sprite_path).unwrap()).unwrap();
        let (x, y, cw, ch) = cue.rect;
        assert!(
            (cw, ch) == (w, h) && x + w <= sw && y + h <= sh,
            "{cue:?} in {sw}x{sh}"
        );
        let sprite = grey_frames(&sprite_path, None).remove(0);
        let tile: Vec<u8> = (y..y + h)
            .flat_map(|row| {
                let at = (row * sw + x) as usize;
                sprite[at..at + w as usize].to_vec()
            })
            .collect();
        let (best, difference) = frames
            .iter()
            .enumerate()
            .map(|(n, f)| (n, mean_difference(f, &tile)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        let expected = (cue.start * fps).round() as usize;
        assert!(
            best.abs_diff(expected) <= 1 && difference < 4.0,
            "tile {i} ({cue:?}) is most like frame {best} (mean difference {difference:.2}), not {expected}"
        );
    }
    cues
}
