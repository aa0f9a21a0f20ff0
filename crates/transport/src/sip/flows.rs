//! The flow table: every open connection and every recent UDP source, by [`FlowId`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{Flow, FlowId, TcpKeepalive};

/// How a message for a flow leaves.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// Through the connection's writer task. The table holds the only long-lived
    /// sender, so removing the entry lets the writer drain its queue and close.
    Stream(mpsc::Sender<Vec<u8>>),
    /// As a datagram from a listener socket.
    Udp(Arc<UdpSocket>),
}

#[derive(Debug)]
struct Entry {
    flow: Flow,
    route: Route,
    /// UDP only: when the flow last carried a datagram (either way).
    last_seen: Instant,
    /// Streams only: the socket's keep-alive settings as read back when it opened.
    keepalive: Option<TcpKeepalive>,
}

/// Flows by id, and UDP flows by (listener, remote) so a source keeps its id.
#[derive(Debug, Default)]
pub(crate) struct FlowTable {
    next: u64,
    flows: HashMap<FlowId, Entry>,
    udp: HashMap<(usize, SocketAddr), FlowId>,
}

impl FlowTable {
    fn next_id(&mut self) -> FlowId {
        self.next += 1;
        FlowId(self.next)
    }

    /// Registers a stream; `make` builds the flow description from the fresh id.
    pub(crate) fn insert_stream(
        &mut self,
        make: impl FnOnce(FlowId) -> Flow,
        tx: mpsc::Sender<Vec<u8>>,
        keepalive: Option<TcpKeepalive>,
        now: Instant,
    ) -> Flow {
        let id = self.next_id();
        let flow = make(id);
        self.flows.insert(
            id,
            Entry {
                flow: flow.clone(),
                route: Route::Stream(tx),
                last_seen: now,
                keepalive,
            },
        );
        flow
    }

    /// The UDP flow of `remote` on listener `listener`, created if new; `None` when the
    /// table already holds `max` UDP flows.
    pub(crate) fn udp_flow(
        &mut self,
        listener: usize,
        socket: &Arc<UdpSocket>,
        make: impl FnOnce(FlowId) -> Flow,
        remote: SocketAddr,
        max: usize,
        now: Instant,
    ) -> Option<Flow> {
        if let Some(e) = self
            .udp
            .get(&(listener, remote))
            .and_then(|id| self.flows.get_mut(id))
        {
            e.last_seen = now;
            return Some(e.flow.clone());
        }
        if self.udp.len() >= max {
            return None;
        }
        let id = self.next_id();
        let flow = make(id);
        self.udp.insert((listener, remote), id);
        self.flows.insert(
            id,
            Entry {
                flow: flow.clone(),
                route: Route::Udp(socket.clone()),
                last_seen: now,
                keepalive: None,
            },
        );
        Some(flow)
    }

    /// Where to send a message for `id`, and the remote; marks UDP flows as used.
    pub(crate) fn route(&mut self, id: FlowId, now: Instant) -> Option<(Route, SocketAddr)> {
        let e = self.flows.get_mut(&id)?;
        e.last_seen = now;
        Some((e.route.clone(), e.flow.remote))
    }

    pub(crate) fn get(&self, id: FlowId) -> Option<Flow> {
        self.flows.get(&id).map(|e| e.flow.clone())
    }

    pub(crate) fn keepalive(&self, id: FlowId) -> Option<TcpKeepalive> {
        self.flows.get(&id).and_then(|e| e.keepalive)
    }

    pub(crate) fn contains(&self, id: FlowId) -> bool {
        self.flows.contains_key(&id)
    }

    pub(crate) fn all(&self) -> Vec<Flow> {
        let mut v: Vec<Flow> = self.flows.values().map(|e| e.flow.clone()).collect();
        v.sort_by_key(|f| f.id);
        v
    }

    /// Forgets a flow; true if it existed.
    pub(crate) fn remove(&mut self, id: FlowId) -> bool {
        let Some(e) = self.flows.remove(&id) else {
            return false;
        };
        if matches!(e.route, Route::Udp(_)) {
            self.udp.retain(|_, v| *v != id);
        }
        true
    }

    /// Forgets every flow (streams then drain and close).
    pub(crate) fn clear(&mut self) {
        self.flows.clear();
        self.udp.clear();
    }

    /// Forgets UDP flows unused for `idle`; returns how many.
    pub(crate) fn expire_udp(&mut self, now: Instant, idle: Duration) -> usize {
        let flows = &mut self.flows;
        let before = self.udp.len();
        self.udp.retain(|_, id| {
            let keep = flows
                .get(id)
                .is_some_and(|e| now.saturating_duration_since(e.last_seen) < idle);
            if !keep {
                flows.remove(id);
            }
            keep
        });
        before - self.udp.len()
    }
}
