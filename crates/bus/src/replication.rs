//! How many copies of each bucket and stream the NATS cluster keeps, and the
//! one place that creates them.
//!
//! Every JetStream stream livefleet uses (the KV buckets are streams too)
//! goes through [`ensure_stream`]:
//!
//! - a missing stream is created with the configured replicas, or
//!   automatically 3 when the server is part of a cluster and 1 on a single
//!   server (the embedded default). A cluster too small for 3 gets 1, with a
//!   warning; a number set by hand is never lowered that way (the create
//!   fails and says why);
//! - an existing stream with fewer replicas than wanted is raised to them
//!   (JetStream copies the data to the new peers); one with more is left as
//!   it is and a warning says so: replicas are never lowered silently;
//! - placement tags, when configured, pin new streams to servers that carry
//!   all of them.
//!
//! The binary sets the [`Replication`] once, before anything is opened
//! ([`configure_replication`]); without it every stream is automatic.

use std::sync::OnceLock;

use async_nats::jetstream::context::{GetStreamError, GetStreamErrorKind};
use async_nats::jetstream::{self, stream, ErrorCode};

/// Replicas and placement of livefleet's streams and buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replication {
    /// Replicas of the state buckets (channel registry, profiles,
    /// assignments, leader lease, broadcast state, node states). `None`:
    /// automatic (3 in a cluster, 1 on a single server).
    pub state: Option<usize>,
    /// Replicas of the media stream. `None`: automatic, as `state`.
    /// See `docs/design/media-across-node-loss.md` for the trade.
    pub media: Option<usize>,
    /// Placement tags: new streams go to servers that carry all of them.
    pub tags: Vec<String>,
}

/// Which kind of stream is being opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// A state bucket.
    State,
    /// The media stream.
    Media,
}

static CONFIGURED: OnceLock<Replication> = OnceLock::new();

/// How long a stream on a cluster is asked for, or a replicated one is
/// retried, while the cluster forms or elects the stream's leader.
const FORMING: std::time::Duration = std::time::Duration::from_secs(20);

/// Sets the replication of every stream this process opens from now on.
/// Once per process; a second call is refused with the value given.
pub fn configure_replication(replication: Replication) -> Result<(), Replication> {
    CONFIGURED.set(replication)
}

fn configured() -> Replication {
    CONFIGURED.get().cloned().unwrap_or_default()
}

/// The replicas wanted for `kind`, and whether they were chosen automatically.
fn wanted(js: &jetstream::Context, kind: StreamKind) -> (usize, bool) {
    let set = match kind {
        StreamKind::State => configured().state,
        StreamKind::Media => configured().media,
    };
    let info = js.client().server_info();
    match set {
        Some(n) => (n.clamp(1, 5), false),
        // `connect_urls` lists the client URLs of the cluster's servers (this one included).
        None if info.cluster.is_some() => match info.connect_urls.len() {
            0 | 3.. => (3, true),
            n => (n, true),
        },
        None => (1, true),
    }
}

/// Why a stream could not be made ready.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct StreamError {
    what: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StreamError {
    fn new(what: String, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            what,
            source: Box::new(source),
        }
    }
}

/// What [`ensure_stream`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The stream was there (its replicas raised when fewer than wanted).
    Found,
    /// The bus said it had no such stream, and it was created.
    Created,
}

/// Creates the stream `config` describes (its `num_replicas` and
/// `placement` are set here), or brings an existing one up to the wanted
/// replicas. See the module docs.
///
/// A stream is created only when the bus says it has none. Any other
/// answer (a stream without a leader, a cluster electing or forming, no
/// answer at all) says nothing about the stream: on a cluster it is asked
/// again for [`FORMING`], then reported as not answering. Taking such a
/// stream for a missing one had every publisher say "the media stream is
/// gone … creating it again" once a second while a stream had no leader.
///
/// The stream is handed to [`crate::upkeep`] once it is there, not before:
/// a check running while it is being made would take it for one the bus
/// lost (and say so), and one the server refused would be made behind the
/// caller's back, who was told it failed.
pub async fn ensure_stream(
    js: &jetstream::Context,
    config: stream::Config,
    kind: StreamKind,
) -> Result<Ensured, StreamError> {
    let asked = config.clone();
    let ensured = ensure(js, config, kind).await?;
    crate::upkeep::remember(&asked, kind);
    Ok(ensured)
}

