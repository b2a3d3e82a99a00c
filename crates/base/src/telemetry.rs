//! Logging set-up, called once by the binary (libraries only emit events).

use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber: human-readable lines on stderr,
/// level from `RUST_LOG` (default `info`). Safe to call twice; the second call
/// does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
