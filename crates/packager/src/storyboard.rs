//! A VOD's storyboard (thumbnail tiles for scrubbing), worked out from a
//! finished presentation's HLS playlists alone: which rendition its
//! pictures come from, which segments give a tile, where each tile sits in
//! its sprite, and the WebVTT cues. The pictures themselves are the
//! worker's (`worker/src/storyboard/`). Playlists read back from a store are
//! untrusted: anything gives tiles of finite, ordered times, or none.

use livefleet_base::layout::storyboard_sprite_path;

/// A tile's longer side, in pixels (240x136 for 16:9).
pub const TILE_LONGEST: u32 = 240;
/// Tiles across a sprite.
pub const COLUMNS: usize = 10;
/// Tiles down a full sprite (the last one has as many rows as it needs).
pub const ROWS: usize = 10;
/// Tiles in a storyboard at most: one per segment up to this many, then one
/// per group of segments (a 3-hour broadcast of 2 s segments: one per 18 s).
pub const MAX_TILES: usize = 600;

/// One tile: the segment its picture comes from (the first one it shows),
/// and the span of the presentation's timeline its cue covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// The init segment to decode it with, by presentation path.
    pub init: String,
    /// The media segment, by presentation path.
    pub segment: String,
    /// Seconds from the start of the presentation.
    pub start: f64,
    pub end: f64,
}

/// The media playlist the storyboard's pictures come from, as the master
/// playlist `master` names it: the smallest video variant at least
/// [`TILE_LONGEST`] on its longer side (the least to read and decode),
/// else the largest. `None` without a video variant.
pub fn rendition(master: &str) -> Option<String> {
    let mut variants: Vec<((u32, u32), String)> = Vec::new();
    let mut resolution = None;
    for line in master.lines().map(str::trim) {
        if let Some(attributes) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            resolution = attribute(attributes, "RESOLUTION").and_then(size);
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some(size) = resolution.take() {
                variants.push((size, line.to_owned()));
            }
        }
    }
    let pixels = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
    let large_enough = variants
        .iter()
        .filter(|((w, h), _)| (*w).max(*h) >= TILE_LONGEST)
        .min_by_key(|(s, _)| pixels(*s));
    large_enough
        .or_else(|| variants.iter().max_by_key(|(s, _)| pixels(*s)))
        .map(|(_, uri)| uri.clone())
}

/// An attribute's value in an attribute list (`NAME=value,NAME="value"`).
fn attribute<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let (v, n) = quoted.split_once('"')?;
                (v, n.strip_prefix(',').unwrap_or(n))
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

/// `WIDTHxHEIGHT`, both above zero.
fn size(text: &str) -> Option<(u32, u32)> {
    let (w, h) = text.split_once('x')?;
    let (w, h) = (w.parse().ok()?, h.parse().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

/// A media segment the playlist lists.
struct Listed {
    init: Option<String>,
    segment: String,
    start: f64,
    gap: bool,
}

/// The tiles of the media playlist `body` (at presentation path `path`),
/// at most `max`: every segment's first picture while they are few enough,
/// else the first of every group of as many segments as it takes. A gap
/// (`EXT-X-GAP`) gives no picture: its group takes its next segment, and a
/// group of gaps has no tile. Times count every segment listed, gaps
/// included, as players count them.
pub fn tiles(path: &str, body: &str, max: usize) -> Vec<Tile> {
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    let join = |uri: &str| {
        if dir.is_empty() {
            uri.to_owned()
        } else {
            format!("{dir}/{uri}")
        }
    };
    let mut listed = Vec::new();
    let (mut init, mut duration, mut gap, mut at) = (None, None, false, 0.0);
    for line in body.lines().map(str::trim) {
        if let Some(attributes) = line.strip_prefix("#EXT-X-MAP:") {
            init = attribute(attributes, "URI").map(join);
        } else if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let seconds = rest.split(',').next().unwrap_or("").trim().parse::<f64>();
            duration = Some(
                seconds
                    .ok()
                    .filter(|d| d.is_finite() && *d >= 0.0)
                    .unwrap_or(0.0),
            );
        } else if line == "#EXT-X-GAP" {
            gap = true;
        } else if !line.is_empty() && !line.starts_with('#') {
            let d = duration.take().unwrap_or(0.0);
            listed.push(Listed {
                init: init.clone(),
                segment: join(line),
                start: at,
                gap: std::mem::take(&mut gap),
            });
            at += d;
        }
    }
    let end = at;
    let per_tile = listed.len().div_ceil(max.max(1)).max(1);
    let groups: Vec<&[Listed]> = listed.chunks(per_tile).collect();
    let mut out = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        let group_end = groups.get(i + 1).map_or(end, |next| next[0].start);
        let shown = group.iter().find(|s| !s.gap && s.init.is_some());
        if let Some(s) = shown {
            out.push(Tile {
                init: s.init.clone().expect("found with an init"),
                segment: s.segment.clone(),
                start: group[0].start,
                end: group_end,
            });
        }
    }
    out
}

