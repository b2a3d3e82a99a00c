//! Caption services the video carries are declared in the master and the
//! MPD, so players list them; a ladder without captions declares none.

use crate::tests::{config, feed, specs, text};
use crate::{CaptionService, Packager, PackagerConfig};

fn declared(captions: Vec<CaptionService>) -> (String, String) {
    let config = PackagerConfig {
        captions,
        ..config()
    };
    let (mut p, _) = Packager::new(config, specs()).unwrap();
    let out = feed(&mut p, 0.0, 5.0);
    (text(&out, "master.m3u8"), text(&out, "manifest.mpd"))
}

#[test]
fn caption_services_are_declared_in_the_master_and_the_mpd() {
    let (master, mpd) = declared(vec![
        CaptionService {
            channel: "CC1".into(),
            language: Some("en".into()),
            name: "English".into(),
        },
        CaptionService {
            channel: "CC3".into(),
            language: None,
            name: "CC3".into(),
        },
    ]);
    assert!(
        master.contains("#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"English\",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID=\"CC1\",LANGUAGE=\"en\"\n"),
        "{master}"
    );
    assert!(master.contains("NAME=\"CC3\",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID=\"CC3\"\n"));
    let variants: Vec<&str> = master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
        .collect();
    assert_eq!(variants.len(), 2, "{master}");
    assert!(
        variants
            .iter()
            .all(|v| v.ends_with(",CLOSED-CAPTIONS=\"cc\"")),
        "{master}"
    );
    let accessibility =
        "<Accessibility schemeIdUri=\"urn:scte:dash:cc:cea-608:2015\" value=\"CC1=en;CC3\"/>";
    let video_set = mpd.find("contentType=\"video\"").unwrap();
    let audio_set = mpd.find("contentType=\"audio\"").unwrap();
    let at = mpd.find(accessibility).unwrap_or_else(|| panic!("{mpd}"));
    assert!(video_set < at && at < audio_set, "in the video set: {mpd}");
    assert!(
        at < mpd[video_set..].find("<SegmentTemplate").unwrap() + video_set,
        "before the template, as the schema orders it: {mpd}"
    );
}

#[test]
fn a_ladder_without_captions_declares_none() {
    let (master, mpd) = declared(Vec::new());
    assert!(!master.contains("CLOSED-CAPTIONS"), "{master}");
    assert!(!mpd.contains("Accessibility"), "{mpd}");
}
