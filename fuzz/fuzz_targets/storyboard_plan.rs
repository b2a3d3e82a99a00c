//! A storyboard's plan from playlists read back from a store: the first
//! line of the input splits it into a master playlist and a media playlist.
//! Any input gives tiles in order with finite times, every tile placed
//! inside its sprite, and cues that are WebVTT; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livefleet_packager::storyboard::{place, rendition, sprite_size, tiles, vtt, MAX_TILES};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (master, media) = text.split_once("\n--\n").unwrap_or((&text, &text));
    let _ = rendition(master);
    let max = usize::from(data.first().copied().unwrap_or(0) % 8) + 1;
    for limit in [max, MAX_TILES] {
        let planned = tiles("v/index.m3u8", media, limit);
        assert!(planned.len() <= limit);
        for pair in planned.windows(2) {
            assert!(pair[0].start <= pair[1].start, "{pair:?}");
        }
        for t in &planned {
            assert!(t.start.is_finite() && t.end.is_finite() && t.end >= t.start, "{t:?}");
        }
        let tile = (240, 136);
        for i in 0..planned.len() {
            let (sprite, x, y) = place(i, tile);
            let (w, h) = sprite_size(sprite, planned.len(), tile);
            assert!(x + tile.0 <= w && y + tile.1 <= h, "tile {i} of {}", planned.len());
        }
        let cues = vtt(&planned, &vec![true; planned.len()], tile);
        assert!(cues.starts_with("WEBVTT\n"));
    }
});
