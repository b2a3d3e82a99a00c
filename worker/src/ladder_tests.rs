//! Tests of the ladder's planning: sizes, rates, the boundary grid.

use super::*;

const ONE_RUNG: &str = "name: t\nsegment_duration: 2\ngop: 2\nencoder: x264\nvideo:\n  - name: 360p\n    width: 640\n    height: 360\n    bitrate: 800k\naudio: []\n";

#[test]
fn the_boundary_grid_is_whole_frames_of_the_slowest_rendition() {
    let p = LadderProfile::from_yaml("t", ONE_RUNG).unwrap();
    let grid = |src: Rational| {
        let (l, _) = Ladder::first(&p, 640, 360, src, Pace::Unbounded);
        l.boundary_grid(2.0, 1.0, src)
    };
    // 59.94 fps: the rendition runs at the source's rate here.
    let ntsc = grid(Rational::new(60_000, 1001));
    assert_eq!((ntsc.segment, ntsc.gop, ntsc.early), (180_180, 90_090, 750));
    assert_eq!(grid(Rational::new(30, 1)).segment, 180_000);
    assert_eq!(grid(Rational::new(25, 1)).segment, 180_000);
    assert_eq!(grid(Rational::new(24_000, 1001)).segment, 180_180);
}

#[test]
fn a_capped_rate_divides_the_source_evenly_where_it_can() {
    let capped = |cap: f64, num: i32, den: i32| {
        let r = VideoRendition {
            frame_rate: FrameRate::Fixed(cap),
            ..LadderProfile::from_yaml("t", ONE_RUNG).unwrap().video[0].clone()
        };
        output_rate(&r, Rational::new(num, den))
    };
    assert_eq!(capped(30.0, 50, 1), Rational::new(25, 1));
    assert_eq!(capped(30.0, 60000, 1001), Rational::new(30000, 1001));
    assert_eq!(capped(30.0, 60, 1), Rational::new(30, 1));
    assert_eq!(capped(30.0, 120, 1), Rational::new(30, 1));
    assert_eq!(capped(30.0, 100, 1), Rational::new(25, 1));
    assert_eq!(capped(24.0, 48, 1), Rational::new(24, 1));
    // At or under the cap: the source's own.
    assert_eq!(capped(30.0, 25, 1), Rational::new(25, 1));
    assert_eq!(capped(30.0, 30000, 1001), Rational::new(30000, 1001));
    // Halving would fall far under the cap: the cap, as asked.
    assert_eq!(capped(24.0, 30, 1), Rational::new(24, 1));
    assert_eq!(capped(30.0, 40, 1), Rational::new(30, 1));
}

#[test]
fn fit_keeps_aspect_and_even_sizes() {
    assert_eq!(fit_within(1920, 1080, 1280, 720), (1280, 720));
    assert_eq!(fit_within(640, 480, 1280, 720), (960, 720));
    assert_eq!(fit_within(1080, 1920, 640, 360), (202, 360));
    assert_eq!(fit_within(0, 0, 641, 361), (640, 360));
}

#[test]
fn non_square_pixels_are_shown_wider_or_narrower() {
    assert_eq!(shown_size(1440, 1080, Rational::new(4, 3)), (1920, 1080));
    assert_eq!(shown_size(720, 480, Rational::new(8, 9)), (640, 480));
    assert_eq!(shown_size(720, 576, Rational::new(64, 45)), (1024, 576));
    assert_eq!(shown_size(1920, 1080, Rational::new(1, 1)), (1920, 1080));
    assert_eq!(shown_size(1920, 1080, Rational::new(0, 1)), (1920, 1080));
    assert_eq!(shown_size(640, 360, Rational::new(1000, 1)), (640, 360));
}

#[test]
fn ntsc_rates_are_exact() {
    assert_eq!(rational_fps(29.97), Rational::new(30000, 1001));
    assert_eq!(rational_fps(25.0), Rational::new(25, 1));
    assert_eq!(rational_fps(12.5), Rational::new(25, 2));
}

#[test]
fn a_portrait_source_gets_the_ladder_turned() {
    let yaml = "name: t\nsegment_duration: 2\ngop: 2\nencoder: x264\nvideo:\n  - name: 1080p\n    width: 1920\n    height: 1080\n    bitrate: 6M\n  - name: 720p\n    width: 1280\n    height: 720\n    bitrate: 3M\n  - name: 360p\n    width: 640\n    height: 360\n    bitrate: 800k\naudio: []\n";
    let p = LadderProfile::from_yaml("t", yaml).unwrap();
    let fps = Rational::new(30, 1);
    let sizes = |plan: &Plan| -> Vec<(u32, u32)> {
        plan.video.iter().map(|v| (v.width, v.height)).collect()
    };
    // A phone's 720x1280: 1080p would be an upscale, the rest are turned.
    let portrait = plan(&p, 720, 1280, fps);
    assert_eq!(sizes(&portrait), [(720, 1280), (360, 640)]);
    assert_eq!(portrait.dropped.len(), 1);
    assert!(
        portrait.dropped[0].1.contains("1080x1920"),
        "{:?}",
        portrait.dropped
    );
    // Landscape and square sources are fitted as before.
    assert_eq!(sizes(&plan(&p, 1280, 720, fps)), [(1280, 720), (640, 360)]);
    assert_eq!(sizes(&plan(&p, 720, 720, fps)), [(360, 360)]);
    // A reconnect from landscape to portrait turns the same renditions.
    let (first, _) = Ladder::first(&p, 1920, 1080, fps, Pace::Unbounded);
    let turned = first.refit(&p, 1080, 1920, fps);
    let sizes: Vec<_> = turned.video.iter().map(|v| (v.width, v.height)).collect();
    assert_eq!(sizes, [(1080, 1920), (720, 1280), (360, 640)]);
}

#[test]
fn upscales_are_dropped_unless_allowed() {
    let yaml = "name: t\nsegment_duration: 2\ngop: 2\nencoder: x264\nvideo:\n  - name: big\n    width: 1280\n    height: 720\n    bitrate: 3M\n  - name: small\n    width: 640\n    height: 360\n    bitrate: 800k\naudio: []\n";
    let mut p = LadderProfile::from_yaml("t", yaml).unwrap();
    let fps = Rational::new(30, 1);
    let out = plan(&p, 640, 360, fps);
    assert_eq!(out.video.len(), 1);
    assert_eq!(out.dropped[0].0, "big");
    // Smaller than every rendition: the smallest is kept at the source's size.
    let tiny = plan(&p, 320, 180, fps);
    let kept: Vec<_> = tiny
        .video
        .iter()
        .map(|v| (v.rendition.name.to_string(), v.width, v.height))
        .collect();
    assert_eq!(kept, [("small".to_string(), 320, 180)]);
    assert_eq!(tiny.dropped.len(), 1);
    assert_eq!(tiny.dropped[0].0, "big");
    p.allow_upscale = true;
    assert_eq!(plan(&p, 640, 360, fps).video.len(), 2);
}
