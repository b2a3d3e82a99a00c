//! DASH: the MPD, dynamic while live and static once finished.

use std::fmt::Write;

use super::{bandwidths, listed, program_date_ms, reference, seconds, window};
use crate::time::{duration, iso8601};
use crate::{Packager, SegEntry, Track, TrackMedia, VideoRange};

/// `<S>` elements of a SegmentTimeline: `t` where time jumps, `r` for repeats.
fn timeline(entries: &[SegEntry]) -> String {
    let mut s = String::new();
    let mut k = 0;
    let mut expected: Option<i64> = None;
    while k < entries.len() {
        let e = entries[k];
        let mut repeat = 0;
        while k + repeat + 1 < entries.len() {
            let n = entries[k + repeat + 1];
            let prev = entries[k + repeat];
            if n.duration == e.duration && n.start == prev.start + prev.duration {
                repeat += 1;
            } else {
                break;
            }
        }
        s.push_str("<S");
        if expected != Some(e.start) {
            let _ = write!(s, " t=\"{}\"", e.start);
        }
        let _ = write!(s, " d=\"{}\"", e.duration);
        if repeat > 0 {
            let _ = write!(s, " r=\"{repeat}\"");
        }
        s.push_str("/>");
        let last = entries[k + repeat];
        expected = Some(last.start + last.duration);
        k += repeat + 1;
    }
    s
}

fn frame_rate_attr(rate: Option<(u32, u32)>) -> String {
    match rate.filter(|(n, d)| *n > 0 && *d > 0) {
        Some((n, 1)) => n.to_string(),
        Some((n, d)) if n % d == 0 => (n / d).to_string(),
        Some((n, d)) => format!("{n}/{d}"),
        None => String::new(),
    }
}

/// The MPD: dynamic while live, static (every segment) once finished.
pub(crate) fn mpd(p: &Packager) -> String {
    let seg = p.config.segment_duration;
    let w = window(p);
    let reference = reference(p);
    let ast = p
        .periods
        .first()
        .map_or(p.config.start_time_unix_ms, |x| x.wallclock_ms);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011,urn:mpeg:dash:profile:cmaf:2019\"",
    );
    let max_seg = w
        .map(|w| {
            listed(reference, w)
                .iter()
                .map(|e| seconds(e.duration, reference.spec.timescale))
                .fold(seg, f64::max)
        })
        .unwrap_or(seg);
    if p.finished {
        let total: f64 = reference
            .history
            .iter()
            .filter(|e| e.number >= p.retained_from)
            .map(|e| seconds(e.duration, reference.spec.timescale))
            .sum();
        let _ = write!(
            s,
            " type=\"static\" mediaPresentationDuration=\"{}\"",
            duration(total)
        );
    } else {
        let publish = reference.history.last().map_or(ast, |e| {
            program_date_ms(p, reference, e)
                + e.duration * 1000 / i64::from(reference.spec.timescale)
        });
        let depth = p
            .config
            .dvr_window
            .unwrap_or(seg * p.config.live_window.max(1) as f64);
        let _ = write!(
            s,
            " type=\"dynamic\" availabilityStartTime=\"{}\" publishTime=\"{}\" minimumUpdatePeriod=\"{}\" timeShiftBufferDepth=\"{}\" suggestedPresentationDelay=\"{}\"",
            iso8601(ast),
            iso8601(publish),
            duration(seg),
            duration(depth),
            duration(seg * 3.0)
        );
    }
    let _ = writeln!(
        s,
        " maxSegmentDuration=\"{}\" minBufferTime=\"{}\">",
        duration(max_seg),
        duration(seg)
    );
    let Some(w) = w else {
        utc_timing(&mut s, p, ast);
        s.push_str("</MPD>\n");
        return s;
    };
    let mut static_start = 0.0;
    let holes = p.holes();
    for (pi, period) in p.periods.iter().enumerate() {
        let last = p
            .periods
            .get(pi + 1)
            .map_or(u64::MAX, |n| n.first_number.saturating_sub(1));
        // Finished, the static MPD starts at the first segment still stored.
        let from = if p.finished {
            period.first_number.max(p.retained_from)
        } else {
            period.first_number
        };
        if from > last {
            continue;
        }
        let whole = (from, last);
        let whole_ref = listed(reference, whole);
        let period_length: f64 = whole_ref
            .iter()
            .map(|e| seconds(e.duration, reference.spec.timescale))
            .sum();
        let start = if p.finished {
            static_start
        } else {
            (period.wallclock_ms - ast) as f64 / 1000.0
        };
        static_start += period_length;
        let period_first = reference.start_from(from).unwrap_or(0);
        // A segment missing from the store splits the period: the part after
        // the hole is a Period of its own that starts where the hole ends, so
        // $Number$ addressing stays right and no player asks for the hole.
        for (k, part) in parts(whole, &holes).into_iter().enumerate() {
            let range = (part.0.max(w.0), part.1.min(w.1));
            if range.0 > range.1 || listed(reference, range).is_empty() {
                continue;
            }
            let offset_ref = reference.start_from(part.0).unwrap_or(period_first) - period_first;
            let part_start = start + seconds(offset_ref, reference.spec.timescale);
            let id = if k == 0 {
                format!("p{pi}")
            } else {
                format!("p{pi}-{}", part.0)
            };
            let _ = writeln!(
                s,
                "  <Period id=\"{id}\" start=\"{}\">",
                duration(part_start)
            );
            write_period_sets(&mut s, p, period, range, |t: &Track| {
                let pto = t.start_from(from).unwrap_or(0);
                pto + crate::rescale(
                    offset_ref,
                    i64::from(reference.spec.timescale),
                    i64::from(t.spec.timescale),
                )
            });
            s.push_str("  </Period>\n");
        }
    }
    utc_timing(&mut s, p, ast);
    s.push_str("</MPD>\n");
    s
}

