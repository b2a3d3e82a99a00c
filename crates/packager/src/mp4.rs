//! CMAF boxes: init segments (ftyp + moov with mvex) and media segments
//! (styp + moof + mdat), one track per file, track ID 1.

use crate::{square_pixel_width, TrackMedia, TrackSpec, Turn, VideoCodecConfig};

/// Sample flags (ISO/IEC 14496-12 8.8.3.1) of a sync sample.
const SYNC: u32 = 0x0200_0000;
/// Sample flags of a non-sync sample that depends on others.
const NON_SYNC: u32 = 0x0101_0000;

/// Writes `typ` around what `body` writes, then patches the size.
fn bx(out: &mut Vec<u8>, typ: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(typ);
    body(out);
    let size = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: version and flags before the body.
fn full(
    out: &mut Vec<u8>,
    typ: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    bx(out, typ, |o| {
        o.extend_from_slice(&((u32::from(version) << 24) | (flags & 0x00ff_ffff)).to_be_bytes());
        body(o);
    });
}

fn u16b(o: &mut Vec<u8>, v: u16) {
    o.extend_from_slice(&v.to_be_bytes());
}
fn u32b(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_be_bytes());
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// The `tkhd` matrix that turns a `width` x `height` presentation: `a, b,
/// u, c, d, v, x, y, w` with `x' = a x + c y + x`, `y' = b x + d y + y`
/// (16.16 fixed point; `u, v, w` 2.30), as FFmpeg writes and reads it.
fn turn_matrix(turn: Turn, width: u32, height: u32) -> [u32; 9] {
    let one = 0x0001_0000u32;
    let minus = one.wrapping_neg();
    let (a, b, c, d, x, y) = match turn {
        Turn::Upright => return MATRIX,
        Turn::Clockwise => (0, one, minus, 0, height << 16, 0),
        Turn::Half => (minus, 0, 0, minus, width << 16, height << 16),
        Turn::Counterclockwise => (0, minus, one, 0, 0, width << 16),
    };
    [a, b, 0, c, d, 0, x, y, 0x4000_0000]
}

/// A track's `tkhd` presentation size (the stored picture in square
/// pixels, before the turn; 0 x 0 for audio) and its matrix.
fn presentation(media: &TrackMedia) -> ((u32, u32), [u32; 9]) {
    match media {
        TrackMedia::Video {
            width,
            height,
            pixel_aspect,
            turn,
            ..
        } => {
            let w = square_pixel_width(*width, *pixel_aspect);
            ((w, *height), turn_matrix(*turn, w, *height))
        }
        TrackMedia::Audio { .. } => ((0, 0), MATRIX),
    }
}

/// The init segment of one track.
pub(crate) fn init_segment(spec: &TrackSpec) -> Vec<u8> {
    let mut o = Vec::with_capacity(1024);
    bx(&mut o, b"ftyp", |o| {
        o.extend_from_slice(b"cmfc");
        u32b(o, 0);
        for brand in [b"cmfc", b"cmf2", b"iso6", b"mp41"] {
            o.extend_from_slice(brand);
        }
    });
    let video = matches!(spec.media, TrackMedia::Video { .. });
    bx(&mut o, b"moov", |o| {
        full(o, b"mvhd", 0, 0, |o| {
            u32b(o, 0);
            u32b(o, 0);
            u32b(o, 1000);
            u32b(o, 0);
            u32b(o, 0x0001_0000);
            u16b(o, 0x0100);
            o.extend_from_slice(&[0; 10]);
            MATRIX.iter().for_each(|m| u32b(o, *m));
            o.extend_from_slice(&[0; 24]);
            u32b(o, 2);
        });
        bx(o, b"trak", |o| {
            full(o, b"tkhd", 0, 3, |o| {
                u32b(o, 0);
                u32b(o, 0);
                u32b(o, 1);
                u32b(o, 0);
                u32b(o, 0);
                o.extend_from_slice(&[0; 8]);
                u16b(o, 0);
                u16b(o, 0);
                u16b(o, if video { 0 } else { 0x0100 });
                u16b(o, 0);
                let ((w, h), matrix) = presentation(&spec.media);
                matrix.iter().for_each(|m| u32b(o, *m));
                u32b(o, w << 16);
                u32b(o, h << 16);
            });
            bx(o, b"mdia", |o| {
                full(o, b"mdhd", 0, 0, |o| {
                    u32b(o, 0);
                    u32b(o, 0);
                    u32b(o, spec.timescale);
                    u32b(o, 0);
                    u16b(o, 0x55c4); // "und"
                    u16b(o, 0);
                });
                full(o, b"hdlr", 0, 0, |o| {
                    u32b(o, 0);
                    o.extend_from_slice(if video { b"vide" } else { b"soun" });
                    o.extend_from_slice(&[0; 12]);
                    o.extend_from_slice(if video {
                        b"livefleet video\0"
                    } else {
                        b"livefleet audio\0"
                    });
                });
                bx(o, b"minf", |o| {
                    if video {
                        full(o, b"vmhd", 0, 1, |o| o.extend_from_slice(&[0; 8]));
                    } else {
                        full(o, b"smhd", 0, 0, |o| o.extend_from_slice(&[0; 4]));
                    }
                    bx(o, b"dinf", |o| {
                        full(o, b"dref", 0, 0, |o| {
                            u32b(o, 1);
                            full(o, b"url ", 0, 1, |_| {});
                        });
                    });
                    bx(o, b"stbl", |o| {
                        full(o, b"stsd", 0, 0, |o| {
                            u32b(o, 1);
                            sample_entry(o, spec);
                        });
                        full(o, b"stts", 0, 0, |o| u32b(o, 0));
                        full(o, b"stsc", 0, 0, |o| u32b(o, 0));
                        full(o, b"stsz", 0, 0, |o| o.extend_from_slice(&[0; 8]));
                        full(o, b"stco", 0, 0, |o| u32b(o, 0));
                    });
                });
            });
        });
        bx(o, b"mvex", |o| {
            full(o, b"trex", 0, 0, |o| {
                u32b(o, 1);
                u32b(o, 1);
                u32b(o, 0);
                u32b(o, 0);
                u32b(o, 0);
            });
        });
    });
    o
}

fn sample_entry(o: &mut Vec<u8>, spec: &TrackSpec) {
    match &spec.media {
        TrackMedia::Video {
            width,
            height,
            pixel_aspect,
            codec,
            range,
            ..
        } => {
            let (typ, config_box, record) = match codec {
                VideoCodecConfig::Avc { avcc, .. } => (b"avc1", b"avcC", avcc),
                VideoCodecConfig::Hevc { hvcc, .. } => (b"hvc1", b"hvcC", hvcc),
                VideoCodecConfig::Av1 { av1c, .. } => (b"av01", b"av1C", av1c),
            };
            bx(o, typ, |o| {
                o.extend_from_slice(&[0; 6]);
                u16b(o, 1);
                o.extend_from_slice(&[0; 16]);
                u16b(o, *width as u16);
                u16b(o, *height as u16);
                u32b(o, 0x0048_0000);
                u32b(o, 0x0048_0000);
                u32b(o, 0);
                u16b(o, 1);
                o.extend_from_slice(&[0; 32]);
                u16b(o, 0x0018);
                u16b(o, 0xffff);
                bx(o, config_box, |o| o.extend_from_slice(record));
                bx(o, b"pasp", |o| {
                    let (h_spacing, v_spacing) = match *pixel_aspect {
                        (0, _) | (_, 0) => (1, 1),
                        ratio => ratio,
                    };
                    u32b(o, h_spacing);
                    u32b(o, v_spacing);
                });
                if let Some(transfer) = range.transfer_characteristics() {
                    // nclx (ISO/IEC 14496-12, 12.1.5): BT.2020 primaries
                    // and matrix, the HDR transfer, limited range.
                    bx(o, b"colr", |o| {
                        o.extend_from_slice(b"nclx");
                        u16b(o, 9);
                        u16b(o, u16::from(transfer));
                        u16b(o, 9);
                        o.push(0);
                    });
                }
            });
        }
        TrackMedia::Audio { codec } => {
            bx(o, b"mp4a", |o| {
                o.extend_from_slice(&[0; 6]);
                u16b(o, 1);
                o.extend_from_slice(&[0; 8]);
                u16b(o, u16::from(codec.channels()));
                u16b(o, 16);
                u32b(o, 0);
                u32b(o, codec.sample_rate().min(65535) << 16);
                full(o, b"esds", 0, 0, |o| {
                    let asc = codec.asc();
                    let dsi_len = asc.len();
                    let dcd_len = 13 + 2 + dsi_len;
                    let es_len = 3 + 2 + dcd_len + 3;
                    o.extend_from_slice(&[0x03, es_len as u8]);
                    u16b(o, 1);
                    o.push(0);
                    o.extend_from_slice(&[0x04, dcd_len as u8, 0x40, 0x15, 0, 0, 0]);
                    u32b(o, spec.bandwidth.min(u64::from(u32::MAX)) as u32);
                    u32b(o, spec.bandwidth.min(u64::from(u32::MAX)) as u32);
                    o.extend_from_slice(&[0x05, dsi_len as u8]);
                    o.extend_from_slice(asc);
                    o.extend_from_slice(&[0x06, 0x01, 0x02]);
                });
            });
        }
    }
}

/// One sample as it goes into a `trun`.
pub(crate) struct FragSample<'a> {
    pub duration: u32,
    pub cts: i32,
    pub sync: bool,
    pub data: &'a [u8],
}