/// Whether `error` is the bus saying it has no such stream (and not a
/// stream that does not answer).
pub(crate) fn stream_not_found(error: &GetStreamError) -> bool {
    matches!(error.kind(), GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

/// The stream `name`, or `None` when the bus says it has none.
async fn find(js: &jetstream::Context, name: &str) -> Result<Option<stream::Stream>, StreamError> {
    let clustered = js.client().server_info().cluster.is_some();
    let deadline = tokio::time::Instant::now() + FORMING;
    loop {
        match js.get_stream(name).await {
            Ok(stream) => return Ok(Some(stream)),
            Err(e) if stream_not_found(&e) => return Ok(None),
            Err(e) if !clustered || tokio::time::Instant::now() >= deadline => {
                return Err(StreamError::new(
                    format!("stream {name} does not answer (it has no leader, or the bus cannot be reached); it was not created again"),
                    e,
                ));
            }
            Err(e) => {
                tracing::debug!(stream = %name, error = %e, "the stream does not answer yet (a leader being elected?); asking again");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    }
}

async fn ensure(
    js: &jetstream::Context,
    mut config: stream::Config,
    kind: StreamKind,
) -> Result<Ensured, StreamError> {
    let (replicas, automatic) = wanted(js, kind);
    let name = config.name.clone();
    if let Some(mut existing) = find(js, &name).await? {
        let info = existing
            .info()
            .await
            .map_err(|e| StreamError::new(format!("cannot read stream {name}"), e))?;
        let have = info.config.num_replicas.max(1);
        if have < replicas && !(automatic && cluster_too_small(js, replicas)) {
            let mut raised = info.config.clone();
            raised.num_replicas = replicas;
            match js.update_stream(raised).await {
                Ok(_) => {
                    tracing::info!(stream = %name, from = have, to = replicas, "stream replicas raised")
                }
                Err(e) => {
                    tracing::warn!(stream = %name, have, wanted = replicas, error = %e, "cannot raise the stream's replicas; it keeps {have}")
                }
            }
        } else if have > replicas && !automatic {
            tracing::warn!(stream = %name, have, wanted = replicas, "stream keeps its {have} replicas: they are never lowered automatically (update the stream by hand to lower them)");
        }
        return Ok(Ensured::Found);
    }
    config.num_replicas = replicas;
    let tags = configured().tags;
    if !tags.is_empty() {
        config.placement = Some(stream::Placement {
            cluster: None,
            tags,
        });
    }
    // A cluster that is still forming (its servers joining the JetStream
    // group) refuses replicated streams for a few seconds: try again a while.
    let deadline = tokio::time::Instant::now() + FORMING;
    let error = loop {
        match js.create_stream(config.clone()).await {
            Ok(_) => {
                tracing::debug!(stream = %name, replicas, "stream created");
                if replicas > 1 {
                    wait_for_leader(js, &name).await;
                }
                return Ok(Ensured::Created);
            }
            // Another process may have created it meanwhile.
            Err(_) if js.get_stream(&name).await.is_ok() => return Ok(Ensured::Found),
            Err(e) if replicas == 1 || tokio::time::Instant::now() >= deadline => break e,
            Err(e) => {
                tracing::debug!(stream = %name, replicas, error = %e, "cannot create the stream yet; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    };
    if automatic && replicas > 1 {
        tracing::warn!(stream = %name, replicas, error = %error, "cannot create the stream with {replicas} replicas (a cluster of fewer JetStream servers?); creating it with 1");
        config.num_replicas = 1;
        match js.create_stream(config).await {
            Ok(_) => return Ok(Ensured::Created),
            Err(e) if js.get_stream(&name).await.is_ok() => {
                tracing::debug!(stream = %name, error = %e, "created by another process");
                return Ok(Ensured::Found);
            }
            Err(e) => {
                return Err(StreamError::new(format!("cannot create stream {name}"), e));
            }
        }
    }
    Err(StreamError::new(
        format!("cannot create stream {name} with {replicas} replicas"),
        error,
    ))
}

/// Waits (a few seconds at most) until a new replicated stream has elected
/// its leader, so that the first reads and writes do not time out on it.
async fn wait_for_leader(js: &jetstream::Context, name: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if let Ok(mut stream) = js.get_stream(name).await {
            if let Ok(info) = stream.info().await {
                if info.cluster.as_ref().is_some_and(|c| c.leader.is_some()) {
                    return;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tracing::warn!(stream = %name, "the new stream has no leader yet; going on");
}

/// Whether the cluster the client sees has fewer servers than `replicas`.
fn cluster_too_small(js: &jetstream::Context, replicas: usize) -> bool {
    let info = js.client().server_info();
    // `connect_urls` lists the client URLs of the cluster's servers.
    !info.connect_urls.is_empty() && info.connect_urls.len() < replicas
}

/// A KV bucket's stream, laid out as `async-nats` expects a bucket.
///
/// `create_key_value` first reads the account info, which a 2.9 server
/// answers in a form this client cannot read; the bucket's stream is made
/// directly instead.
pub fn kv_stream_config(bucket: &str, description: &str, history: i64) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.to_owned()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: history,
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        // Reads go to the stream leader: a compare-and-set decision (epochs,
        // the lease) must never be taken on a follower's older copy, and a
        // 2.9 cluster's followers were seen leaving direct gets unanswered
        // right after a bucket was created.
        allow_direct: false,
        ..Default::default()
    }
}

/// Opens the KV bucket `bucket`, creating it (file storage, `history` values
/// per key, replicated as [`StreamKind::State`]) if it is missing.
pub async fn open_kv_bucket(
    js: &jetstream::Context,
    bucket: &str,
    description: &str,
    history: i64,
) -> Result<jetstream::kv::Store, StreamError> {
    ensure_stream(
        js,
        kv_stream_config(bucket, description, history),
        StreamKind::State,
    )
    .await?;
    js.get_key_value(bucket)
        .await
        .map_err(|e| StreamError::new(format!("cannot open the KV bucket {bucket}"), e))
}