/// The MPD's time sources, so a DASH player synchronises its clock without
/// an outside time server: the configured HTTP source first, then the time
/// this version describes (the end of its last segment on the wall clock).
fn utc_timing(s: &mut String, p: &Packager, ast: i64) {
    if let Some(url) = &p.config.utc_timing_url {
        let url = xml_attr(url);
        let _ = writeln!(
            s,
            "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"{url}\"/>"
        );
    }
    let reference = reference(p);
    let now = reference.history.last().map_or(ast, |e| {
        program_date_ms(p, reference, e) + e.duration * 1000 / i64::from(reference.spec.timescale)
    });
    let _ = writeln!(
        s,
        "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"{}\"/>",
        iso8601(now)
    );
}

/// `(first, last)` split around the numbers in `holes` (holes left out).
fn parts(whole: (u64, u64), holes: &std::collections::BTreeSet<u64>) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut first = whole.0;
    for &h in holes.range(whole.0..=whole.1) {
        if h > first {
            out.push((first, h - 1));
        }
        first = h.saturating_add(1);
    }
    if first <= whole.1 {
        out.push((first, whole.1));
    }
    out
}

/// The adaptation sets of one (part of a) period: a video set whose
/// template the first video track sets, and a set per audio track.
/// `pto` gives each track's presentationTimeOffset.
fn write_period_sets(
    s: &mut String,
    p: &Packager,
    period: &crate::PeriodState,
    range: (u64, u64),
    pto: impl Fn(&Track) -> i64,
) {
    let init = format!(
        "$RepresentationID$/{}",
        crate::init_name(period.init_generation, period.init_version)
    );
    let media = crate::segment_name(0, period.init_generation).replacen('0', "$Number$", 1);
    let template = |t: &Track| -> String {
        let entries = listed(t, range);
        format!(
            "      <SegmentTemplate timescale=\"{}\" presentationTimeOffset=\"{}\" startNumber=\"{}\" initialization=\"{init}\" media=\"$RepresentationID$/{media}\">\n        <SegmentTimeline>{}</SegmentTimeline>\n      </SegmentTemplate>\n",
            t.spec.timescale,
            pto(t),
            entries.first().map_or(range.0, |e| e.number),
            timeline(entries)
        )
    };
    // One adaptation set per video codec family (`avc1`, `hvc1`, `av01`)
    // and range (SDR, PQ, HLG): a player switches only between
    // representations it can decode and show alike, and skips a set whose
    // codec or range it lacks (DASH-IF IOP: one codec per adaptation set).
    let mut families: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, _) in p.tracks.iter().enumerate().filter(|(_, t)| t.is_video()) {
        let (spec, codecs) = p.track_in(period, i);
        let range = match &spec.media {
            TrackMedia::Video { range, .. } => *range,
            TrackMedia::Audio { .. } => VideoRange::Sdr,
        };
        let family = format!("{}/{range:?}", codecs.split('.').next().unwrap_or_default());
        match families.iter_mut().find(|(f, _)| *f == family) {
            Some((_, tracks)) => tracks.push(i),
            None => families.push((family, vec![i])),
        }
    }
    for (set, (_, tracks)) in families.iter().enumerate() {
        let _ = writeln!(
            s,
            "    <AdaptationSet id=\"{set}\" contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\">"
        );
        s.push_str(&captions(p));
        s.push_str(&template(&p.tracks[tracks[0]]));
        for &i in tracks {
            let v = &p.tracks[i];
            let (spec, codecs) = p.track_in(period, i);
            if let (
                TrackMedia::Video {
                    frame_rate, range, ..
                },
                Some((width, height)),
            ) = (&spec.media, spec.media.shown_size())
            {
                let fr = frame_rate_attr(*frame_rate);
                let fr = if fr.is_empty() {
                    fr
                } else {
                    format!(" frameRate=\"{fr}\"")
                };
                let _ = write!(
                    s,
                    "      <Representation id=\"{}\" bandwidth=\"{}\" codecs=\"{}\" width=\"{width}\" height=\"{height}\"{fr} sar=\"1:1\"",
                    v.spec.name,
                    bandwidths(p, v).0,
                    codecs
                );
                match range.transfer_characteristics() {
                    None => s.push_str("/>\n"),
                    Some(tc) => {
                        s.push_str(">\n");
                        s.push_str(&hdr_properties(*range, tc));
                        s.push_str("      </Representation>\n");
                    }
                }
            }
        }
        s.push_str("    </AdaptationSet>\n");
    }
    for (k, (i, a)) in p
        .tracks
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.is_video())
        .enumerate()
    {
        let (spec, codecs) = p.track_in(period, i);
        let TrackMedia::Audio { codec } = &spec.media else {
            continue;
        };
        let _ = writeln!(
            s,
            "    <AdaptationSet id=\"{}\" contentType=\"audio\" mimeType=\"audio/mp4\" lang=\"und\" segmentAlignment=\"true\" startWithSAP=\"1\">",
            families.len().max(1) + k
        );
        s.push_str(&template(a));
        let _ = writeln!(
            s,
            "      <Representation id=\"{}\" bandwidth=\"{}\" codecs=\"{}\" audioSamplingRate=\"{}\">\n        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{}\"/>\n      </Representation>",
            a.spec.name,
            bandwidths(p, a).0,
            codecs,
            codec.sample_rate(),
            codec.channels()
        );
        s.push_str("    </AdaptationSet>\n");
    }
}

