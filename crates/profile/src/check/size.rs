//! How many renditions a ladder may have.

use crate::error::Report;

/// Video renditions one channel may have: each is an encoder with its own
/// threads and frame buffers on every worker that takes the channel (two
/// hundred would take a node's memory down); Apple's largest example ladder
/// has 9 per codec, H.264 and HEVC side by side 18.
pub const MAX_VIDEO_RENDITIONS: usize = 20;
/// Audio renditions one channel may have.
pub const MAX_AUDIO_RENDITIONS: usize = 8;

/// A ladder longer than a channel may run, told after the renditions' own
/// problems (it would hide them: a problem at `video` covers `video[i]`).
pub(super) fn too_many_video(report: &mut Report, count: usize) {
    if count > MAX_VIDEO_RENDITIONS {
        report.push(
            "video",
            format!(
                "the ladder has {count} video renditions; a channel runs at most {MAX_VIDEO_RENDITIONS} (an encoder and its threads each, on every worker that takes it)"
            ),
            "keep the rungs players switch between: 4 to 6 cover 240p to 1080p, 9 per codec is Apple's largest example ladder",
        );
    }
}

/// As [`too_many_video`], for the audio renditions.
pub(super) fn too_many_audio(report: &mut Report, count: usize) {
    if count > MAX_AUDIO_RENDITIONS {
        report.push(
            "audio",
            format!("the ladder has {count} audio renditions; a channel runs at most {MAX_AUDIO_RENDITIONS}"),
            "one AAC rendition per bitrate players need; 1 or 2 is usual",
        );
    }
}
