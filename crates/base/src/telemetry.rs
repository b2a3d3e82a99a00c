//! Logging set-up, called once by the binary (libraries only emit events).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber: human-readable lines on stderr,
/// level from `RUST_LOG` (default `info`), coloured only on a terminal (a
/// file, journald or `docker logs` gets plain text, which `grep` reads).
/// Safe to call twice; the second call does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
