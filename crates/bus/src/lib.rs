//! The NATS layer of livefleet.
