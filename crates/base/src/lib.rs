//! Shared vocabulary of livefleet.
//!
//! Every other crate speaks in these types: validated [`ChannelName`]s and
//! [`RenditionName`]s, the [`MediaPacket`] that carries one access unit (or a
//! codec configuration) from the ingest to a worker over NATS, and the one
//! place where a binary installs its tracing subscriber ([`telemetry`]).
//! Nothing here does I/O.

pub mod cache;
pub mod clock;
pub mod codec;
pub mod content_type;
pub mod layout;
pub mod media;
pub mod names;
pub mod telemetry;

pub use cache::CacheClass;
pub use clock::now_unix_ms;
pub use codec::{AudioFormat, Codec};
pub use content_type::content_type_for_key;
pub use layout::{chat_replay_number, chat_replay_path, THUMBNAIL_PATH};
pub use media::{MediaPacket, PacketKind, Track, WireError};
pub use names::{ChannelName, NameError, RenditionName};
