//! The RTMP ingest: where publishers (OBS, ffmpeg, GStreamer) enter livefleet.
//!
//! ```text
//! publisher --RTMP--> serve() --bytes--> RtmpConnection (sans-IO: handshake,
//!                       |                rml_rtmp ServerSession, FLV tags)
//!                       |<--events------ Send / PublishRequested / Media / ...
//!                       +--authorize--> PublishGate  (stream key -> ChannelName)
//!                       +--publish----> MediaSink    (MediaPacket per channel, End last)
//! ```
//!
//! Publishers connect to `rtmp://HOST:PORT/live/<stream key>`. The
//! [`PublishGate`] turns the key into a channel or refuses it with an RTMP
//! error status; every packet of an accepted publish carries a fresh session
//! id and goes to the [`MediaSink`] (NATS in production), and when the
//! publisher goes away, cleanly or not, the sink gets an `End` packet.
//!
//! The protocol lives in [`RtmpConnection`], which takes bytes and returns
//! events, so it is tested and fuzzed without sockets; [`serve`] is the thin
//! tokio adapter with the connection cap, timeouts and the one-publisher-per-
//! channel rule. Bad input ends only the connection that sent it.

mod admit;
mod bus;
mod claims;
mod config;
mod connection;
mod gate;
mod handshakes;
mod metrics;
mod recheck;
mod server;
mod sink;

pub use bus::{BusSink, RegistryGate};
pub use config::IngestConfig;
pub use connection::{
    ConnectionEvent, ConnectionSettings, ProtocolError, PublishRequest, RtmpConnection, StreamInfo,
    MAX_USEFUL_CHUNK_SIZE,
};
pub use gate::{PublishGate, Refusal, RefusalCode, StaticKeys};
pub use metrics::IngestMetrics;
pub use server::serve;
pub use sink::{ChannelSink, MediaSink, SinkError};
