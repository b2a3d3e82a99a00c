//! What can go wrong while packaging.

/// A packaging error. Configuration errors stop a broadcast; sample errors
/// drop the sample and are logged by the caller.
#[derive(Debug, thiserror::Error)]
pub enum PackagerError {
    /// A codec configuration record (avcC, hvcC, Annex B parameter sets) could not be read.
    #[error("video codec configuration: {0}")]
    VideoConfig(String),
    /// An SPS could not be read.
    #[error("sequence parameter set: {0}")]
    Sps(String),
    /// An AudioSpecificConfig could not be read.
    #[error("AAC AudioSpecificConfig: {0}")]
    AudioConfig(String),
    /// The packager was set up with an unusable configuration.
    #[error("packager configuration: {0}")]
    Config(String),
    /// A sample for a track the packager does not have.
    #[error("no track {0}")]
    NoSuchTrack(usize),
    /// Decode timestamps went backwards within a track.
    #[error("track {track}: decode time {dts} is before the previous sample's {previous}")]
    NonMonotonic {
        track: String,
        dts: i64,
        previous: i64,
    },
    /// A segment grew past the size limit without a segment boundary.
    #[error("track {track}: segment {number} exceeds {limit} bytes without a segment boundary")]
    SegmentTooLarge {
        track: String,
        number: u64,
        limit: usize,
    },
    /// A state to resume from that no packager could have written.
    #[error("packager state: {0}")]
    State(String),
    /// A sample came after `finish`.
    #[error("the broadcast is finished")]
    Finished,
}
