//! The budget of connections that have not finished the RTMP handshake.
//!
//! An idle socket costs an attacker nothing, so unfinished handshakes never
//! take the slots of publishers (those count only once the handshake is
//! done). They have a budget of their own, in total and per address, and
//! when a new connection finds it spent, the oldest unfinished handshake
//! (from the address holding the most, when the per-address budget is not
//! what is spent) is closed to make room, as kernels treat half-open TCP
//! connections under a SYN flood. A real publisher finishes its handshake
//! within a round trip, so a flood of idle sockets, however large, keeps
//! evicting only itself.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Unfinished handshakes, shared by the accept loop and the connections.
#[derive(Debug)]
pub(crate) struct Handshakes {
    limits: (usize, usize),
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// By admission order (oldest first): the address and who to tell to close.
    pending: BTreeMap<u64, (IpAddr, oneshot::Sender<()>)>,
    per_address: HashMap<IpAddr, usize>,
}

impl State {
    fn remove(&mut self, id: u64) -> Option<oneshot::Sender<()>> {
        let (ip, evict) = self.pending.remove(&id)?;
        if let Some(n) = self.per_address.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&ip);
            }
        }
        Some(evict)
    }

    fn oldest_of(&self, ip: IpAddr) -> Option<u64> {
        self.pending
            .iter()
            .find(|(_, (a, _))| *a == ip)
            .map(|(id, _)| *id)
    }
}

/// A connection's place in the budget; leaves it when dropped or completed.
#[derive(Debug)]
pub(crate) struct Ticket {
    handshakes: Arc<Handshakes>,
    id: u64,
}

impl Ticket {
    /// The handshake is done: the connection leaves the budget.
    pub(crate) fn complete(self) {}
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.handshakes.lock().remove(self.id);
    }
}

impl Handshakes {
    /// `total` unfinished handshakes at once, `per_address` from one address.
    pub(crate) fn new(total: usize, per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            limits: (total.max(1), per_address.max(1)),
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new connection from `ip`, closing older unfinished
    /// handshakes where the budget is spent. Returns its ticket, the signal
    /// that tells it to close, and how many were evicted for it.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> (Ticket, oneshot::Receiver<()>, usize) {
        let (total, per_address) = self.limits;
        let mut state = self.lock();
        let mut evicted = 0;
        while state.per_address.get(&ip).copied().unwrap_or(0) >= per_address {
            let Some(id) = state.oldest_of(ip) else { break };
            if let Some(tx) = state.remove(id) {
                let _ = tx.send(());
                evicted += 1;
            }
        }
        while state.pending.len() >= total {
            // The oldest handshake of the address that holds the most.
            let Some((&busiest, _)) = state.per_address.iter().max_by_key(|(_, n)| **n) else {
                break;
            };
            let Some(id) = state.oldest_of(busiest) else {
                break;
            };
            if let Some(tx) = state.remove(id) {
                let _ = tx.send(());
                evicted += 1;
            }
        }
        let id = state.next_id;
        state.next_id += 1;
        let (tx, rx) = oneshot::channel();
        state.pending.insert(id, (ip, tx));
        *state.per_address.entry(ip).or_default() += 1;
        drop(state);
        (
            Ticket {
                handshakes: self.clone(),
                id,
            },
            rx,
            evicted,
        )
    }

    /// Unfinished handshakes now.
    pub(crate) fn pending(&self) -> usize {
        self.lock().pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_spent_budget_evicts_the_oldest_of_the_busiest_address() {
        let h = Handshakes::new(4, 3);
        let mut a: Vec<_> = (0..3).map(|_| h.admit(ip(1))).collect();
        let (_b, mut b_rx, evicted) = h.admit(ip(2));
        assert_eq!(evicted, 0);
        assert_eq!(h.pending(), 4);
        // Total spent: the oldest of address 1 (which holds three) goes.
        let (_c, _c_rx, evicted) = h.admit(ip(3));
        assert_eq!(evicted, 1);
        assert!(a[0].1.try_recv().is_ok(), "oldest of the busiest evicted");
        assert!(a[1].1.try_recv().is_err());
        assert!(
            b_rx.try_recv().is_err(),
            "the lone address keeps its handshake"
        );
        assert_eq!(h.pending(), 4);
        // Per address spent: the address's own oldest goes.
        let (_d, _d_rx, evicted) = h.admit(ip(1));
        assert_eq!(evicted, 1);
        assert!(a[1].1.try_recv().is_ok());
        // Completing or dropping leaves the budget.
        let (t, _) = (a.pop().unwrap().0, ());
        t.complete();
        assert_eq!(h.pending(), 3);
    }
}
