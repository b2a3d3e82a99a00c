//! Closed captions (CEA-608 in the H.264 SEI, as broadcast encoders and
//! caption inserters send them) reach every rendition readable: at the
//! source's rate, thinned from 60 to 30 fps, and through swscale.

use super::*;
use common::captions::{caption_text, captioned_clip, captioned_profile};

/// Every segment of `rendition` after its init segment, as one file.
fn whole_rendition(dir: &Path, into: &Path) -> std::path::PathBuf {
    let playlist = fs::read_to_string(dir.join("index.m3u8")).unwrap();
    let init = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .expect("an init segment")
        .trim_end_matches('"');
    let mut bytes = fs::read(dir.join(init)).unwrap();
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

/// The service the test sources carry, as the test profiles declare it.
const ENGLISH: &str = "{ channel: CC1, language: en, name: English }";

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
    let profiles = tempfile::tempdir().unwrap();
    let captioned_profile = captioned_profile(profiles.path(), ENGLISH);
    for (fps, pix_fmt, text) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let clip = captioned_clip(tmp.path(), fps, pix_fmt, text, 3);
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

/// A publisher streaming a 60 fps source with captions over RTMP (the
/// ffmpeg CLI copying the file at real time): every 30 fps rung of the
/// live channel carries the caption, and the master declares it.
#[test]
fn a_captioned_publish_keeps_its_captions_live() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = captioned_clip(tmp.path(), 60, "yuv420p", "ON AIR", 3);
    let prof = captioned_profile(tmp.path(), ENGLISH);
    let dev = Dev::start(
        "captions",
        &["--grace", "4", "--profile", prof.to_str().unwrap()],
    );
    let out = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-i"])
        .arg(&clip)
        .args(["-c", "copy", "-f", "flv", &dev.publish_url])
        .stdin(Stdio::null()));
    assert!(out.status.success(), "publish: {}", text(&out.stderr));
    let dir = dev.channel_dir();
    dev.wait_for(40, "ENDLIST after the grace period", || {
        fs::read_to_string(dir.join("240p/index.m3u8")).is_ok_and(|t| t.contains("ENDLIST"))
    });
    let master = fs::read_to_string(dir.join("master.m3u8")).unwrap();
    assert!(master.contains(",CLOSED-CAPTIONS=\"cc\""), "{master}");
    for rendition in ["360p", "240p"] {
        let whole = whole_rendition(&dir.join(rendition), tmp.path());
        let read = caption_text(&whole, tmp.path());
        assert!(read.contains("ON AIR"), "{rendition}: {read:?}");
    }
}

/// The operator is told where the source and the profile disagree: captions
/// the profile does not declare (players would not offer them), and a
/// declared service the source does not carry.
#[test]
fn a_disagreement_about_captions_is_told_to_the_operator() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = captioned_clip(tmp.path(), 30, "yuv420p", "HELLO", 3);
    let undeclared = transcode(&clip, &tmp.path().join("undeclared"));
    assert_ok(&undeclared);
    assert!(
        text(&undeclared.stderr).contains("closed captions the profile does not declare"),
        "{}",
        text(&undeclared.stderr)
    );
    let plain = tmp.path().join("plain.mp4");
    lavfi_clip(&plain, 12, "sine=sample_rate=48000", &[]);
    let missing = run(livefleet()
        .arg("transcode")
        .arg(&plain)
        .arg("--profile")
        .arg(captioned_profile(tmp.path(), ENGLISH))
        .arg("--out")
        .arg(tmp.path().join("missing")));
    assert_ok(&missing);
    assert!(
        text(&missing.stderr).contains("the source has carried none for 10 s"),
        "{}",
        text(&missing.stderr)
    );
}