/// The colour properties of an HDR representation (DASH-IF IOP, HDR10 and
/// HLG): PQ is essential (a player that cannot show it must skip it), HLG
/// supplemental (an SDR screen shows it acceptably).
fn hdr_properties(range: VideoRange, transfer: u8) -> String {
    let kind = if range == VideoRange::Pq {
        "EssentialProperty"
    } else {
        "SupplementalProperty"
    };
    let mut s = String::new();
    for (scheme, value) in [
        ("ColourPrimaries", 9),
        ("TransferCharacteristics", transfer),
        ("MatrixCoefficients", 9),
    ] {
        let kind = if scheme == "TransferCharacteristics" {
            kind
        } else {
            "SupplementalProperty"
        };
        let _ = writeln!(
            s,
            "        <{kind} schemeIdUri=\"urn:mpeg:mpegB:cicp:{scheme}\" value=\"{value}\"/>"
        );
    }
    s
}

/// The CEA-608 services the video carries (SCTE 214-1: `CC1=en;CC3=es`),
/// before the set's template as the schema orders them; empty without.
fn captions(p: &Packager) -> String {
    if p.config.captions.is_empty() {
        return String::new();
    }
    let services: Vec<String> = p
        .config
        .captions
        .iter()
        .map(|c| match &c.language {
            Some(l) => format!("{}={l}", c.channel),
            None => c.channel.clone(),
        })
        .collect();
    format!(
        "      <Accessibility schemeIdUri=\"urn:scte:dash:cc:cea-608:2015\" value=\"{}\"/>\n",
        xml_attr(&services.join(";"))
    )
}

/// `text` as an XML attribute value (inside double quotes).
fn xml_attr(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}
