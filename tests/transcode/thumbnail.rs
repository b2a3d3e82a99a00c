//! The preview picture (`thumbnail.jpg`) beside the manifests.

use super::*;

/// One pixel of a JPEG, as 8-bit RGB: `(x, y)` of the decoded picture.
fn rgb_at(jpeg: &Path, x: u32, y: u32) -> [u8; 3] {
    let out = run(std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(jpeg)
        .args([
            "-vf",
            &format!("format=rgb24,crop=1:1:{x}:{y}"),
            "-f",
            "rawvideo",
        ])
        .args(["-pix_fmt", "rgb24", "-"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    out.stdout[..3].try_into().expect("three bytes")
}

/// An anamorphic PAL source (720x576 shown 16:9), red on the left half and
/// blue on the right: the picture is 640x360 with square pixels, and its
/// colours are the source's (full-range JPEG from limited-range video).
#[test]
fn the_preview_picture_is_the_source_as_shown_at_most_640_wide() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("pal.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:size=360x576:rate=25,pad=720:576:0:0:blue,setsar=64/45",
        "-t",
        "5",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        clip.to_str().unwrap(),
    ]);
    let out = tmp.path().join("out");
    let r = transcode(&clip, &profile("cpu-small.yaml"), &out);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let jpeg = out.join("thumbnail.jpg");
    let probe = run(std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&jpeg));
    assert_eq!(text(&probe.stdout).trim(), "mjpeg,640,360");
    let red = rgb_at(&jpeg, 100, 180);
    let blue = rgb_at(&jpeg, 540, 180);
    // Limited-range video stored as if it were full range would read
    // about (238, 14, 14) and (16, 15, 239).
    assert!(red[0] > 246 && red[1] < 8 && red[2] < 8, "left {red:?}");
    assert!(
        blue[2] > 246 && blue[0] < 8 && blue[1] < 8,
        "right {blue:?}"
    );
}
