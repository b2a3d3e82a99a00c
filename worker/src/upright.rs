//! Sources recorded on their side. A phone's MP4 stores the picture as the
//! sensor saw it (coded 1920x1080) and a display matrix that says "show it
//! turned 90°". The worker turns the decoded frames upright once
//! (`picture.rs`), before the ladder is planned, so every rendition is encoded the way the source is
//! shown: the ffmpeg CLI does the same by default (`-autorotate`), and the
//! encoded renditions' init segments carry no matrix. A passthrough copies
//! the coded pictures, so its init segment carries the turn
//! ([`Rotation::turn`]) for players to apply.
//!
//! Only files carry a display matrix; RTMP publishers send upright frames.

use ff::ffi;
use ffmpeg_next as ff;
use livefleet_packager::Turn;

use crate::filter_chain::Step;

/// How the decoded picture must be turned to be shown as its source means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    #[default]
    Upright,
    /// A quarter turn clockwise (`transpose=clock`).
    Clockwise,
    /// Half a turn.
    Half,
    /// A quarter turn counterclockwise (`transpose=cclock`).
    Counterclockwise,
}

impl Rotation {
    /// From a display matrix as FFmpeg stores it (nine `i32`, native
    /// endianness). Angles that are not a multiple of 90° (and malformed
    /// matrices) are left as they are, with a warning.
    pub fn from_display_matrix(data: &[u8]) -> Rotation {
        let Some(matrix) = read_matrix(data) else {
            tracing::warn!(
                bytes = data.len(),
                "display matrix of the wrong size ignored"
            );
            return Rotation::Upright;
        };
        // SAFETY: `matrix` holds the nine values the function reads.
        let ccw = unsafe { ffi::av_display_rotation_get(matrix.as_ptr()) };
        if !ccw.is_finite() {
            return Rotation::Upright;
        }
        // Clockwise degrees in [0, 360), as the ffmpeg CLI reads it.
        let cw = (-ccw.round()).rem_euclid(360.0);
        let near = |a: f64| (cw - a).abs() < 1.0;
        if near(0.0) || near(360.0) {
            Rotation::Upright
        } else if near(90.0) {
            Rotation::Clockwise
        } else if near(180.0) {
            Rotation::Half
        } else if near(270.0) {
            Rotation::Counterclockwise
        } else {
            tracing::warn!(
                degrees = cw,
                "the source asks to be shown turned by an angle that is not a quarter turn; encoded as stored"
            );
            Rotation::Upright
        }
    }

    /// The same turn as the display matrix a copy of the source carries.
    pub fn turn(self) -> Turn {
        match self {
            Rotation::Upright => Turn::Upright,
            Rotation::Clockwise => Turn::Clockwise,
            Rotation::Half => Turn::Half,
            Rotation::Counterclockwise => Turn::Counterclockwise,
        }
    }

    /// The degrees clockwise, for logs.
    pub fn degrees(self) -> u32 {
        match self {
            Rotation::Upright => 0,
            Rotation::Clockwise => 90,
            Rotation::Half => 180,
            Rotation::Counterclockwise => 270,
        }
    }

    pub(crate) fn steps(self) -> Vec<Step> {
        let step = |name, options: &str| Step {
            name,
            options: options.into(),
        };
        match self {
            Rotation::Upright => Vec::new(),
            Rotation::Clockwise => vec![step("transpose", "dir=clock")],
            Rotation::Counterclockwise => vec![step("transpose", "dir=cclock")],
            Rotation::Half => vec![step("hflip", ""), step("vflip", "")],
        }
    }
}

fn read_matrix(data: &[u8]) -> Option<[i32; 9]> {
    if data.len() < 36 {
        return None;
    }
    let mut m = [0i32; 9];
    for (v, b) in m.iter_mut().zip(data.chunks_exact(4)) {
        *v = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A matrix as `av_display_rotation_set(degrees)` makes it: what a muxer
    /// writes for `-metadata:s:v rotate=<-degrees>` (the CLI then turns the
    /// picture `degrees` clockwise).
    fn matrix(degrees: f64) -> Vec<u8> {
        let mut m = [0i32; 9];
        // SAFETY: `m` holds the nine values the function writes.
        unsafe { ffi::av_display_rotation_set(m.as_mut_ptr(), degrees) };
        m.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn quarter_turns_are_read_as_the_cli_reads_them() {
        assert_eq!(
            Rotation::from_display_matrix(&matrix(0.0)),
            Rotation::Upright
        );
        assert_eq!(
            Rotation::from_display_matrix(&matrix(-90.0)),
            Rotation::Counterclockwise
        );
        assert_eq!(
            Rotation::from_display_matrix(&matrix(90.0)),
            Rotation::Clockwise
        );
        assert_eq!(
            Rotation::from_display_matrix(&matrix(180.0)),
            Rotation::Half
        );
        assert_eq!(
            Rotation::from_display_matrix(&matrix(45.0)),
            Rotation::Upright
        );
        assert_eq!(Rotation::from_display_matrix(&[1, 2, 3]), Rotation::Upright);
        assert_eq!(Rotation::Clockwise.turn().shown(1920, 1080), (1080, 1920));
        assert_eq!(Rotation::Half.turn().shown(1920, 1080), (1920, 1080));
    }
}
