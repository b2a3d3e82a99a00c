//! Fleet scheduling core of livefleet: who runs which channel.
//!
//! Workers publish a [`Heartbeat`] every second; the scheduler keeps them in
//! a [`FleetView`], costs each channel's ladder with [`ChannelCost`] and
//! places it with [`FleetView::place`]. The decision is written to the
//! [`Assignments`] bucket in JetStream KV by compare-and-set with an
//! [`Epoch`]; workers watch that bucket, run a channel only while they hold
//! its current epoch, and stamp their output with it. Scheduler replicas
//! elect one leader through a [`Lease`] in another KV bucket.
//!
//! ```text
//! worker --Heartbeat (livefleet.fleet.heartbeat.<id>)--> scheduler: FleetView
//! ingest --PlaceRequest (livefleet.sched.place)--> scheduler --place + CAS--> KV livefleet_assignments
//! KV livefleet_assignments --watch--> workers (start / stop, fenced by epoch)
//! scheduler replicas --Lease (CAS renew)--> KV livefleet_leader
//! ```
//!
//! [`FleetView`] and [`ChannelCost`] do no I/O (time is passed in);
//! [`Assignments`] and [`Lease`] talk to JetStream. The scheduler service
//! itself lives in the `livefleet-scheduler` crate.

mod assignments;
mod cost;
mod error;
mod heartbeat;
mod kv;
mod lease;
mod protocol;
mod view;

pub use assignments::{
    Assignment, AssignmentEntry, AssignmentWatch, Assignments, Epoch, ASSIGNMENTS_BUCKET,
};
pub use cost::{ChannelCost, SourceVideo, DEFAULT_SOURCE_FPS};
pub use error::{FleetError, NatsError};
pub use heartbeat::{
    heartbeat_subject, EncoderKind, GpuLoad, Heartbeat, NodeState, RunningChannel, WorkerId,
    HEARTBEAT_SUBJECT_FILTER, HEARTBEAT_SUBJECT_PREFIX, MAX_CHANNELS_PER_WORKER,
    MAX_HEARTBEAT_BYTES, MAX_NVENC_SESSIONS, MAX_PIXEL_RATE,
};
pub use kv::open_bucket;
pub use lease::{Leadership, Lease, LeaseRecord, LEADER_BUCKET};
pub use protocol::{
    DrainReply, DrainRequest, NotMoved, PlaceReply, PlaceRequest, DRAIN_SUBJECT,
    MAX_PLACE_REQUEST_BYTES, PLACE_SUBJECT,
};
pub use view::{
    FleetSummary, FleetView, NoFit, Placement, Policy, DEFAULT_HEARTBEAT_TIMEOUT,
    RESERVATION_HEARTBEATS,
};
