//! The colour description a source says (BT.709, OBS's BT.601, full range)
//! is what every rendition says, so players turn the renditions into the
//! same RGB as the source; a source that says nothing gets, explicitly, the
//! matrix players guess for it, so its smaller rungs are not read otherwise.

use super::*;
use orientation::first_segment_file;

/// A solid colour that reads differently under BT.601 and BT.709 (a
/// difference of about 10 levels in red and green).
const COLOUR: &str = "color=c=0x30C060:size=1280x720:rate=30";

/// A 2 s 1280x720 clip of [`COLOUR`] coded and tagged with `extra`.
fn colour_clip(path: &Path, extra: &[&str]) {
    let mut args = vec!["-f", "lavfi", "-i", COLOUR, "-t", "2"];
    args.extend_from_slice(extra);
    args.extend(["-c:v", "libx264", "-preset", "ultrafast"]);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
}

/// The centre pixel of the first frame in RGB, read with `matrix` (`auto`:
/// what the stream says).
fn centre_rgb(input: &Path, matrix: &str) -> [u8; 3] {
    let out = run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(input)
        .args([
            "-frames:v",
            "1",
            "-vf",
            &format!("scale=in_color_matrix={matrix}:in_range=auto,format=rgb24"),
            "-f",
            "rawvideo",
            "-",
        ]));
    let px = &out.stdout;
    assert!(px.len() >= 3, "no picture: {}", text(&out.stderr));
    let at = px.len() / 3 / 2 * 3;
    [px[at], px[at + 1], px[at + 2]]
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 3)
}

#[test]
fn every_rendition_says_the_source_colour_and_shows_it() {
    // (what the clip is made with, what each rendition must say, how the source is read)
    let cases: [(&str, &[&str], &str, &str); 4] = [
        (
            "BT.709",
            &[
                "-vf",
                "scale=out_color_matrix=bt709",
                "-colorspace",
                "bt709",
                "-color_primaries",
                "bt709",
                "-color_trc",
                "bt709",
            ],
            "tv,bt709,bt709,bt709",
            "auto",
        ),
        (
            "BT.601 (OBS's old default)",
            &[
                "-vf",
                "scale=out_color_matrix=bt601",
                "-colorspace",
                "smpte170m",
                "-color_primaries",
                "smpte170m",
                "-color_trc",
                "smpte170m",
            ],
            "tv,smpte170m,smpte170m,smpte170m",
            "auto",
        ),
        (
            "full range",
            &[
                "-vf",
                "scale=out_color_matrix=bt709:out_range=full",
                "-pix_fmt",
                "yuvj420p",
                "-colorspace",
                "bt709",
            ],
            "tv,bt709,unknown,unknown",
            "auto",
        ),
        (
            "untagged HD",
            &["-vf", "scale=out_color_matrix=bt709"],
            "tv,bt709,unknown,unknown",
            "bt709",
        ),
    ];
    for (what, tags, says, read_as) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let clip = tmp.path().join("source.mp4");
        colour_clip(&clip, tags);
        let out = tmp.path().join("out");
        assert_ok(&transcode(&clip, &out));
        let source = centre_rgb(&clip, read_as);
        for rendition in ["360p", "240p"] {
            let dir = out.join(rendition);
            let (_, said) = probe_last_segment(
                &dir,
                "stream=color_range,color_space,color_transfer,color_primaries",
            );
            assert_eq!(said, says, "{what}, {rendition}");
            let shown = centre_rgb(&first_segment_file(&dir, tmp.path()), "auto");
            assert!(
                near(shown, source),
                "{what}, {rendition}: shown as {shown:?}, the source as {source:?}"
            );
        }
    }
}
