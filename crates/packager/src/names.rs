//! The file names the packager writes under a channel's prefix, and reading
//! them back from a listing of the store.

use livefleet_base::layout::decimal;

/// `init.mp4`, `init-<g>.mp4` after a failover, `init-<g>-<v>.mp4` after a reconfiguration.
pub(crate) fn init_name(generation: u32, version: u32) -> String {
    match (generation, version) {
        (0, 0) => "init.mp4".into(),
        (g, 0) => format!("init-{g}.mp4"),
        (g, v) => format!("init-{g}-{v}.mp4"),
    }
}

/// A segment's file name: `<n>.m4s`, or `<n>-g<generation>.m4s` after a failover.
pub(crate) fn segment_name(number: u64, generation: u32) -> String {
    if generation == 0 {
        format!("{number}.m4s")
    } else {
        format!("{number}-g{generation}.m4s")
    }
}

/// The number of the segment a path (`<track>/<n>.m4s`, `<track>/<n>-g<g>.m4s`) names.
/// `None` for any other name, so a stray `12-notes.m4s` is never taken for
/// segment 12 (the sweeps delete by number).
pub fn segment_number(path: &str) -> Option<u64> {
    segment_parts(path).map(|(number, _)| number)
}

/// Number and generation of a media segment's name, as [`segment_name`] writes it.
fn segment_parts(path: &str) -> Option<(u64, u32)> {
    let rest = path.rsplit('/').next()?.strip_suffix(".m4s")?;
    match rest.split_once("-g") {
        None => Some((decimal(rest)?, 0)),
        Some((number, generation)) => Some((decimal(number)?, decimal(generation)?)),
    }
}

/// The file generation a path's init or media segment name carries
/// ([`init_name`], [`segment_name`]): 0 for `init.mp4` and `<n>.m4s`.
/// `None` for any other file (a manifest, a chat file, a stray object).
pub fn file_generation(path: &str) -> Option<u32> {
    let file = path.rsplit('/').next()?;
    if let Some(rest) = file.strip_suffix(".mp4") {
        if rest == "init" {
            return Some(0);
        }
        let mut parts = rest.strip_prefix("init-")?.split('-');
        let generation = decimal(parts.next()?)?;
        return match (parts.next(), parts.next()) {
            (None, _) => Some(generation),
            (Some(version), None) => decimal::<u32>(version).map(|_| generation),
            _ => None,
        };
    }
    segment_parts(file).map(|(_, generation)| generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_written() {
        for (g, v) in [(0, 0), (3, 0), (3, 2), (0, 1), (u32::MAX - 1, 7)] {
            let name = format!("720p/{}", init_name(g, v));
            assert_eq!(file_generation(&name), Some(g), "{name}");
            assert_eq!(segment_number(&name), None, "{name}");
        }
        for (n, g) in [(0, 0), (41, 0), (41, 5), (u64::MAX, 9)] {
            let name = format!("audio/{}", segment_name(n, g));
            assert_eq!(file_generation(&name), Some(g), "{name}");
            assert_eq!(segment_number(&name), Some(n), "{name}");
        }
    }

    #[test]
    fn other_files_carry_no_generation() {
        for other in [
            "master.m3u8",
            "720p/index.m3u8",
            "manifest.mpd",
            "chat/12.json",
            "720p/init-.mp4",
            "720p/init-x.mp4",
            "720p/init-1-2-3.mp4",
            "720p/init-+1.mp4",
            "720p/a.m4s",
            "720p/4-g.m4s",
            "720p/4-gx.m4s",
            "720p/-g4.m4s",
            "720p/99999999999.mp4",
            "720p/init-99999999999.mp4",
        ] {
            assert_eq!(file_generation(other), None, "{other}");
        }
    }

    #[test]
    fn a_name_the_packager_does_not_write_is_no_segment() {
        // Found by the packager_state fuzz target: the number was read up to
        // the first '-', whatever followed.
        for stray in [
            "360p/9055-5{x.m4s",
            "360p/12-notes.m4s",
            "360p/12-g1-old.m4s",
            "360p/12-g.m4s",
            "360p/-g1.m4s",
            "360p/12.m4s.tmp",
        ] {
            assert_eq!(segment_number(stray), None, "{stray}");
            assert_eq!(file_generation(stray), None, "{stray}");
        }
        assert_eq!(segment_number("360p/12-g3.m4s"), Some(12));
    }
}
