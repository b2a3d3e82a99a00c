//! FFmpeg's own log lines through `tracing`, never raw to stderr.
//!
//! Levels map as operators need them: FFmpeg's errors and fatals are
//! `error`, its warnings `warn`, and everything FFmpeg calls information
//! (encoder banners such as libx264's "using cpu capabilities", stream
//! summaries) is `debug`: a running worker's log says what livefleet did,
//! and `RUST_LOG=ffmpeg=debug` shows FFmpeg's chatter when it is wanted.
//! Lines carry the `ffmpeg` target and the FFmpeg context prefix
//! (`[libx264 @ 0x...]`).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Once;

use ffmpeg_next as ff;

static INSTALL: Once = Once::new();

/// Routes FFmpeg's log through `tracing` (once per process; later calls do nothing).
pub fn route_to_tracing() {
    INSTALL.call_once(install);
}

#[cfg(target_arch = "x86_64")]
fn install() {
    // SAFETY: both calls only store a level and a function pointer in FFmpeg's
    // globals; `callback` is a plain function that lives for the whole process.
    unsafe {
        ff::ffi::av_log_set_level(ff::ffi::AV_LOG_INFO as c_int);
        ff::ffi::av_log_set_callback(Some(callback));
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn install() {
    tracing::info!(
        "FFmpeg's log is left on stderr on this architecture (its va_list is not a pointer here)"
    );
}

#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn callback(
    avcl: *mut c_void,
    level: c_int,
    fmt: *const c_char,
    args: *mut ff::ffi::__va_list_tag,
) {
    if level > ff::ffi::av_log_get_level() {
        return;
    }
    let mut line = [0 as c_char; 1024];
    // The context prefix (`[libx264 @ 0x...]`) starts a line, not a piece.
    let mut prefix: c_int = PIECES.with(|p| c_int::from(p.borrow().0.is_empty()));
    // SAFETY: FFmpeg calls this with its own context, format and argument
    // list; av_log_format_line2 writes at most `line.len()` bytes, NUL included.
    let text = unsafe {
        ff::ffi::av_log_format_line2(
            avcl,
            level,
            fmt,
            args,
            line.as_mut_ptr(),
            line.len() as c_int,
            &mut prefix,
        );
        CStr::from_ptr(line.as_ptr()).to_string_lossy()
    };
    // FFmpeg writes some lines in pieces (`Packet corrupt (stream = 0, dts
    // = 395090)`, then `.`); each piece came out as a line of its own.
    let whole = PIECES.with(|p| p.borrow_mut().add(&text));
    if let Some(line) = whole {
        let line = line.trim_end();
        if !line.is_empty() {
            emit(level, line);
        }
    }
}

thread_local! {
    static PIECES: std::cell::RefCell<Pieces> = const { std::cell::RefCell::new(Pieces(String::new())) };
}

/// The pieces of an FFmpeg line written so far on this thread.
#[derive(Debug, Default)]
struct Pieces(String);

impl Pieces {
    /// The longest line held back for its end (a piece that never gets one
    /// is let out at this length).
    const MAX: usize = 4096;

    /// Adds a piece; the whole line once it ends with a newline.
    fn add(&mut self, piece: &str) -> Option<String> {
        self.0.push_str(piece);
        if piece.ends_with('\n') || self.0.len() >= Self::MAX {
            Some(std::mem::take(&mut self.0))
        } else {
            None
        }
    }
}

/// FFmpeg warnings that say nothing is wrong, logged at `debug`:
/// - its HLS demuxer reads every fMP4 segment behind the init segment again,
///   and the MP4 demuxer then warns of a second `moov`, once per segment
///   (`transcode` of an fMP4 HLS playlist, livefleet's own archive included);
/// - swscale warns of the full-range `yuvj` formats (MJPEG: webcams,
///   cameras' AVI files) whatever the caller did; the range is set on every
///   frame it is given, and the output is right.
const HARMLESS_WARNINGS: [&str; 2] = [
    "Found duplicated MOOV Atom",
    "deprecated pixel format used, make sure you did set range correctly",
];

/// The level an FFmpeg line of `level` saying `text` is logged at.
fn level_of(level: c_int, text: &str) -> tracing::Level {
    let harmless = || HARMLESS_WARNINGS.iter().any(|w| text.contains(w));
    if level <= ff::ffi::AV_LOG_ERROR as c_int {
        tracing::Level::ERROR
    } else if level <= ff::ffi::AV_LOG_WARNING as c_int && !harmless() {
        tracing::Level::WARN
    } else if level <= ff::ffi::AV_LOG_INFO as c_int {
        tracing::Level::DEBUG
    } else {
        tracing::Level::TRACE
    }
}

/// Logs one FFmpeg line at the level it maps to.
fn emit(level: c_int, text: &str) {
    match level_of(level, text) {
        tracing::Level::ERROR => tracing::error!(target: "ffmpeg", "{text}"),
        tracing::Level::WARN => tracing::warn!(target: "ffmpeg", "{text}"),
        tracing::Level::DEBUG => tracing::debug!(target: "ffmpeg", "{text}"),
        _ => tracing::trace!(target: "ffmpeg", "{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_written_in_pieces_comes_out_whole() {
        let mut p = Pieces::default();
        assert_eq!(
            p.add("[mpegts @ 0x55] Packet corrupt (stream = 0, dts = 3)"),
            None
        );
        assert_eq!(
            p.add(".\n").as_deref(),
            Some("[mpegts @ 0x55] Packet corrupt (stream = 0, dts = 3).\n")
        );
        assert_eq!(p.add("whole\n").as_deref(), Some("whole\n"));
        assert!(
            p.add(&"x".repeat(Pieces::MAX)).is_some(),
            "never held forever"
        );
    }

    #[test]
    fn harmless_warnings_are_debug_the_others_stay_warnings() {
        let warning = ff::ffi::AV_LOG_WARNING as c_int;
        let said = |text| level_of(warning, text);
        // Once per segment, reading a live fMP4 HLS playlist (seen by hand).
        assert_eq!(
            said("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] Found duplicated MOOV Atom. Skipped it"),
            tracing::Level::DEBUG
        );
        assert_eq!(
            said("[swscaler @ 0x55] deprecated pixel format used, make sure you did set range correctly"),
            tracing::Level::DEBUG
        );
        assert_eq!(
            said("[mpegts @ 0x55] Packet corrupt (stream = 0, dts = 395090)"),
            tracing::Level::WARN
        );
        assert_eq!(
            level_of(ff::ffi::AV_LOG_ERROR as c_int, "Found duplicated MOOV Atom"),
            tracing::Level::ERROR
        );
        assert_eq!(
            level_of(ff::ffi::AV_LOG_INFO as c_int, "using cpu capabilities"),
            tracing::Level::DEBUG
        );
    }
}
