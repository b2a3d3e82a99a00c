//! Opening the fleet's KV buckets.

use async_nats::jetstream::{self, kv};

use crate::FleetError;

/// Opens the KV bucket `bucket`, creating it (file storage, `history`
/// values per key) if it is missing.
pub async fn open_bucket(
    js: &jetstream::Context,
    bucket: &str,
    description: &str,
    history: i64,
) -> Result<kv::Store, FleetError> {
    if let Ok(store) = js.get_key_value(bucket).await {
        return Ok(store);
    }
    // `create_key_value` first reads the account info, which a 2.9 server
    // answers in a form this client cannot read; create the bucket's stream
    // directly, laid out as a KV bucket.
    let created = js
        .create_stream(jetstream::stream::Config {
            name: format!("KV_{bucket}"),
            description: Some(description.to_owned()),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: history,
            storage: jetstream::stream::StorageType::File,
            discard: jetstream::stream::DiscardPolicy::New,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            num_replicas: 1,
            ..Default::default()
        })
        .await;
    // Another process may have created it meanwhile: open it either way.
    match js.get_key_value(bucket).await {
        Ok(store) => Ok(store),
        Err(open_err) => Err(match created {
            Err(e) => FleetError::nats(format!("cannot create the KV bucket {bucket}"), e),
            Ok(_) => FleetError::nats(format!("cannot open the KV bucket {bucket}"), open_err),
        }),
    }
}
