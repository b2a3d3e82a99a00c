//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

/// Logs to the test output when RUST_LOG is set.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Guards against a hang; never a timing assertion.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(20), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing after 20 s"),
    }
}
