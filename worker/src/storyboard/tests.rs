//! Storyboards of presentations the ffmpeg CLI wrote (HLS with fMP4
//! segments), read from a store, with what a store can hand back instead
//! of a segment: bytes that do not decode, nothing at all.

use std::path::Path;
use std::process::Command;

use ffmpeg_next as ff;
use livefleet_storage::LocalDir;

use super::*;

/// An 8 s presentation of four 2 s segments at `dir/v/`, its master at `dir/master.m3u8`.
fn presentation(dir: &Path) {
    std::fs::create_dir_all(dir.join("v")).unwrap();
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x180:rate=30",
            "-t",
            "8",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "60",
            "-f",
            "hls",
        ])
        .args([
            "-hls_time",
            "2",
            "-hls_segment_type",
            "fmp4",
            "-hls_playlist_type",
            "vod",
        ])
        .args([
            "-hls_fmp4_init_filename",
            "init.mp4",
            "-master_pl_name",
            "master.m3u8",
        ])
        .arg(dir.join("v/index.m3u8"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let master = "#EXTM3U\n#EXT-X-VERSION:7\n\
#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=320x180\nv/index.m3u8\n";
    std::fs::write(dir.join("master.m3u8"), master).unwrap();
}

fn make_in(dir: &Path) -> Result<Made, StoryboardError> {
    let store = LocalDir::new(dir.to_path_buf()).unwrap();
    let master = std::fs::read_to_string(dir.join("master.m3u8")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(make(&store, "", &master, |p| {
        std::fs::read_to_string(dir.join(p)).ok()
    }))
}

#[test]
fn tiles_of_segments_that_do_not_decode_or_are_gone_are_left_out() {
    ff::init().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    presentation(tmp.path());
    let segments: Vec<String> = std::fs::read_to_string(tmp.path().join("v/index.m3u8"))
        .unwrap()
        .lines()
        .filter(|l| l.ends_with(".m4s"))
        .map(str::to_owned)
        .collect();
    assert_eq!(segments.len(), 4, "{segments:?}");
    let made = make_in(tmp.path()).unwrap();
    assert_eq!((made.tiles, made.planned, made.sprites), (4, 4, 1));

    // The second segment is garbage, the third gone.
    std::fs::write(tmp.path().join("v").join(&segments[1]), vec![0x5a; 4000]).unwrap();
    std::fs::remove_file(tmp.path().join("v").join(&segments[2])).unwrap();
    let made = make_in(tmp.path()).unwrap();
    assert_eq!((made.tiles, made.planned), (2, 4));
    let vtt = std::fs::read_to_string(tmp.path().join(STORYBOARD_PATH)).unwrap();
    assert_eq!(vtt.matches(" --> ").count(), 2, "{vtt}");
    assert!(
        vtt.contains("00:00:06.000 --> 00:00:08.000\nstoryboard/0.jpg#xywh=720,0,240,136"),
        "{vtt}"
    );
}

#[test]
fn nothing_to_show_is_an_error_and_writes_no_storyboard() {
    ff::init().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    presentation(tmp.path());
    for entry in std::fs::read_dir(tmp.path().join("v")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "m4s") {
            std::fs::write(&path, b"not a segment").unwrap();
        }
    }
    assert!(matches!(make_in(tmp.path()), Err(StoryboardError::NoTile)));
    assert!(!tmp.path().join(STORYBOARD_PATH).exists());

    let store = LocalDir::new(tmp.path().to_path_buf()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let audio = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"mp4a.40.2\"\na/index.m3u8\n";
    let none = runtime.block_on(make(&store, "", audio, |_| None));
    assert!(matches!(none, Err(StoryboardError::NoVideo)), "{none:?}");
    let video = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=320x180\nv/gone.m3u8\n";
    let none = runtime.block_on(make(&store, "", video, |_| None));
    assert!(
        matches!(none, Err(StoryboardError::NoPlaylist(_))),
        "{none:?}"
    );
}
