//! What goes into the packager and what comes out: its configuration, the
//! tracks and their samples, the objects to store, the segments closed.

use bytes::Bytes;

use crate::{AudioConfig, VideoCodecConfig};

/// How segments and manifests are laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct PackagerConfig {
    /// Target segment duration in seconds (the profile's).
    pub segment_duration: f64,
    /// Segments listed in live playlists when no DVR window is set.
    pub live_window: usize,
    /// When set, live playlists list every segment of the last this-many
    /// seconds (viewers can rewind); the MPD's timeShiftBufferDepth.
    pub dvr_window: Option<f64>,
    /// Wall-clock time of the first sample (PROGRAM-DATE-TIME, availabilityStartTime).
    pub start_time_unix_ms: i64,
    /// File generation of what this packager writes (init segments and
    /// segment names carry it when above 0). `None`: 0 for a new broadcast,
    /// one above the state's for a resumed one. A fleet worker passes its
    /// assignment epoch, so two workers never write the same file name.
    pub generation: Option<u32>,
    /// An HTTP time source players can reach (`urn:mpeg:dash:utc:http-iso:2014`),
    /// listed first among the MPD's `UTCTiming` elements; the MPD also carries
    /// its own write time (`urn:mpeg:dash:utc:direct:2014`) for players that
    /// cannot reach it.
    pub utc_timing_url: Option<String>,
    /// Hand back, through [`crate::Packager::take_expired`], the media
    /// segments (and init segments no period needs any more) that left the
    /// live manifests, once they have been out of them for as long again as
    /// the manifests list plus a segment (RFC 8216, 6.2.2): the store then
    /// holds about two windows per rendition instead of the whole broadcast.
    /// The final manifests list only what is still stored. Off when the
    /// broadcast is archived (the archive copies every segment at the end).
    pub expire_segments: bool,
    /// CEA-608 caption services the video tracks carry in their SEI: the
    /// HLS multivariant playlist and the MPD declare them, so players list
    /// them (`CLOSED-CAPTIONS`, DASH `Accessibility`).
    pub captions: Vec<CaptionService>,
}

/// A CEA-608 caption service carried in the video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionService {
    /// `CC1` to `CC4` (HLS `INSTREAM-ID`).
    pub channel: String,
    /// BCP 47 language tag.
    pub language: Option<String>,
    /// What players show in their caption menu.
    pub name: String,
}

/// What a track carries.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackMedia {
    Video {
        /// The stored picture: the sample entry's size. Manifests declare
        /// it as players show it ([`TrackMedia::shown_size`]).
        width: u32,
        height: u32,
        /// The shape of a stored sample (`pasp`): 1:1 for encoded
        /// renditions; a copied anamorphic source keeps its own.
        pixel_aspect: (u32, u32),
        frame_rate: Option<(u32, u32)>,
        codec: VideoCodecConfig,
        /// How players turn the stored pictures to show them (the init
        /// segment's display matrix). Encoded renditions are upright; a
        /// copied source recorded on its side keeps its turn.
        turn: Turn,
        /// SDR for encoded renditions; a copied HDR source keeps its own.
        range: VideoRange,
    },
    Audio {
        codec: AudioConfig,
    },
}

/// The transfer a video track's pictures are coded with, as manifests and
/// init segments declare it, so a player picks a variant it can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoRange {
    #[default]
    Sdr,
    /// SMPTE ST 2084 (HDR10, OBS's Rec. 2100 PQ).
    Pq,
    /// ARIB STD-B67, hybrid log-gamma.
    Hlg,
}

impl VideoRange {
    /// The HLS `VIDEO-RANGE` value of an HDR track (SDR is the default, unsaid).
    pub fn hls(self) -> Option<&'static str> {
        match self {
            Self::Sdr => None,
            Self::Pq => Some("PQ"),
            Self::Hlg => Some("HLG"),
        }
    }

    /// The CICP (ISO/IEC 23091-2) TransferCharacteristics of an HDR track:
    /// 16 for PQ, 18 for HLG; its colour primaries and matrix are BT.2020 (9).
    pub fn transfer_characteristics(self) -> Option<u8> {
        match self {
            Self::Sdr => None,
            Self::Pq => Some(16),
            Self::Hlg => Some(18),
        }
    }
}