/// Where tile `index` sits: its sprite and its top-left corner in pixels,
/// for tiles of `tile` size.
pub fn place(index: usize, tile: (u32, u32)) -> (usize, u32, u32) {
    let per_sprite = COLUMNS * ROWS;
    let within = index % per_sprite;
    let x = (within % COLUMNS) as u32 * tile.0;
    let y = (within / COLUMNS) as u32 * tile.1;
    (index / per_sprite, x, y)
}

/// The size of sprite `sprite` of a storyboard of `tiles` tiles: full
/// sprites are [`COLUMNS`] x [`ROWS`] tiles, the last as many rows as it needs.
pub fn sprite_size(sprite: usize, tiles: usize, tile: (u32, u32)) -> (u32, u32) {
    let per_sprite = COLUMNS * ROWS;
    let in_this = tiles.saturating_sub(sprite * per_sprite).min(per_sprite);
    let rows = in_this.div_ceil(COLUMNS).max(1);
    let columns = in_this.clamp(1, COLUMNS);
    (columns as u32 * tile.0, rows as u32 * tile.1)
}

/// The WebVTT storyboard: one cue per tile made (`made[i]`), naming its
/// sprite (relative to the storyboard, which sits beside the sprites'
/// folder) and its rectangle (`#xywh=`), the form web players read for
/// thumbnails when scrubbing.
pub fn vtt(tiles: &[Tile], made: &[bool], tile: (u32, u32)) -> String {
    let mut out = String::from("WEBVTT\n");
    for (i, t) in tiles.iter().enumerate() {
        if !made.get(i).copied().unwrap_or(false) || t.end <= t.start {
            continue;
        }
        let (sprite, x, y) = place(i, tile);
        out.push_str(&format!(
            "\n{} --> {}\n{}#xywh={x},{y},{},{}\n",
            timestamp(t.start),
            timestamp(t.end),
            storyboard_sprite_path(sprite),
            tile.0,
            tile.1
        ));
    }
    out
}

