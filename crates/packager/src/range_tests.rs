//! An HDR copy beside SDR renditions: declared in the master, the MPD and
//! its init segment, so players pick a variant they can show.

use crate::tests::{audio_spec, config, feed, find, text, video_spec};
use crate::{Packager, TrackMedia, VideoRange};

#[test]
fn an_hdr_copy_is_declared_so_in_the_manifests_and_its_init_segment() {
    let mut copy = video_spec("source", 640, 360, 2_000_000);
    if let TrackMedia::Video { range, .. } = &mut copy.media {
        *range = VideoRange::Pq;
    }
    let specs = vec![copy, video_spec("240p", 426, 240, 300_000), audio_spec()];
    let (mut p, init) = Packager::new(config(), specs).unwrap();
    let colr = |path: &str| {
        let data = find(&init, path).unwrap();
        data.windows(8)
            .position(|w| w == b"colrnclx")
            .map(|at| data[at + 8..at + 15].to_vec())
    };
    // BT.2020 primaries, PQ, BT.2020 matrix, limited range.
    assert_eq!(colr("source/init.mp4"), Some(vec![0, 9, 0, 16, 0, 9, 0]));
    assert_eq!(colr("240p/init.mp4"), None);

    let out = feed(&mut p, 0.0, 5.0);
    let master = text(&out, "master.m3u8");
    let variant = |name: &str| {
        let lines: Vec<&str> = master.lines().collect();
        let at = lines
            .iter()
            .position(|l| *l == format!("{name}/index.m3u8"))
            .unwrap();
        lines[at - 1].to_string()
    };
    assert!(
        variant("source").ends_with(",VIDEO-RANGE=PQ,AUDIO=\"audio\""),
        "{master}"
    );
    assert!(!variant("240p").contains("VIDEO-RANGE"), "{master}");

    // The same codec, but another range: an adaptation set of its own.
    let mpd = text(&out, "manifest.mpd");
    let sets: Vec<&str> = mpd.split("<AdaptationSet ").skip(1).collect();
    assert_eq!(sets.len(), 3, "{mpd}");
    assert!(
        sets[0].contains("id=\"source\"") && !sets[0].contains("id=\"240p\""),
        "{mpd}"
    );
    assert!(
        sets[0].contains(
            "<EssentialProperty schemeIdUri=\"urn:mpeg:mpegB:cicp:TransferCharacteristics\" value=\"16\"/>"
        ),
        "{mpd}"
    );
    assert!(
        sets[1].contains("id=\"240p\"") && !sets[1].contains("cicp"),
        "{mpd}"
    );
}