/// A turn players apply to a video track's coded pictures: the `tkhd`
/// display matrix of ISO/IEC 14496-12, 8.3.2, limited to quarter turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Turn {
    /// Shown as coded.
    #[default]
    Upright,
    /// A quarter turn clockwise: coded 1920x1080, shown 1080x1920.
    Clockwise,
    /// Half a turn.
    Half,
    /// A quarter turn counterclockwise.
    Counterclockwise,
}

impl Turn {
    /// The size a `width` x `height` picture is shown at once turned.
    pub fn shown(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            Turn::Clockwise | Turn::Counterclockwise => (height, width),
            Turn::Upright | Turn::Half => (width, height),
        }
    }
}

/// The width at which `width` samples of shape `num:den` are shown in
/// square pixels, the height kept (an HDV 1440x1080 at 4:3 is shown
/// 1920x1080; NTSC DV's 720x480 at 8:9, 640x480), rounded to even. A ratio
/// with a zero is taken as square.
pub fn square_pixel_width(width: u32, (num, den): (u32, u32)) -> u32 {
    if num == 0 || den == 0 || num == den {
        return width;
    }
    let shown = (f64::from(width) * f64::from(num) / f64::from(den)).round() as u32;
    (shown.max(2) + 1) & !1
}

impl TrackMedia {
    /// A video track's picture as players show it: square pixels, turned.
    /// What the master playlist's RESOLUTION and the MPD declare.
    pub fn shown_size(&self) -> Option<(u32, u32)> {
        match self {
            TrackMedia::Video {
                width,
                height,
                pixel_aspect,
                turn,
                ..
            } => Some(turn.shown(square_pixel_width(*width, *pixel_aspect), *height)),
            TrackMedia::Audio { .. } => None,
        }
    }
}

/// One rendition (a track, its own files).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackSpec {
    /// URL-safe rendition name; the track's directory.
    pub name: String,
    pub media: TrackMedia,
    /// Ticks per second of the sample timestamps.
    pub timescale: u32,
    /// Peak bits per second, declared until measured.
    pub bandwidth: u64,
    /// Average bits per second, declared until measured.
    pub average_bandwidth: u64,
}

/// A track, by its position in the list given to [`Packager::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackId(pub usize);

/// One encoded access unit (video: length-prefixed NAL units; audio: a raw AAC frame).
#[derive(Debug, Clone)]
pub struct Sample {
    /// Decode time in the track's timescale; never negative, never decreasing.
    pub dts: i64,
    /// Presentation time; may be below `dts` (negative composition offset).
    pub pts: i64,
    /// Duration when known; otherwise the distance to the next sample.
    pub duration: Option<u32>,
    pub keyframe: bool,
    /// A keyframe that starts a segment in every rendition.
    pub segment_start: bool,
    pub data: Bytes,
}

/// How long a stored object may be cached: the one class of the base crate.
pub use livefleet_base::CacheClass;

/// An object to store, relative to the channel's prefix.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Put {
        path: String,
        body: Bytes,
        content_type: &'static str,
        cache: CacheClass,
    },
}

impl Output {
    /// Whether this is a manifest (an HLS playlist or the DASH MPD).
    pub fn is_manifest(&self) -> bool {
        let p = self.path();
        p.ends_with(".m3u8") || p.ends_with(".mpd")
    }

    /// An object to store; its content type follows from the path (the one
    /// table in `livefleet_base::content_type`).
    pub fn put(path: String, body: Bytes, cache: CacheClass) -> Output {
        Output::Put {
            content_type: livefleet_base::content_type_for_key(&path),
            path,
            body,
            cache,
        }
    }

    /// The object's path.
    pub fn path(&self) -> &str {
        match self {
            Output::Put { path, .. } => path,
        }
    }
}

/// A media segment the packager closed: for metrics, and for the segment
/// events that tell the chat relays where segments begin and end.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedSegment {
    /// The track (rendition) name.
    pub track: String,
    /// The segment number (the same on every track of one boundary).
    pub number: u64,
    /// A video track's segment.
    pub video: bool,
    /// Wall-clock time of its first sample (its PROGRAM-DATE-TIME), Unix ms.
    pub program_date_ms: i64,
    pub seconds: f64,
    pub bytes: u64,
}