/// `HH:MM:SS.mmm` (hours grow past 99 if they must).
fn timestamp(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:7\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"a\",URI=\"aac/index.m3u8\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=5000000,CODECS=\"avc1.640028,mp4a.40.2\",RESOLUTION=1920x1080,AUDIO=\"aud\"\n1080p/index.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=400000,CODECS=\"avc1.64001e,mp4a.40.2\",RESOLUTION=426x240,AUDIO=\"aud\"\n240p/index.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=200000,CODECS=\"avc1.64000c,mp4a.40.2\",RESOLUTION=214x120,AUDIO=\"aud\"\n120p/index.m3u8\n";

    #[test]
    fn pictures_come_from_the_smallest_variant_large_enough() {
        assert_eq!(rendition(MASTER).as_deref(), Some("240p/index.m3u8"));
        let small = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=160x90\na/index.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=214x120\nb/index.m3u8\n";
        assert_eq!(rendition(small).as_deref(), Some("b/index.m3u8"));
        // Portrait: the longer side counts.
        let portrait = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=136x240\np/index.m3u8\n";
        assert_eq!(rendition(portrait).as_deref(), Some("p/index.m3u8"));
        // No video variant, or nothing readable.
        let audio = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"mp4a.40.2\"\naac/index.m3u8\n";
        assert_eq!(rendition(audio), None);
        for bad in [
            "",
            "#EXT-X-STREAM-INF:RESOLUTION=0x0\na\n",
            "#EXT-X-STREAM-INF:RESOLUTION=\"x\n",
            "\u{0}\n#EXT-X-STREAM-INF:RESOLUTION=9x\n",
        ] {
            assert_eq!(rendition(bad), None, "{bad:?}");
        }
    }

    const PLAYLIST: &str = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.000,\n10.m4s\n#EXTINF:2.000,\n11.m4s\n\
#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXT-X-GAP\n#EXTINF:2.000,\n12-g1.m4s\n#EXTINF:1.500,\n13-g1.m4s\n#EXT-X-ENDLIST\n";

    #[test]
    fn a_tile_per_segment_with_gaps_left_out_and_times_counting_them() {
        let tiles = tiles("240p/index.m3u8", PLAYLIST, MAX_TILES);
        let got: Vec<(&str, &str, f64, f64)> = tiles
            .iter()
            .map(|t| (t.init.as_str(), t.segment.as_str(), t.start, t.end))
            .collect();
        assert_eq!(
            got,
            [
                ("240p/init.mp4", "240p/10.m4s", 0.0, 2.0),
                ("240p/init.mp4", "240p/11.m4s", 2.0, 4.0),
                ("240p/init-1.mp4", "240p/13-g1.m4s", 6.0, 7.5),
            ]
        );
    }

    #[test]
    fn long_presentations_get_a_tile_per_group_of_segments() {
        let mut body = String::from("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n");
        for n in 0..1000 {
            body.push_str(&format!("#EXTINF:2,\n{n}.m4s\n"));
        }
        let tiles = tiles("v/index.m3u8", &body, 300);
        // 1000 segments, at most 300 tiles: one per 4 segments.
        assert_eq!(tiles.len(), 250);
        assert_eq!(tiles[1].segment, "v/4.m4s");
        assert_eq!((tiles[1].start, tiles[1].end), (8.0, 16.0));
        assert_eq!(tiles.last().unwrap().end, 2000.0);
        // A group of gaps only has no tile; the one before keeps its span.
        let gaps = "#EXT-X-MAP:URI=\"i.mp4\"\n#EXTINF:2,\na.m4s\n#EXT-X-GAP\n#EXTINF:2,\nb.m4s\n#EXTINF:2,\nc.m4s\n";
        let t = super::tiles("v/index.m3u8", gaps, 2);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].start, t[0].end, t[1].start), (0.0, 4.0, 4.0));
    }

    #[test]
    fn bad_playlists_give_no_tiles_and_no_panic() {
        for bad in [
            "",
            "#EXTM3U\n10.m4s\n",
            "#EXTINF:nan,\n#EXT-X-MAP:URI=\"i.mp4\n1.m4s\n",
            "#EXT-X-MAP:URI=\"i.mp4\"\n#EXTINF:-4,\n1.m4s\n#EXTINF:inf,\n2.m4s\n",
        ] {
            for t in tiles("v/index.m3u8", bad, MAX_TILES) {
                assert!(t.start.is_finite() && t.end >= t.start, "{bad:?}: {t:?}");
            }
        }
        assert!(tiles("v/index.m3u8", "#EXTM3U\n10.m4s\n", 0).is_empty());
    }

    #[test]
    fn tiles_fill_sprites_row_by_row() {
        let tile = (240, 136);
        assert_eq!(place(0, tile), (0, 0, 0));
        assert_eq!(place(11, tile), (0, 240, 136));
        assert_eq!(place(100, tile), (1, 0, 0));
        assert_eq!(sprite_size(0, 250, tile), (2400, 1360));
        assert_eq!(sprite_size(2, 250, tile), (2400, 5 * 136));
        assert_eq!(sprite_size(0, 3, tile), (720, 136));
    }

    #[test]
    fn the_vtt_names_each_tile_made() {
        let tiles = tiles("240p/index.m3u8", PLAYLIST, MAX_TILES);
        let vtt = vtt(&tiles, &[true, false, true], (240, 136));
        assert_eq!(
            vtt,
            "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard/0.jpg#xywh=0,0,240,136\n\
\n00:00:06.000 --> 00:00:07.500\nstoryboard/0.jpg#xywh=480,0,240,136\n"
        );
        assert_eq!(timestamp(3723.4567), "01:02:03.457");
    }
}
