//! Sizes of the core's internal tables, for the `calls` fuzz target's leak and growth
//! checks (see `crate::fuzzing`). Read-only; not an API.

use super::{B2bua, TxCtx};

/// How many entries each internal table of a [`B2bua`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Audit {
    /// Calls (any state).
    pub(crate) calls: usize,
    /// Dialog index entries.
    pub(crate) dialogs: usize,
    /// Live transactions in the layer.
    pub(crate) transactions: usize,
    /// Transaction contexts of ours.
    pub(crate) contexts: usize,
    /// Contexts of trunk maintenance (keep-alive, REGISTER).
    pub(crate) maintenance: usize,
    /// Response source pins, by branch.
    pub(crate) pins: usize,
    /// Transaction → branch index of the pins.
    pub(crate) pin_of: usize,
    /// Call timer heap entries (live or stale).
    pub(crate) call_timers: usize,
    /// Closed flows still referenced by a dialog or transaction.
    pub(crate) orphaned_flows: usize,
    /// Queued events.
    pub(crate) events: usize,
}

impl B2bua {
    /// The sizes of the internal tables right now.
    pub(crate) fn audit(&self) -> Audit {
        Audit {
            calls: self.calls.len(),
            dialogs: self.dialogs.len(),
            transactions: self.layer.len(),
            contexts: self.txs.len(),
            maintenance: self
                .txs
                .values()
                .filter(|c| matches!(c, TxCtx::KeepAlive { .. } | TxCtx::Register { .. }))
                .count(),
            pins: self.pins.len(),
            pin_of: self.pin_of.len(),
            call_timers: self.timers.len(),
            orphaned_flows: self.closed.orphaned(),
            events: self.events.len(),
        }
    }
}