/// A media segment: `styp`, one `moof` with one `traf`, one `mdat`.
pub(crate) fn media_segment(
    sequence: u32,
    base_time: u64,
    video: bool,
    samples: &[FragSample],
) -> Vec<u8> {
    let payload: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut o = Vec::with_capacity(payload + 64 + samples.len() * 16);
    bx(&mut o, b"styp", |o| {
        o.extend_from_slice(b"msdh");
        u32b(o, 0);
        o.extend_from_slice(b"msdh");
        o.extend_from_slice(b"cmfs");
    });
    let moof_start = o.len();
    let mut offset_at = 0;
    bx(&mut o, b"moof", |o| {
        full(o, b"mfhd", 0, 0, |o| u32b(o, sequence));
        bx(o, b"traf", |o| {
            full(o, b"tfhd", 0, 0x02_0000, |o| u32b(o, 1));
            full(o, b"tfdt", 1, 0, |o| {
                o.extend_from_slice(&base_time.to_be_bytes())
            });
            let flags = if video {
                0x001 | 0x100 | 0x200 | 0x400 | 0x800
            } else {
                0x001 | 0x100 | 0x200
            };
            full(o, b"trun", 1, flags, |o| {
                u32b(o, samples.len() as u32);
                offset_at = o.len();
                u32b(o, 0);
                for s in samples {
                    u32b(o, s.duration);
                    u32b(o, s.data.len() as u32);
                    if video {
                        u32b(o, if s.sync { SYNC } else { NON_SYNC });
                        o.extend_from_slice(&s.cts.to_be_bytes());
                    }
                }
            });
        });
    });
    let data_offset = (o.len() - moof_start + 8) as u32;
    o[offset_at..offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    let mdat_size = (8 + payload) as u32;
    u32b(&mut o, mdat_size);
    o.extend_from_slice(b"mdat");
    for s in samples {
        o.extend_from_slice(s.data);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::video_spec;

    /// The payload of the first `typ` box in `data`, searched byte by byte.
    fn find_box<'a>(data: &'a [u8], typ: &[u8; 4]) -> &'a [u8] {
        let at = data
            .windows(4)
            .position(|w| w == typ)
            .unwrap_or_else(|| panic!("no {typ:?} box"));
        let size = u32::from_be_bytes(data[at - 4..at].try_into().unwrap()) as usize;
        &data[at + 4..at - 4 + size]
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// What an init segment says of its picture: the `tkhd` matrix and
    /// presentation size (version 0: at 40, 76 and 80), the `avc1` size
    /// (at 24 and 26) and the `pasp` ratio.
    struct Picture {
        matrix: [u32; 9],
        tkhd: (u32, u32),
        avc1: (u16, u16),
        pasp: (u32, u32),
    }

    fn picture(init: &[u8]) -> Picture {
        let tkhd = find_box(init, b"tkhd");
        let avc1 = find_box(init, b"avc1");
        let pasp = find_box(init, b"pasp");
        let be16 = |at: usize| u16::from_be_bytes([avc1[at], avc1[at + 1]]);
        Picture {
            matrix: std::array::from_fn(|i| be32(tkhd, 40 + 4 * i)),
            tkhd: (be32(tkhd, 76) >> 16, be32(tkhd, 80) >> 16),
            avc1: (be16(24), be16(26)),
            pasp: (be32(pasp, 0), be32(pasp, 4)),
        }
    }

    fn stored(width: u32, height: u32, aspect: (u32, u32), turn: Turn) -> TrackSpec {
        let mut spec = video_spec("source", width, height, 1_000_000);
        if let TrackMedia::Video {
            pixel_aspect,
            turn: t,
            ..
        } = &mut spec.media
        {
            *pixel_aspect = aspect;
            *t = turn;
        }
        spec
    }

    #[test]
    fn an_upright_square_pixel_track_has_the_identity_matrix_and_its_size() {
        let spec = stored(640, 360, (1, 1), Turn::Upright);
        let p = picture(&init_segment(&spec));
        assert_eq!(p.matrix, MATRIX);
        assert_eq!((p.tkhd, p.avc1, p.pasp), ((640, 360), (640, 360), (1, 1)));
        assert_eq!(spec.media.shown_size(), Some((640, 360)));
    }

    #[test]
    fn a_turned_track_keeps_its_stored_size_and_carries_the_turn_as_ffmpeg_writes_it() {
        // Stored 640x360, shown 360x640: FFmpeg's mov muxer writes a quarter
        // turn clockwise as (0, 1, -1, 0) with the stored height as x.
        let one = 0x0001_0000u32;
        let minus = one.wrapping_neg();
        let w = 0x4000_0000;
        let cases = [
            (
                Turn::Clockwise,
                [0, one, 0, minus, 0, 0, 360 << 16, 0, w],
                (360, 640),
            ),
            (
                Turn::Counterclockwise,
                [0, minus, 0, one, 0, 0, 0, 640 << 16, w],
                (360, 640),
            ),
            (
                Turn::Half,
                [minus, 0, 0, 0, minus, 0, 640 << 16, 360 << 16, w],
                (640, 360),
            ),
        ];
        for (turn, matrix, shown) in cases {
            let spec = stored(640, 360, (1, 1), turn);
            let p = picture(&init_segment(&spec));
            assert_eq!(p.matrix, matrix, "{turn:?}");
            assert_eq!((p.tkhd, p.avc1), ((640, 360), (640, 360)), "{turn:?}");
            assert_eq!(spec.media.shown_size(), Some(shown), "{turn:?}");
        }
    }

    #[test]
    fn an_anamorphic_track_keeps_its_samples_shape_and_is_presented_in_square_pixels() {
        // 480x360 stored at 4:3 (a 16:9 picture): pasp 4:3, tkhd 640x360.
        let spec = stored(480, 360, (4, 3), Turn::Upright);
        let p = picture(&init_segment(&spec));
        assert_eq!((p.tkhd, p.avc1, p.pasp), ((640, 360), (480, 360), (4, 3)));
        assert_eq!(spec.media.shown_size(), Some((640, 360)));
        // A ratio with a zero is taken as square.
        let p = picture(&init_segment(&stored(480, 360, (0, 1), Turn::Upright)));
        assert_eq!((p.tkhd, p.pasp), ((480, 360), (1, 1)));
    }
}
