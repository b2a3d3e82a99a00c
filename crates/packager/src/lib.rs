//! TEMPORARY STUB (worktree only)
use bytes::Bytes;
#[derive(Debug, thiserror::Error)]
#[error("packager")]
pub struct PackagerError;
#[derive(Clone)]
pub struct PackagerConfig { pub segment_duration: f64, pub live_window: usize, pub dvr_window: Option<f64>, pub start_time_unix_ms: i64 }
pub enum VideoCodecConfig { Avc { avcc: Bytes }, Hevc { hvcc: Bytes } }
impl VideoCodecConfig { pub fn from_extradata(_c: VideoCodec, _e: &[u8]) -> Result<Self, PackagerError> { todo!() } }
pub enum VideoCodec { H264, Hevc }
pub struct AudioConfig { pub asc: Bytes }
impl AudioConfig { pub fn new(_asc: Bytes) -> Result<Self, PackagerError> { todo!() } pub fn sample_rate(&self)->u32{todo!()} pub fn channels(&self)->u8{todo!()} }
pub enum TrackMedia { Video { width: u32, height: u32, frame_rate: Option<(u32, u32)>, codec: VideoCodecConfig }, Audio { codec: AudioConfig } }
pub struct TrackSpec { pub name: String, pub media: TrackMedia, pub timescale: u32, pub bandwidth: u64 }
#[derive(Clone, Copy, Debug)]
pub struct TrackId(pub usize);
pub struct Sample { pub dts: i64, pub pts: i64, pub duration: Option<u32>, pub keyframe: bool, pub segment_start: bool, pub data: Bytes }
pub enum CacheClass { Immutable, Manifest, Final }
pub enum Output { Put { path: String, body: Bytes, content_type: &'static str, cache: CacheClass }, Delete { path: String } }
#[derive(Default, Clone, Debug)]
pub struct PackagerState;
pub struct Packager;
impl Packager {
  pub fn new(_c: PackagerConfig, _t: Vec<TrackSpec>) -> Result<(Self, Vec<Output>), PackagerError> { todo!() }
  pub fn push(&mut self, _t: TrackId, _s: Sample) -> Result<Vec<Output>, PackagerError> { todo!() }
  pub fn discontinuity(&mut self, _w: i64) {}
  pub fn finish(&mut self) -> Vec<Output> { todo!() }
  pub fn state(&self) -> PackagerState { todo!() }
  pub fn resume(_c: PackagerConfig, _t: Vec<TrackSpec>, _s: PackagerState) -> Result<(Self, Vec<Output>), PackagerError> { todo!() }
}
pub mod annexb { pub fn to_length_prefixed(_a: &[u8]) -> Vec<u8> { todo!() } }
