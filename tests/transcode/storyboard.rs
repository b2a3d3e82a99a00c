//! The storyboard (`storyboard.vtt` and its sprites) beside a finished
//! output: thumbnail tiles for scrubbing, one per segment.

use super::*;

/// A 12 s clip: six 2 s segments, six tiles of 240x136 (the 240p
/// rendition's pictures, 426x240, the smallest at least 240 wide) in one
/// sprite, each the picture at its cue's start.
#[test]
fn a_finished_output_has_a_storyboard_of_its_pictures() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("in.flv");
    make_clip(&clip, 12);
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let cues = check_storyboard(&out, "240p", 30.0);
    assert_eq!(cues.len(), 6, "{cues:?}");
    assert_eq!(cues[5].rect, (1200, 0, 240, 136));
    assert!(cues.iter().all(|c| c.sprite == "storyboard/0.jpg"));
    let sprite = fs::read(out.join("storyboard/0.jpg")).unwrap();
    assert_eq!(jpeg_size(&sprite), Some((1440, 136)));
    assert!(
        text(&r.stderr).contains("storyboard stored"),
        "{}",
        text(&r.stderr)
    );
}

/// A portrait source: the tiles are upright, 240 on their longer side.
#[test]
fn a_portrait_output_has_portrait_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("portrait.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=360x640:rate=30",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-g",
        "60",
        "-pix_fmt",
        "yuv420p",
        clip.to_str().unwrap(),
    ]);
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let cues = check_storyboard(&out, "240p", 30.0);
    assert_eq!(cues.len(), 2, "{cues:?}");
    assert_eq!(cues[1].rect, (136, 0, 136, 240));
}
