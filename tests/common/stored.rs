//! Reading what a broadcast stored: playlists' entries and durations,
//! whether its ending is complete, the preview picture's size.

use std::fs;
use std::path::Path;

/// The durations the `#EXTINF` tags of a media playlist list, in order
/// (empty when it cannot be read).
pub fn segment_durations(playlist: &Path) -> Vec<f64> {
    fs::read_to_string(playlist)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .collect()
}

/// A JPEG's width and height, from its frame header (SOF0 to SOF3);
/// `None` when `bytes` is not a JPEG.
pub fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if !bytes.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let mut at = 2;
    while at + 9 <= bytes.len() {
        if bytes[at] != 0xff {
            return None;
        }
        let marker = bytes[at + 1];
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        if (0xc0..=0xc3).contains(&marker) {
            let h = u16::from_be_bytes([bytes[at + 5], bytes[at + 6]]);
            let w = u16::from_be_bytes([bytes[at + 7], bytes[at + 8]]);
            return Some((u32::from(w), u32::from(h)));
        }
        at += 2 + len;
    }
    None
}

/// Whether the broadcast stored under `dir` has ended: every media
/// playlist the master names has its ENDLIST and the MPD is static. The
/// final manifests are stored one after the other (media playlists, the
/// master, the MPD), so one playlist's ENDLIST does not mean the others
/// have theirs yet: a test that waited for the video's once read the audio
/// playlist's last live window.
pub fn broadcast_ended(dir: &Path) -> bool {
    let Ok(master) = fs::read_to_string(dir.join("master.m3u8")) else {
        return false;
    };
    let media = master.lines().filter_map(|l| match l.strip_prefix('#') {
        Some(tag) => tag.split_once("URI=\"")?.1.split('"').next(),
        None => Some(l.trim()).filter(|l| !l.is_empty()),
    });
    media
        .map(|uri| fs::read_to_string(dir.join(uri)))
        .all(|p| p.is_ok_and(|t| t.contains("#EXT-X-ENDLIST")))
        && fs::read_to_string(dir.join("manifest.mpd")).is_ok_and(|m| m.contains("type=\"static\""))
}

/// Media segment URIs of an HLS playlist, and its discontinuity positions (index of the next segment).
pub fn playlist_entries(text: &str) -> (Vec<String>, Vec<usize>) {
    let mut uris = Vec::new();
    let mut disc = Vec::new();
    for line in text.lines() {
        if line == "#EXT-X-DISCONTINUITY" {
            disc.push(uris.len());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            uris.push(line.trim().to_string());
        }
    }
    (uris, disc)
}
