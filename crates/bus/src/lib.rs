//! The NATS layer of livefleet.
//!
//! Every livefleet process talks over NATS with JetStream. This crate holds
//! the pieces they share:
//!
//! - [`NatsServer`]: a `nats-server` child process, used by `livefleet dev`
//!   when no NATS URL is given and by every integration test as the harness;
//! - [`connect`] and [`jetstream`]: a connection that waits for the server at
//!   start-up and reconnects forever;
//! - the media stream ([`MediaPublisher`], [`subscribe_media`]): the ingest
//!   publishes [`MediaPacket`](livefleet_base::MediaPacket)s of a channel,
//!   the worker that transcodes the channel reads them, and a replacement
//!   worker resumes at the latest keyframe;
//! - the channel registry ([`ChannelRegistry`]): channels, their stream keys
//!   and ladder profiles in a JetStream KV bucket, watched by workers;
//! - the archive index ([`BroadcastIndex`]): one record per archived
//!   broadcast, from the workers to the admin API;
//! - channel events ([`events`]): segment closes and broadcast starts and
//!   stops, from the workers to the chat relays, and the publish sessions a
//!   worker gave up on ([`PublishRefusal`]), from the workers to the ingest.
//!
//! ```text
//! ingest --MediaPublisher--> LIVEFLEET_MEDIA (media.<channel>.*) --MediaSubscription--> worker
//! admin API --ChannelRegistry--> KV livefleet_channels --watch--> worker, ingest (find_by_key)
//! ```

pub mod batch;
pub mod broadcasts;
mod connect;
mod error;
pub mod events;
pub mod fragment;
mod media;
mod refusal;
mod registry;
pub mod replication;
mod server;
mod stream_key;
mod upkeep;

pub use broadcasts::{
    record_key, ArchiveState, ArchivedBroadcast, BroadcastIndex, BROADCASTS_BUCKET,
    OPEN_ARCHIVES_BUCKET,
};
pub use connect::{
    connect, connect_with, jetstream, parse_servers, stopping_own_server, NatsConnect,
};
pub use error::{BusError, NatsError};
pub use events::{
    ensure_events_stream, last_broadcast_event, publish_event, subscribe_events, BadEvent,
    BroadcastEvent, BroadcastState, ChannelEvent, SegmentEvent, EVENTS_STREAM,
};
pub use media::{
    channel_subjects, ensure_media_stream, subscribe_media, MediaPublisher, MediaStart,
    MediaStreamConfig, MediaSubscription, MEDIA_STREAM,
};
pub use refusal::{last_refusal, PublishRefusal};
pub use registry::{ChannelChange, ChannelRecord, ChannelRegistry, ChannelWatch, REGISTRY_BUCKET};
pub use replication::{
    configure_replication, open_kv_bucket, Ensured, Replication, StreamError, StreamKind,
};
pub use server::{NatsServer, CHILD_MAX_PAYLOAD};
pub use stream_key::{generate_stream_key, validate_stream_key};
pub use upkeep::{
    bucket_restorations, restorations, spawn_upkeep, Restorations, CHECK_EVERY as UPKEEP_EVERY,
};
