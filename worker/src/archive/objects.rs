//! What a finished presentation names: from its HLS playlists, every init
//! and media segment (the MPD names the very same files), and which
//! segments are marked as gaps.

use std::collections::BTreeSet;

use livefleet_packager::segment_number;

use super::error::ArchiveError;

/// The objects a presentation's playlists name, by path relative to the
/// presentation (`360p/init.mp4`, `360p/42.m4s`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Named {
    /// Init segments (`EXT-X-MAP`).
    pub inits: BTreeSet<String>,
    /// Media segments the playlists name normally: they must be stored.
    pub segments: BTreeSet<String>,
    /// Media segments preceded by `EXT-X-GAP`: copied where they exist.
    pub gaps: BTreeSet<String>,
    /// The media playlists (`360p/index.m3u8`), as the master names them.
    pub playlists: Vec<String>,
}

impl Named {
    /// Media segment numbers named, gaps included (lowest, highest).
    pub fn number_range(&self) -> Option<(u64, u64)> {
        let numbers = self
            .segments
            .iter()
            .chain(&self.gaps)
            .filter_map(|p| segment_number(p));
        numbers.fold(None, |range, n| match range {
            None => Some((n, n)),
            Some((lo, hi)) => Some((lo.min(n), hi.max(n))),
        })
    }
}

/// Reads the master playlist `master` and the media playlists (found by path
/// through `playlist`). A URI that leaves the presentation (absolute, `..`)
/// is an error: the archive copies only what is under the live prefix.
pub(crate) fn named(
    master: &str,
    playlist: impl Fn(&str) -> Option<String>,
) -> Result<Named, ArchiveError> {
    let mut named = Named {
        playlists: playlists(master)?,
        ..Named::default()
    };
    for path in named.playlists.clone() {
        let body = playlist(&path).ok_or_else(|| ArchiveError::NotFinal { path: path.clone() })?;
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        for uri in uris(&body) {
            let object = inside(&path, dir, &uri.uri)?;
            if uri.map {
                named.inits.insert(object);
            } else if uri.gap {
                named.gaps.insert(object);
            } else {
                named.segments.insert(object);
            }
        }
    }
    // A segment named normally in one playlist and as a gap in none is stored.
    let stored: Vec<String> = named.gaps.intersection(&named.segments).cloned().collect();
    for s in stored {
        named.gaps.remove(&s);
    }
    Ok(named)
}

/// The media playlists the master playlist `master` names, in its order.
pub(crate) fn playlists(master: &str) -> Result<Vec<String>, ArchiveError> {
    let mut out = Vec::new();
    for uri in uris(master) {
        let path = inside("master.m3u8", "", &uri.uri)?;
        if !out.contains(&path) {
            out.push(path);
        }
    }
    Ok(out)
}

struct Uri {
    uri: String,
    map: bool,
    gap: bool,
}

/// The URIs of a playlist: `URI="..."` attributes (EXT-X-MAP, EXT-X-MEDIA)
/// and the URI lines, each with whether an `EXT-X-GAP` precedes it.
fn uris(playlist: &str) -> Vec<Uri> {
    let mut out = Vec::new();
    let mut gap = false;
    for line in playlist.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        if line == "#EXT-X-GAP" {
            gap = true;
        } else if let Some(rest) = line.strip_prefix('#') {
            if let Some(start) = rest.find("URI=\"") {
                let value = &rest[start + 5..];
                if let Some(end) = value.find('"') {
                    out.push(Uri {
                        uri: value[..end].to_owned(),
                        map: rest.starts_with("EXT-X-MAP"),
                        gap: false,
                    });
                }
            }
        } else {
            out.push(Uri {
                uri: line.to_owned(),
                map: false,
                gap: std::mem::take(&mut gap),
            });
        }
    }
    out
}

/// `uri` (relative to the directory `dir` of `from`) as a presentation path.
fn inside(from: &str, dir: &str, uri: &str) -> Result<String, ArchiveError> {
    let bad = uri.contains("://")
        || uri.starts_with('/')
        || uri
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        || uri.contains(['?', '#', '\\']);
    if bad {
        return Err(ArchiveError::Outside {
            from: from.to_owned(),
            uri: uri.to_owned(),
        });
    }
    Ok(if dir.is_empty() {
        uri.to_owned()
    } else {
        format!("{dir}/{uri}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:7\n\
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"a\",URI=\"aac/index.m3u8\"\n\
#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"aud\"\n360p/index.m3u8\n";
    const VIDEO: &str = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\n10.m4s\n\
#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXT-X-GAP\n#EXTINF:2.0,\n11-g1.m4s\n#EXTINF:2.0,\n12-g1.m4s\n#EXT-X-ENDLIST\n";
    const AUDIO: &str = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\n10.m4s\n#EXTINF:2.0,\n11-g1.m4s\n#EXTINF:2.0,\n12-g1.m4s\n";

    fn lookup(path: &str) -> Option<String> {
        match path {
            "360p/index.m3u8" => Some(VIDEO.into()),
            "aac/index.m3u8" => Some(AUDIO.into()),
            _ => None,
        }
    }

    #[test]
    fn every_init_segment_and_gap_is_found() {
        let n = named(MASTER, lookup).unwrap();
        assert_eq!(n.playlists, ["aac/index.m3u8", "360p/index.m3u8"]);
        assert_eq!(
            n.inits.iter().collect::<Vec<_>>(),
            ["360p/init-1.mp4", "360p/init.mp4", "aac/init.mp4"]
        );
        assert_eq!(n.gaps.iter().collect::<Vec<_>>(), ["360p/11-g1.m4s"]);
        assert_eq!(n.segments.len(), 5);
        assert_eq!(n.number_range(), Some((10, 12)));
        assert_eq!(segment_number("a/12-g1.m4s"), Some(12));
        assert_eq!(segment_number("a/init.mp4"), None);
    }

    #[test]
    fn uris_outside_the_presentation_are_refused() {
        for uri in [
            "../x.m4s",
            "/etc/passwd",
            "http://x/1.m4s",
            "a//b.m4s",
            "a?b",
        ] {
            let master = format!("#EXTM3U\n{uri}\n");
            assert!(named(&master, lookup).is_err(), "{uri}");
        }
        let missing = named("#EXTM3U\nother/index.m3u8\n", lookup).unwrap_err();
        assert!(
            matches!(&missing, ArchiveError::NotFinal { path } if path == "other/index.m3u8"),
            "{missing}"
        );
    }
}
