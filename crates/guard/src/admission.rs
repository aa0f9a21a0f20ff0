//! Call admission: calls per second, concurrent calls (global, per trunk, per peer) and
//! the maximum call duration.
//!
//! Counts cannot leak by construction: admitting returns a [`CallTicket`] that records
//! what was counted, the only way to uncount is to hand the ticket back, a ticket cannot
//! be copied, and a ticket that is never handed back is reclaimed once its call has
//! outlived the maximum duration plus a grace period.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::event::Reason;
use crate::rate::{Bucket, Rate};
use crate::source::{PeerId, TrunkId};

/// What a new call counts against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallScope {
    /// The trunk the call enters or leaves by, if any.
    pub trunk: Option<TrunkId>,
    /// The WireGuard peer on one end, if any.
    pub peer: Option<PeerId>,
}

/// Proof that a call was admitted. Hand it back with `release` when the call ends; end
/// the call at [`deadline`](Self::deadline) at the latest. Not `Clone`: one ticket, one
/// release. Only the guard that issued it can release it.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a call ticket must be released when the call ends"]
pub struct CallTicket {
    slot: u32,
    generation: u32,
    deadline: Instant,
    scope: CallScope,
}

impl CallTicket {
    /// When the call must be ended (admission time + maximum call duration).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// What the call was counted against.
    pub fn scope(&self) -> CallScope {
        self.scope
    }
}

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// More new calls per second than allowed, all sources together.
    #[error("new-call rate limit reached")]
    CallRate,
    /// The global concurrent-call limit is reached.
    #[error("{limit} concurrent calls in progress (global limit)")]
    GlobalConcurrency {
        /// The limit.
        limit: u32,
    },
    /// The trunk's concurrent-call limit is reached.
    #[error("{limit} concurrent calls in progress on trunk {trunk:?}")]
    TrunkConcurrency {
        /// The trunk.
        trunk: TrunkId,
        /// Its limit.
        limit: u32,
    },
    /// The peer's concurrent-dialog limit is reached.
    #[error("{limit} concurrent calls in progress for {peer}")]
    PeerConcurrency {
        /// The peer.
        peer: PeerId,
        /// Its limit.
        limit: u32,
    },
    /// The trunk index is not one of the configured trunks.
    #[error("trunk {trunk:?} is not configured")]
    UnknownTrunk {
        /// The index given.
        trunk: TrunkId,
    },
}

impl Rejection {
    /// The event reason for this rejection.
    pub fn reason(&self) -> Reason {
        match self {
            Self::CallRate => Reason::CallRate,
            Self::GlobalConcurrency { .. } => Reason::GlobalConcurrency,
            Self::TrunkConcurrency { .. } => Reason::TrunkConcurrency,
            Self::PeerConcurrency { .. } => Reason::PeerConcurrency,
            Self::UnknownTrunk { .. } => Reason::UnknownTrunk,
        }
    }

    /// The SIP status to answer the INVITE with: 503 for a temporary capacity limit,
    /// 403 for a trunk that does not exist.
    pub fn status(&self) -> u16 {
        match self {
            Self::UnknownTrunk { .. } => 403,
            _ => 503,
        }
    }

    pub(crate) fn limit(&self) -> Option<u32> {
        match *self {
            Self::GlobalConcurrency { limit }
            | Self::TrunkConcurrency { limit, .. }
            | Self::PeerConcurrency { limit, .. } => Some(limit),
            Self::CallRate | Self::UnknownTrunk { .. } => None,
        }
    }
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    live: Option<(CallScope, Instant)>,
}

