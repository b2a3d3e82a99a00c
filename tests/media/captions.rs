//! Closed captions (CEA-608 in the H.264 SEI, as broadcast encoders and
//! caption inserters send them) reach every rendition readable: at the
//! source's rate, thinned from 60 to 30 fps, and through swscale.

use super::*;
use common::captions::{caption_text, captioned_clip};

/// Every segment of `rendition` after its init segment, as one file.
fn whole_rendition(dir: &Path, into: &Path) -> std::path::PathBuf {
    let playlist = fs::read_to_string(dir.join("index.m3u8")).unwrap();
    let mut bytes = fs::read(dir.join("init.mp4")).unwrap();
    for segment in playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        bytes.extend(fs::read(dir.join(segment)).unwrap());
    }
    let file = into.join("whole.mp4");
    fs::write(&file, bytes).unwrap();
    file
}

#[test]
fn captions_reach_every_rendition() {
    // (frame rate, pixel format, caption): the rungs at the source's rate
    // (zimg, and the frame itself at 360p); 60 fps thinned to cpu-small's
    // 30; 4:2:2, scaled by swscale.
    let cases = [
        (30, "yuv420p", "HELLO"),
        (60, "yuv420p", "HELLO WORLD"),
        (30, "yuv422p", "LIVE CAPTIONS"),
    ];
    // cpu-small, declaring the service the source carries.
    let profiles = tempfile::tempdir().unwrap();
    let captioned_profile = profiles.path().join("captioned.yaml");
    let small = fs::read_to_string(profile("cpu-small.yaml")).unwrap();
    fs::write(
        &captioned_profile,
        small.replace("name: cpu-small", "name: cpu-small-captions")
            + "\ncaptions:\n  - { channel: CC1, language: en, name: English }\n",
    )
    .unwrap();
    for (fps, pix_fmt, text) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let clip = captioned_clip(tmp.path(), fps, pix_fmt, text);
        assert!(
            caption_text(&clip, tmp.path()).contains(text),
            "the source carries no caption"
        );
        let out = tmp.path().join("out");
        assert_ok(&run(livefleet()
            .arg("transcode")
            .arg(&clip)
            .arg("--profile")
            .arg(&captioned_profile)
            .arg("--out")
            .arg(&out)));
        let master = fs::read_to_string(out.join("master.m3u8")).unwrap();
        assert!(
            master.contains("TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"English\"")
                && master.contains(",CLOSED-CAPTIONS=\"cc\""),
            "{master}"
        );
        let mpd = fs::read_to_string(out.join("manifest.mpd")).unwrap();
        assert!(mpd.contains("cea-608:2015\" value=\"CC1=en\""), "{mpd}");
        for rendition in ["360p", "240p"] {
            let whole = whole_rendition(&out.join(rendition), tmp.path());
            let read = caption_text(&whole, tmp.path());
            assert!(
                read.contains(text),
                "{fps} fps {pix_fmt}, {rendition}: {read:?}"
            );
        }
    }
}
