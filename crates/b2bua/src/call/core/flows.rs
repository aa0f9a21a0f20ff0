//! Connections that closed under live dialogs, and re-pinning those dialogs to their
//! peer's new connection.
//!
//! Dialog source pinning ties a dialog to the TCP/TLS connection it was set up on. Real
//! providers recycle connections (TLS renegotiation by reconnecting, load balancers), and
//! a provider that connects to us sends its later requests — the BYE of a call set up on
//! the old connection, or the response to our request whose connection died (RFC 3261
//! §18.2.2) — on a new one. So, once the transport reports that a connection closed
//! ([`B2bua::flow_closed`]), the dialogs and client transactions pinned to it may move to
//! a new connection of the *same peer*: the same side (the trunk the transport admitted
//! it for, by allowlist and, where configured, by client certificate), the same source
//! IP (the port may change), the same transport. Never while the old connection is open,
//! so a second connection cannot take over a live one's dialogs; after the move the old
//! connection no longer matches. Tunnel peers need none of this: they are pinned by key.
//!
//! While no new connection has come, requests we must send on such a dialog go over the
//! trunk's own current connection (ours, to the configured host) if it runs the same
//! transport; otherwise they fail at once, and a relayed request that fails on a dialog
//! whose connection is gone ends the call on both legs.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use super::{B2bua, B2buaEvent};
use crate::call::state::{CallState, Leg};
use crate::{CallHandle, Flow, FlowId, Outside, Side};

/// How many closed flow ids are remembered beyond those still referenced (so a message
/// that was read before its connection closed cannot make a dead flow a dialog's new home).
const RECENTLY_CLOSED: usize = 4096;

/// Closed flows the core still cares about.
#[derive(Debug, Default)]
pub(super) struct ClosedFlows {
    /// Closed flows that a dialog or a client transaction is still pinned to, with the
    /// side they were pinned for: what a new connection of that peer may replace.
    orphaned: HashMap<FlowId, (Side, Flow)>,
    /// The last [`RECENTLY_CLOSED`] closed flow ids, oldest first in `order`.
    recent: HashSet<FlowId>,
    order: VecDeque<FlowId>,
}

impl ClosedFlows {
    /// Whether the transport reported `id` closed (and it is still remembered).
    pub(super) fn is_closed(&self, id: FlowId) -> bool {
        self.orphaned.contains_key(&id) || self.recent.contains(&id)
    }

    /// Remembers `id` as closed; false if it already was.
    fn remember(&mut self, id: FlowId) -> bool {
        if !self.recent.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > RECENTLY_CLOSED
            && let Some(old) = self.order.pop_front()
        {
            self.recent.remove(&old);
        }
        true
    }

    /// Closed flows still referenced (for tests and the leak checks).
    pub(super) fn orphaned(&self) -> usize {
        self.orphaned.len()
    }
}

/// Whether `new`, arriving from `side`, may replace the closed flow `old` pinned for
/// `old_side`: same side (never a tunnel peer: those are pinned by key), same transport
/// (reliable), same source IP, another connection.
fn may_replace(old_side: Side, old: &Flow, side: Side, new: &Flow) -> bool {
    !matches!(side, Side::Outside(Outside::Peer(_)))
        && side == old_side
        && new.is_reliable()
        && new.transport == old.transport
        && new.id != old.id
        && new.remote.ip().to_canonical() == old.remote.ip().to_canonical()
}