/// The admission state.
#[derive(Debug)]
pub(crate) struct Admission {
    calls: Rate,
    /// Created full at the first call.
    cps: Option<Bucket>,
    max_global: u32,
    trunk_max: Vec<u32>,
    max_per_peer: u32,
    max_duration: Duration,
    grace: Duration,
    global: u32,
    per_trunk: Vec<u32>,
    /// Only peers with at least one call; bounded by `max_global`.
    per_peer: HashMap<PeerId, u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Admission {
    pub(crate) fn new(
        calls: Rate,
        max_global: u32,
        trunk_max: Vec<u32>,
        max_per_peer: u32,
        max_duration: Duration,
        grace: Duration,
    ) -> Self {
        let per_trunk = vec![0; trunk_max.len()];
        Self {
            calls,
            cps: None,
            max_global,
            trunk_max,
            max_per_peer,
            max_duration,
            grace,
            global: 0,
            per_trunk,
            per_peer: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    pub(crate) fn admit(
        &mut self,
        now: Instant,
        scope: CallScope,
    ) -> Result<CallTicket, Rejection> {
        // Limits that do not change state first, so a refused call consumes no rate token.
        if self.global >= self.max_global {
            return Err(Rejection::GlobalConcurrency {
                limit: self.max_global,
            });
        }
        if let Some(trunk) = scope.trunk {
            let (Some(&limit), Some(&n)) = (
                self.trunk_max.get(trunk.index()),
                self.per_trunk.get(trunk.index()),
            ) else {
                return Err(Rejection::UnknownTrunk { trunk });
            };
            if n >= limit {
                return Err(Rejection::TrunkConcurrency { trunk, limit });
            }
        }
        if let Some(peer) = scope.peer
            && self.per_peer.get(&peer).copied().unwrap_or(0) >= self.max_per_peer
        {
            return Err(Rejection::PeerConcurrency {
                peer,
                limit: self.max_per_peer,
            });
        }
        if !self
            .cps
            .get_or_insert_with(|| Bucket::full(now))
            .take(now, self.calls)
        {
            return Err(Rejection::CallRate);
        }
        self.global += 1;
        if let Some(trunk) = scope.trunk
            && let Some(n) = self.per_trunk.get_mut(trunk.index())
        {
            *n += 1;
        }
        if let Some(peer) = scope.peer {
            *self.per_peer.entry(peer).or_insert(0) += 1;
        }
        let deadline = now + self.max_duration;
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    live: None,
                });
                // ok: at most max_global (u32) slots are ever live, so the index fits.
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.live = Some((scope, deadline));
        Ok(CallTicket {
            slot,
            generation: s.generation,
            deadline,
            scope,
        })
    }

    /// Uncounts the ticket's call. Returns false if the ticket had already been reclaimed
    /// by [`expire`](Self::expire) (nothing is uncounted twice).
    pub(crate) fn release(&mut self, ticket: CallTicket) -> bool {
        let Some(s) = self.slots.get_mut(ticket.slot as usize) else {
            return false;
        };
        if s.generation != ticket.generation || s.live.is_none() {
            return false;
        }
        self.free_slot(ticket.slot);
        true
    }

    fn free_slot(&mut self, slot: u32) {
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let Some((scope, _)) = s.live.take() else {
            return;
        };
        s.generation = s.generation.wrapping_add(1);
        self.free.push(slot);
        self.global = self.global.saturating_sub(1);
        if let Some(trunk) = scope.trunk
            && let Some(n) = self.per_trunk.get_mut(trunk.index())
        {
            *n = n.saturating_sub(1);
        }
        if let Some(peer) = scope.peer
            && let Some(n) = self.per_peer.get_mut(&peer)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_peer.remove(&peer);
            }
        }
    }

    /// Reclaims tickets whose call outlived deadline + grace; returns their scopes.
    pub(crate) fn expire(&mut self, now: Instant, mut gone: impl FnMut(CallScope)) {
        for i in 0..self.slots.len() {
            if let Some((scope, deadline)) = self.slots[i].live
                && deadline + self.grace <= now
            {
                self.free_slot(i as u32); // ok: slot count fits u32, see admit
                gone(scope);
            }
        }
    }

    /// When the next unreleased ticket will be reclaimed.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| s.live.map(|(_, d)| d + self.grace))
            .min()
    }

    pub(crate) fn active(&self) -> u32 {
        self.global
    }

    pub(crate) fn active_on_trunk(&self, trunk: TrunkId) -> u32 {
        self.per_trunk.get(trunk.index()).copied().unwrap_or(0)
    }

    pub(crate) fn active_for_peer(&self, peer: PeerId) -> u32 {
        self.per_peer.get(&peer).copied().unwrap_or(0)
    }

    pub(crate) fn peers_with_calls(&self) -> usize {
        self.per_peer.len()
    }
}
