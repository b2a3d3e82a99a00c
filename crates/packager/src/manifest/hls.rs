//! HLS: the media playlists and the master playlist.

use std::fmt::Write;

use super::{bandwidths, listed, period_of, program_date_ms, seconds, target_duration, window};
use crate::time::iso8601;
use crate::{Packager, Track, TrackMedia};

/// A rendition's media playlist (version 7).
pub(crate) fn media_playlist(p: &Packager, t: &Track) -> String {
    let entries = window(p).map_or(&[][..], |w| listed(t, w));
    let mut s = String::with_capacity(256 + entries.len() * 48);
    let _ = writeln!(s, "#EXTM3U\n#EXT-X-VERSION:7");
    let _ = writeln!(
        s,
        "#EXT-X-TARGETDURATION:{}",
        target_duration(p, t, entries)
    );
    let first = entries.first().map_or(p.first_number, |e| e.number);
    let _ = writeln!(s, "#EXT-X-MEDIA-SEQUENCE:{first}");
    let discontinuities = p
        .periods
        .iter()
        .skip(1)
        .filter(|x| x.first_number <= first)
        .count();
    let _ = writeln!(s, "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuities}");
    if p.finished {
        let _ = writeln!(s, "#EXT-X-PLAYLIST-TYPE:VOD");
    }
    let _ = writeln!(s, "#EXT-X-INDEPENDENT-SEGMENTS");
    let mut previous: Option<usize> = None;
    for e in entries {
        let pi = period_of(p, e.number);
        let (generation, version) = p
            .periods
            .get(pi)
            .map_or((p.init_generation, p.init_version), |x| {
                (x.init_generation, x.init_version)
            });
        let map = format!(
            "#EXT-X-MAP:URI=\"{}\"",
            crate::init_name(generation, version)
        );
        match previous {
            None => {
                let _ = writeln!(s, "{map}");
            }
            Some(prev) if prev != pi => {
                let _ = writeln!(s, "#EXT-X-DISCONTINUITY");
                if p.periods
                    .get(prev)
                    .map(|x| (x.init_generation, x.init_version))
                    != Some((generation, version))
                {
                    let _ = writeln!(s, "{map}");
                }
            }
            Some(_) => {}
        }
        if previous != Some(pi) {
            let _ = writeln!(
                s,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                iso8601(program_date_ms(p, t, e))
            );
        }
        previous = Some(pi);
        if p.is_missing(&t.spec.name, e.number, generation) {
            let _ = writeln!(s, "#EXT-X-GAP");
        }
        let _ = writeln!(
            s,
            "#EXTINF:{:.3},\n{}",
            seconds(e.duration, t.spec.timescale),
            crate::segment_name(e.number, generation)
        );
    }
    if p.finished {
        let _ = writeln!(s, "#EXT-X-ENDLIST");
    }
    s
}

/// The multivariant playlist: a variant per video rendition, audio in one group.
pub(crate) fn master_playlist(p: &Packager) -> String {
    let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let audio: Vec<&Track> = p.tracks.iter().filter(|t| !t.is_video()).collect();
    let video: Vec<&Track> = p.tracks.iter().filter(|t| t.is_video()).collect();
    // Captions in the video's SEI: offered, never on by default (RFC 8216bis 4.4.6.1).
    for c in &p.config.captions {
        let _ = write!(
            s,
            "#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"{}\",DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID=\"{}\"",
            c.name, c.channel
        );
        if let Some(language) = &c.language {
            let _ = write!(s, ",LANGUAGE=\"{language}\"");
        }
        s.push('\n');
    }
    for (k, a) in audio.iter().enumerate() {
        let channels = match &a.spec.media {
            TrackMedia::Audio { codec } => codec.channels(),
            TrackMedia::Video { .. } => 2,
        };
        let default = if k == 0 { "YES" } else { "NO" };
        let _ = writeln!(
            s,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"{}\",DEFAULT={default},AUTOSELECT=YES,CHANNELS=\"{channels}\",URI=\"{}/index.m3u8\"",
            a.spec.name, a.spec.name
        );
    }
    let audio_bw = audio
        .iter()
        .map(|a| bandwidths(p, a))
        .max()
        .unwrap_or((0, 0));
    for v in &video {
        let (peak, average) = bandwidths(p, v);
        let mut codecs = v.codecs.clone();
        if let Some(a) = audio.first() {
            codecs.push(',');
            codecs.push_str(&a.codecs);
        }
        let _ = write!(
            s,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{codecs}\"",
            peak + audio_bw.0,
            average + audio_bw.1
        );
        if let (
            TrackMedia::Video {
                frame_rate, range, ..
            },
            Some((width, height)),
        ) = (&v.spec.media, v.spec.media.shown_size())
        {
            let _ = write!(s, ",RESOLUTION={width}x{height}");
            if let Some((n, d)) = frame_rate.filter(|(n, d)| *n > 0 && *d > 0) {
                let _ = write!(s, ",FRAME-RATE={:.3}", f64::from(n) / f64::from(d));
            }
            if let Some(r) = range.hls() {
                let _ = write!(s, ",VIDEO-RANGE={r}");
            }
        }
        if !audio.is_empty() {
            s.push_str(",AUDIO=\"audio\"");
        }
        if !p.config.captions.is_empty() {
            s.push_str(",CLOSED-CAPTIONS=\"cc\"");
        }
        let _ = writeln!(s, "\n{}/index.m3u8", v.spec.name);
    }
    if video.is_empty() {
        for a in &audio {
            let (peak, average) = bandwidths(p, a);
            let _ = writeln!(
                s,
                "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},CODECS=\"{}\"\n{}/index.m3u8",
                a.codecs, a.spec.name
            );
        }
    }
    s
}