impl B2bua {
    /// The transport closed connection `flow` (TCP/TLS: the peer closed it, it failed,
    /// idled out, or we closed it). Dialogs and client transactions pinned to it wait for
    /// their peer's next connection ([`Self::flow_opened`], or its first message on one):
    /// the same side, from the same IP, over the same transport. Until then, requests on
    /// them go over the trunk's own connection when it runs the same transport, and fail
    /// otherwise. Call it on every worker (each has its own calls); calling it twice, or
    /// for a flow nothing uses, does nothing. Drain [`Self::poll_event`] after.
    pub fn flow_closed(&mut self, now: Instant, flow: FlowId) {
        if !self.closed.remember(flow) {
            return;
        }
        // One pass over dialogs and pins: which closed flows are still referenced (the
        // others are forgotten, so the table stays as small as the dialogs it serves),
        // and how many calls just lost their connection.
        let mut referenced: HashMap<FlowId, (Side, Flow)> = HashMap::new();
        let mut lost: Option<(Side, Flow)> = None;
        let mut calls = 0;
        let orphaned = &self.closed.orphaned;
        let eligible = |side: Side, f: &Flow| {
            f.is_reliable() && !matches!(side, Side::Outside(Outside::Peer(_)))
        };
        for call in self.calls.values() {
            for d in call.legs.iter().filter(|d| eligible(d.side, &d.flow)) {
                if d.flow.id == flow {
                    calls += 1;
                    lost = Some((d.side, d.flow));
                }
                if d.flow.id == flow || orphaned.contains_key(&d.flow.id) {
                    referenced.entry(d.flow.id).or_insert((d.side, d.flow));
                }
            }
        }
        for p in self.pins.values().filter(|p| eligible(p.side, &p.flow)) {
            if p.flow.id == flow || orphaned.contains_key(&p.flow.id) {
                referenced.entry(p.flow.id).or_insert((p.side, p.flow));
            }
        }
        self.closed.orphaned = referenced;
        if let Some((side, flow)) = lost {
            self.events
                .push_back(B2buaEvent::ConnectionLost { side, flow, calls });
        }
        self.drain(now, None);
    }

    /// The transport accepted a new connection `flow` from `side` (as it vouches: the
    /// trunk's allowlist, its client certificate where it demands one). Dialogs and client
    /// transactions of a closed connection of the same peer — same side, same source IP,
    /// same transport — move to it; each moved call is reported as
    /// [`B2buaEvent::DialogRepinned`]. A connection still open is never replaced. The
    /// first message on a new connection does the same, so this only matters for calls
    /// whose own messages have not come over it yet (on the other workers, say).
    pub fn flow_opened(&mut self, now: Instant, flow: Flow, side: Side) {
        self.adopt(flow, side);
        self.drain(now, None);
    }

    /// Re-pins what a closed connection of the same peer left behind onto `flow`.
    pub(super) fn adopt(&mut self, flow: Flow, side: Side) {
        if self.closed.orphaned.is_empty() || !flow.is_reliable() || self.closed.is_closed(flow.id)
        {
            return;
        }
        let olds: Vec<Flow> = self
            .closed
            .orphaned
            .values()
            .filter(|(s, old)| may_replace(*s, old, side, &flow))
            .map(|(_, old)| *old)
            .collect();
        for old in olds {
            let calls = self.move_flow(side, old, flow);
            for call in calls {
                self.counters.dialogs_repinned += 1;
                self.events.push_back(B2buaEvent::DialogRepinned {
                    call,
                    side,
                    old,
                    new: flow,
                });
            }
        }
    }

    /// Points every dialog and client transaction of `side` pinned to `old` (same id and
    /// remote) at `new`, and the transactions sending on `old` too; `old` is no longer
    /// waiting for a new connection. Returns the calls whose dialogs moved, in handle
    /// order.
    pub(super) fn move_flow(&mut self, side: Side, old: Flow, new: Flow) -> Vec<CallHandle> {
        let same = |f: &Flow| f.id == old.id && f.remote == old.remote;
        let mut calls = Vec::new();
        for (handle, call) in &mut self.calls {
            let mut moved = false;
            for d in call
                .legs
                .iter_mut()
                .filter(|d| d.side == side && same(&d.flow))
            {
                d.flow = new;
                moved = true;
            }
            if moved {
                calls.push(*handle);
            }
        }
        for p in self
            .pins
            .values_mut()
            .filter(|p| p.side == side && same(&p.flow))
        {
            p.flow = new;
        }
        self.layer.move_flow(old, new);
        // Nothing is pinned to `old` any more: a later connection has nothing to take.
        self.closed.orphaned.remove(&old.id);
        calls.sort_unstable();
        calls
    }

