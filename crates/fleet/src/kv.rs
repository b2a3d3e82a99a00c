//! Opening the fleet's KV buckets.

use async_nats::jetstream::{self, kv};

use crate::FleetError;

/// Opens the KV bucket `bucket`, creating it (file storage, `history`
/// values per key, replicated as a state bucket) if it is missing.
pub async fn open_bucket(
    js: &jetstream::Context,
    bucket: &str,
    description: &str,
    history: i64,
) -> Result<kv::Store, FleetError> {
    livefleet_bus::open_kv_bucket(js, bucket, description, history)
        .await
        .map_err(|e| FleetError::nats(format!("cannot open the KV bucket {bucket}"), e))
}
