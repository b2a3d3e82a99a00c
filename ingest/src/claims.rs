//! Which connection publishes each channel, and when a new one may take
//! over.
//!
//! A channel has one publisher. A second one with the right key is refused
//! while the first is sending, so a stolen key or a second encoder left
//! running cannot fight the first. But a network that drops a connection
//! without closing it (a mobile uplink, a Wi-Fi hand-over) leaves a claim
//! held by a connection that will never send again, until the idle timeout
//! closes it, while the encoder (OBS reconnects after 2 s by default)
//! is refused again and again. So a claim whose connection has sent no
//! media for `takeover_after` is given up for the new publisher: the
//! stalled connection is told to end, ends its publish (its End reaches the
//! bus before anything of the new one) and lets the claim go; then the new
//! connection takes it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livefleet_base::ChannelName;
use tokio::sync::Notify;
use tokio::time::Instant;

/// A running publish's hold on its channel.
#[derive(Debug)]
pub(crate) struct Claim {
    epoch: Instant,
    /// Milliseconds after `epoch` when media last came.
    heard_ms: AtomicU64,
    /// Tells the holding connection to end: a new publisher takes over.
    replaced: Notify,
}

impl Claim {
    /// Media came from the publisher just now.
    pub fn heard(&self) {
        self.heard_ms.store(ms_since(self.epoch), Ordering::Relaxed);
    }

    /// How long the publisher has sent nothing.
    fn silent(&self) -> Duration {
        let heard = self.heard_ms.load(Ordering::Relaxed);
        Duration::from_millis(ms_since(self.epoch).saturating_sub(heard))
    }

    /// Returns once a new publisher took the channel over (cancel-safe).
    pub async fn replaced(&self) {
        self.replaced.notified().await;
    }
}

/// The channels being published, each held by one connection.
#[derive(Debug)]
pub(crate) struct Claims {
    epoch: Instant,
    held: Mutex<HashMap<ChannelName, Arc<Claim>>>,
    /// Fires whenever a claim is let go.
    released: Notify,
}

/// Why a channel could not be claimed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Busy {
    /// Its publisher sent media within `takeover_after`.
    Sending,
    /// Its publisher was silent and told to end, but had not let the
    /// channel go within the wait.
    NotReleased,
}

/// A claim taken, and how long the connection it replaced had been silent.
pub(crate) struct Taken {
    pub claim: Arc<Claim>,
    pub replaced_after: Option<Duration>,
}

impl Claims {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            held: Mutex::new(HashMap::new()),
            released: Notify::new(),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<ChannelName, Arc<Claim>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims `channel` for a new publish. A channel held by a connection
    /// that sent media within `takeover_after` stays with it; one silent
    /// for longer is told to end, and taken once it let go (waiting up to
    /// `wait` for that).
    pub async fn claim(
        &self,
        channel: &ChannelName,
        takeover_after: Duration,
        wait: Duration,
    ) -> Result<Taken, Busy> {
        let deadline = Instant::now() + wait;
        let mut replaced_after = None;
        loop {
            // Registered before the map is read, so a release in between is not missed.
            let released = self.released.notified();
            {
                let mut held = self.held();
                match held.get(channel) {
                    None => {
                        let claim = Arc::new(Claim {
                            epoch: self.epoch,
                            heard_ms: AtomicU64::new(ms_since(self.epoch)),
                            replaced: Notify::new(),
                        });
                        held.insert(channel.clone(), claim.clone());
                        return Ok(Taken {
                            claim,
                            replaced_after,
                        });
                    }
                    Some(current) if replaced_after.is_none() => {
                        let silent = current.silent();
                        if silent < takeover_after {
                            return Err(Busy::Sending);
                        }
                        current.replaced.notify_one();
                        replaced_after = Some(silent);
                    }
                    Some(_) => {}
                }
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return Err(Busy::NotReleased);
            }
        }
    }

    /// Lets `channel` go, if `claim` still holds it.
    pub fn release(&self, channel: &ChannelName, claim: &Arc<Claim>) {
        let mut held = self.held();
        if held.get(channel).is_some_and(|c| Arc::ptr_eq(c, claim)) {
            held.remove(channel);
        }
        drop(held);
        self.released.notify_waiters();
    }
}

fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show() -> ChannelName {
        ChannelName::new("show").unwrap()
    }

    /// A claim on `show`, taken over after 3 s of silence, waiting 2 s for that.
    async fn claim(claims: &Claims) -> Result<Taken, Busy> {
        claims
            .claim(&show(), Duration::from_secs(3), Duration::from_secs(2))
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_sending_publisher_keeps_its_channel() {
        let claims = Claims::new();
        let first = claim(&claims).await.unwrap();
        assert!(first.replaced_after.is_none());
        tokio::time::sleep(Duration::from_secs(2)).await;
        first.claim.heard();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let second = claim(&claims).await;
        assert_eq!(second.err(), Some(Busy::Sending));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_publisher_is_told_to_end_and_replaced_once_it_let_go() {
        let claims = Arc::new(Claims::new());
        let first = claim(&claims).await.unwrap().claim;
        // The first connection: ends when told, letting go a little later.
        let holder = {
            let (claims, first) = (claims.clone(), first.clone());
            tokio::spawn(async move {
                first.replaced().await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                claims.release(&show(), &first);
            })
        };
        tokio::time::sleep(Duration::from_secs(4)).await;
        let second = claim(&claims).await.unwrap();
        holder.await.unwrap();
        assert_eq!(second.replaced_after, Some(Duration::from_secs(4)));
        assert!(!Arc::ptr_eq(&second.claim, &first));
        // The old connection letting go again does not free the new claim.
        claims.release(&show(), &first);
        let third = claim(&claims).await;
        assert_eq!(third.err(), Some(Busy::Sending));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_publisher_that_does_not_let_go_keeps_the_channel() {
        let claims = Claims::new();
        let _first = claim(&claims).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let second = claim(&claims).await;
        assert_eq!(second.err(), Some(Busy::NotReleased));
    }
}