    /// Where a request for a peer pinned to `flow` on `side` goes: `flow` itself while it
    /// is open; once closed (and not re-pinned), the trunk's own current connection if it
    /// runs the same transport and is open (the provider's configured host: as much the
    /// trunk as the connection that closed); else `flow`, which fails.
    pub(super) fn path(&self, side: Side, flow: Flow) -> Flow {
        if !self.closed.is_closed(flow.id) {
            return flow;
        }
        if let Side::Outside(Outside::Trunk(i)) = side
            && let Some(t) = self.config.trunks.get(i)
            && t.flow.transport == flow.transport
            && !self.closed.is_closed(t.flow.id)
        {
            return t.flow;
        }
        flow
    }

    /// A request relayed onto `leg` of `handle` failed (timeout, transport error). If that
    /// leg's connection is gone and no new one took its place, the dialog cannot be
    /// reached (RFC 3261 §12.2.1.2: a 408 ends the dialog): hang up the call on both legs.
    /// Not when the connection was our own to the trunk: the runtime reconnects it and
    /// [`Self::set_trunk_flow`] moves the dialog, so only the one request failed.
    pub(super) fn relay_failed(&mut self, now: Instant, handle: CallHandle, leg: Leg) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let flow = call.leg(leg).flow;
        let ours = self.config.trunks.iter().any(|t| t.flow.id == flow.id);
        if call.state != CallState::Confirmed || !self.closed.is_closed(flow.id) || ours {
            return;
        }
        call.await_ack = None;
        self.send_bye(now, handle, leg.other());
        self.send_bye(now, handle, leg);
        self.end_call(handle, 200);
    }

    /// Closed flows still referenced by a dialog or client transaction.
    pub fn closed_flows_pinned(&self) -> usize {
        self.closed.orphaned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransportKind;

    fn f(id: u64, remote: &str, t: TransportKind) -> Flow {
        Flow::new(id, remote.parse().unwrap(), t)
    }

    #[test]
    fn only_a_new_connection_of_the_same_side_ip_and_transport_may_replace() {
        let old = f(1, "198.51.100.7:40001", TransportKind::Tls);
        let t0 = Side::trunk(0);
        let ok = f(2, "198.51.100.7:40002", TransportKind::Tls);
        assert!(may_replace(t0, &old, t0, &ok));
        // IPv4-mapped form of the same address (a dual-stack listener).
        let mapped = f(3, "[::ffff:198.51.100.7]:40003", TransportKind::Tls);
        assert!(may_replace(t0, &old, t0, &mapped));
        assert!(!may_replace(t0, &old, Side::trunk(1), &ok), "other trunk");
        assert!(!may_replace(t0, &old, Side::Pbx, &ok), "other side");
        let other_ip = f(4, "198.51.100.8:40001", TransportKind::Tls);
        assert!(!may_replace(t0, &old, t0, &other_ip), "other IP");
        let tcp = f(5, "198.51.100.7:40005", TransportKind::Tcp);
        assert!(!may_replace(t0, &old, t0, &tcp), "other transport");
        let udp_old = f(6, "198.51.100.7:5060", TransportKind::Udp);
        let udp_new = f(7, "198.51.100.7:5060", TransportKind::Udp);
        assert!(
            !may_replace(t0, &udp_old, t0, &udp_new),
            "UDP has no connection"
        );
        assert!(!may_replace(t0, &old, t0, &old), "itself");
        let peer = Side::Outside(Outside::Peer(crate::PeerId(1)));
        assert!(
            !may_replace(peer, &old, peer, &ok),
            "tunnel peers are pinned by key"
        );
    }

    #[test]
    fn the_recently_closed_list_is_bounded() {
        let mut c = ClosedFlows::default();
        for i in 0..(RECENTLY_CLOSED as u64 + 10) {
            assert!(c.remember(FlowId(i)));
        }
        assert!(!c.remember(FlowId(RECENTLY_CLOSED as u64 + 9)));
        assert_eq!(c.recent.len(), RECENTLY_CLOSED);
        assert!(!c.is_closed(FlowId(0)));
        assert!(c.is_closed(FlowId(RECENTLY_CLOSED as u64 + 9)));
    }
}
