//! [`TransactionLayer`]: every transaction of one B2BUA instance, keyed, timed and driven.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{Hash as _, Hasher as _};
use std::time::Instant;

use rsip::{Method, Request, Response, SipMessage};

use crate::error::{MessageError, SendError};
use crate::event::{Incoming, Transmit, TuEvent};
use crate::id_hash::IdMap;
use crate::key::{self, ClientKey, ServerKey};
use crate::machine::{
    Ctx, Effect, Fx, InviteClient, InviteServer, NonInviteClient, NonInviteServer,
    TransactionState, Up, Wire, code,
};
use crate::{Flow, TimerKind, Timers};

/// Identifies one transaction for its whole life; never reused by a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub(crate) u64);

impl TransactionId {
    /// The raw number (for logs).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Which of the four §17 machines a transaction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionKind {
    /// §17.1.1, Figure 5.
    InviteClient,
    /// §17.1.2, Figure 6.
    NonInviteClient,
    /// §17.2.1, Figure 7.
    InviteServer,
    /// §17.2.2, Figure 8.
    NonInviteServer,
}

/// Settings of a [`TransactionLayer`]: `Default` + setters.
#[derive(Debug, Clone)]
pub struct Config {
    timers: Timers,
    max_transactions: usize,
    branch_secret: u64,
    shard: crate::Shard,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            timers: Timers::default(),
            max_transactions: 10_000,
            branch_secret: 0,
            shard: crate::Shard::default(),
        }
    }
}

impl Config {
    /// T1/T2/T4 and the 100 Trying delay (default: RFC 3261 values).
    pub fn set_timers(&mut self, timers: Timers) -> &mut Self {
        self.timers = timers;
        self
    }
    /// Cap on live transactions, client and server together (default 10 000). At the cap,
    /// new requests are refused ([`Incoming::Overloaded`], [`SendError::Overloaded`]);
    /// messages for existing transactions still flow. At least 1.
    pub fn set_max_transactions(&mut self, max: usize) -> &mut Self {
        self.max_transactions = max.max(1);
        self
    }
    /// A random secret (from the OS, at start-up) that makes [`TransactionLayer::new_branch`]
    /// unpredictable to outsiders; the core reads no randomness itself.
    pub fn set_branch_secret(&mut self, secret: u64) -> &mut Self {
        self.branch_secret = secret;
        self
    }
    /// The worker this layer belongs to, named in every branch it mints so responses find
    /// their way back (see [`crate::Shard`]); default: the only one.
    pub fn set_shard(&mut self, shard: crate::Shard) -> &mut Self {
        self.shard = shard;
        self
    }
    /// The timers.
    pub fn timers(&self) -> &Timers {
        &self.timers
    }
    /// The transaction cap.
    pub fn max_transactions(&self) -> usize {
        self.max_transactions
    }
}

/// One of the four machines.
#[derive(Debug)]
enum Machine {
    InviteClient(InviteClient),
    NonInviteClient(NonInviteClient),
    InviteServer(InviteServer),
    NonInviteServer(NonInviteServer),
}

impl Machine {
    fn deadline(&self, kind: TimerKind) -> Option<Instant> {
        match self {
            Self::InviteClient(m) => m.deadline(kind),
            Self::NonInviteClient(m) => m.deadline(kind),
            Self::InviteServer(m) => m.deadline(kind),
            Self::NonInviteServer(m) => m.deadline(kind),
        }
    }
    fn state(&self) -> TransactionState {
        match self {
            Self::InviteClient(m) => m.state(),
            Self::NonInviteClient(m) => m.state(),
            Self::InviteServer(m) => m.state(),
            Self::NonInviteServer(m) => m.state(),
        }
    }
    fn kind(&self) -> TransactionKind {
        match self {
            Self::InviteClient(_) => TransactionKind::InviteClient,
            Self::NonInviteClient(_) => TransactionKind::NonInviteClient,
            Self::InviteServer(_) => TransactionKind::InviteServer,
            Self::NonInviteServer(_) => TransactionKind::NonInviteServer,
        }
    }
    /// Takes the machine out to consume it by value; leaves a terminated one behind.
    fn take(&mut self) -> Self {
        let gone = match self {
            Self::InviteClient(_) => Self::InviteClient(InviteClient::Terminated),
            Self::NonInviteClient(_) => Self::NonInviteClient(NonInviteClient::Terminated),
            Self::InviteServer(_) => Self::InviteServer(InviteServer::Terminated),
            Self::NonInviteServer(_) => Self::NonInviteServer(NonInviteServer::Terminated),
        };
        std::mem::replace(self, gone)
    }
}

/// How the layer finds a transaction again, kept to remove its index entry.
#[derive(Debug)]
enum Key {
    Client(ClientKey),
    Server(ServerKey),
}

#[derive(Debug)]
struct Transaction {
    machine: Machine,
    flow: Flow,
    key: Key,
}

/// A timer-heap entry: live only while the transaction still reports this deadline for
/// this timer (lazy deletion: re-arming or leaving a state never searches the heap).
type TimerEntry = Reverse<(Instant, TransactionId, TimerKind)>;

/// The RFC 3261 §17 transaction layer, sans-IO: all client and server transactions of
/// one B2BUA, with their keys, timers and retransmissions.
///
/// # Driving it (the quinn-proto call order)
///
/// - **In**: [`handle_incoming`](Self::handle_incoming) for every parsed message from the
///   transport; [`send_request`](Self::send_request) and
///   [`send_response`](Self::send_response) from the TU;
///   [`handle_timeout`](Self::handle_timeout) when the deadline from
///   [`poll_timeout`](Self::poll_timeout) has passed;
///   [`handle_transport_error`](Self::handle_transport_error) when a send failed.
/// - **Out**, after every call above: drain [`poll_event`](Self::poll_event) (for the TU),
///   [`poll_transmit`](Self::poll_transmit) (for the transport), then re-read
///   [`poll_timeout`](Self::poll_timeout) and re-arm the one timer.
///
/// Time only moves through the `now` arguments. Timers live in a deadline heap with lazy
/// deletion; no call scans all transactions. Every queue is bounded by what the caller
/// feeds in between drains, and the number of transactions by
/// [`Config::set_max_transactions`].
#[derive(Debug)]
pub struct TransactionLayer {
    config: Config,
    next_id: u64,
    branch_counter: u64,
    transactions: IdMap<TransactionId, Transaction>,
    clients: HashMap<ClientKey, TransactionId>,
    servers: HashMap<ServerKey, TransactionId>,
    timers: BinaryHeap<TimerEntry>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TuEvent>,
    /// Reused effect buffer.
    fx: Fx,
}

impl TransactionLayer {
    /// An empty layer.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            next_id: 0,
            branch_counter: 0,
            transactions: IdMap::default(),
            clients: HashMap::new(),
            servers: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            fx: Fx::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A fresh Via branch (`z9hG4bK` + 24 hex digits), unique in this layer and, with a
    /// secret set, unguessable; put it on the top Via of each request the TU sends.
    pub fn new_branch(&mut self) -> String {
        self.branch_counter = self.branch_counter.wrapping_add(1);
        let mut h = std::hash::DefaultHasher::new();
        self.config.branch_secret.hash(&mut h);
        self.branch_counter.hash(&mut h);
        self.config.shard.branch(h.finish(), self.branch_counter)
    }

    /// A message from the transport, parsed (normally by `drawbridge_sip::parse_message`).
    ///
    /// Requests: a retransmission is absorbed by its server transaction (and answered with
    /// the last response when the RFC says so); an ACK ends an INVITE server transaction
    /// in Completed or goes to the TU ([`TuEvent::Ack`]); anything else starts a server
    /// transaction and reaches the TU once as [`TuEvent::Request`] — or, at the cap, is
    /// handed back as [`Incoming::Overloaded`] without creating state.
    ///
    /// Responses: matched to a client transaction by top-Via branch and CSeq method
    /// (§17.1.3); unmatched ones become [`TuEvent::StrayResponse`].
    ///
    /// # Errors
    /// A request whose top Via, From, CSeq or Call-ID cannot be read (never the case for
    /// the output of `parse_message`); nothing changed.
    pub fn handle_incoming(
        &mut self,
        now: Instant,
        message: SipMessage,
        flow: Flow,
    ) -> Result<Incoming, MessageError> {
        match message {
            SipMessage::Request(r) => self.incoming_request(now, r, flow),
            SipMessage::Response(r) => Ok(self.incoming_response(now, r, flow)),
        }
    }

    fn incoming_request(
        &mut self,
        now: Instant,
        request: Request,
        flow: Flow,
    ) -> Result<Incoming, MessageError> {
        if request.method == Method::Ack {
            // §17.2.3: an ACK matches the INVITE it acknowledges (same branch).
            let key = key::server_key(&request, Method::Invite)?;
            if let Some(&id) = self.servers.get(&key)
                && let Some(tx) = self.transactions.get(&id)
                && let Machine::InviteServer(_) = tx.machine
            {
                if tx.machine.state() == TransactionState::Accepted {
                    // RFC 6026 §8.7: an ACK for the 2xx belongs to the TU.
                    self.events.push_back(TuEvent::Ack {
                        request,
                        flow,
                        transaction: Some(id),
                    });
                } else {
                    self.drive(id, now, |m, ctx, fx| match m {
                        Machine::InviteServer(s) => {
                            Machine::InviteServer(s.on_ack(ctx, request, fx))
                        }
                        other => other,
                    });
                }
                return Ok(Incoming::Matched(id));
            }
            self.events.push_back(TuEvent::Ack {
                request,
                flow,
                transaction: None,
            });
            return Ok(Incoming::PassedUp);
        }

        let key = key::server_key(&request, request.method)?;
        if let Some(&id) = self.servers.get(&key) {
            self.drive(id, now, |m, _, fx| match m {
                Machine::InviteServer(s) => Machine::InviteServer(s.on_retransmission(fx)),
                Machine::NonInviteServer(s) => Machine::NonInviteServer(s.on_retransmission(fx)),
                other => other,
            });
            return Ok(Incoming::Matched(id));
        }
        if self.transactions.len() >= limit_for(&request, self.config.max_transactions) {
            return Ok(Incoming::Overloaded(Box::new(request)));
        }
        let cancels = if request.method == Method::Cancel {
            let invite = key::server_key(&request, Method::Invite)?;
            self.servers.get(&invite).copied()
        } else {
            None
        };
        let id = self.fresh_id();
        let ctx = Ctx {
            now,
            timers: &self.config.timers,
            reliable: flow.is_reliable(),
        };
        let machine = if request.method == Method::Invite {
            let trying = drawbridge_sip::response_bytes(&request, 100, "Trying", None);
            Machine::InviteServer(InviteServer::start(ctx, trying.into(), &mut self.fx))
        } else {
            Machine::NonInviteServer(NonInviteServer::start())
        };
        self.servers.insert(key.clone(), id);
        self.transactions.insert(
            id,
            Transaction {
                machine,
                flow,
                key: Key::Server(key),
            },
        );
        self.events.push_back(TuEvent::Request {
            id,
            request,
            flow,
            cancels,
        });
        self.apply_effects(id, flow);
        Ok(Incoming::New(id))
    }

    fn incoming_response(&mut self, now: Instant, response: Response, flow: Flow) -> Incoming {
        let id = key::client_key_of_response(&response)
            .ok()
            .and_then(|k| self.clients.get(&k).copied());
        let Some(id) = id else {
            self.events
                .push_back(TuEvent::StrayResponse { response, flow });
            return Incoming::PassedUp;
        };
        self.drive(id, now, |m, ctx, fx| match m {
            Machine::InviteClient(c) => Machine::InviteClient(c.on_response(ctx, response, fx)),
            Machine::NonInviteClient(c) => {
                Machine::NonInviteClient(c.on_response(ctx, response, fx))
            }
            other => other,
        });
        Incoming::Matched(id)
    }

    /// Starts a client transaction for `request` on `flow` and queues its first
    /// transmission. The top Via must carry a `z9hG4bK` branch unique among live client
    /// transactions of this method ([`Self::new_branch`]); a CANCEL reuses its INVITE's
    /// branch (§9.1), which is fine because the method differs.
    ///
    /// # Errors
    /// [`SendError::AckIsNotATransaction`] for ACK (use [`Self::send_stateless`]),
    /// [`SendError::Message`] without a usable branch, [`SendError::DuplicateBranch`],
    /// [`SendError::Overloaded`] at the cap. Nothing is sent on error.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        flow: Flow,
    ) -> Result<TransactionId, SendError> {
        self.start_client(now, &request, None, flow)
    }

    /// [`Self::send_request`] for a request the caller already has as bytes (it wrote
    /// them and parsed them back) and keeps: `wire` is sent as is, instead of serialising
    /// `request` again, and the request is only borrowed. The two must be the same message.
    ///
    /// # Errors
    /// As [`Self::send_request`].
    pub fn send_request_wire(
        &mut self,
        now: Instant,
        request: &Request,
        wire: Vec<u8>,
        flow: Flow,
    ) -> Result<TransactionId, SendError> {
        self.start_client(now, request, Some(wire), flow)
    }

    fn start_client(
        &mut self,
        now: Instant,
        request: &Request,
        wire: Option<Vec<u8>>,
        flow: Flow,
    ) -> Result<TransactionId, SendError> {
        if request.method == Method::Ack {
            return Err(SendError::AckIsNotATransaction);
        }
        let key = key::client_key_of_request(request)?;
        if let Some(&id) = self.clients.get(&key) {
            return Err(SendError::DuplicateBranch(id));
        }
        let limit = limit_for(request, self.config.max_transactions);
        if self.transactions.len() >= limit {
            return Err(SendError::Overloaded { limit });
        }
        let id = self.fresh_id();
        let ctx = Ctx {
            now,
            timers: &self.config.timers,
            reliable: flow.is_reliable(),
        };
        let wire: Wire = wire
            .unwrap_or_else(|| drawbridge_sip::to_bytes(request))
            .into();
        let machine = if request.method == Method::Invite {
            Machine::InviteClient(InviteClient::start(ctx, request, wire, &mut self.fx))
        } else {
            Machine::NonInviteClient(NonInviteClient::start(ctx, wire, &mut self.fx))
        };
        self.clients.insert(key.clone(), id);
        self.transactions.insert(
            id,
            Transaction {
                machine,
                flow,
                key: Key::Client(key),
            },
        );
        self.apply_effects(id, flow);
        Ok(id)
    }

    /// The TU answers server transaction `id`. The response goes back on the request's
    /// flow, after everything queued before it.
    ///
    /// # Errors
    /// Unknown or client transaction, status outside 100..=699, or a response after the
    /// final one (except 2xx retransmissions for an INVITE in Accepted). Nothing is sent.
    pub fn send_response(
        &mut self,
        now: Instant,
        id: TransactionId,
        response: Response,
    ) -> Result<(), SendError> {
        let status = code(&response);
        if !(100..=699).contains(&status) {
            return Err(SendError::BadStatus(status));
        }
        let tx = self
            .transactions
            .get(&id)
            .ok_or(SendError::UnknownTransaction(id))?;
        let allowed = match &tx.machine {
            Machine::InviteServer(s) => s.check(status),
            Machine::NonInviteServer(s) => s.check(),
            _ => return Err(SendError::NotServer(id)),
        };
        allowed.map_err(|_| SendError::AfterFinal { id, status })?;
        let wire: Wire = drawbridge_sip::to_bytes(&response).into();
        self.drive(id, now, |m, ctx, fx| match m {
            Machine::InviteServer(s) => {
                Machine::InviteServer(s.on_tu_response(ctx, status, wire, fx))
            }
            Machine::NonInviteServer(s) => {
                Machine::NonInviteServer(s.on_tu_response(ctx, status, wire, fx))
            }
            other => other,
        });
        Ok(())
    }

    /// Sends INVITE server transaction `id`'s 100 Trying now instead of after the Trying
    /// delay (RFC 3261 §17.2.1 lets the TU answer at once); the 100 the layer prepared
    /// when the INVITE arrived is used, so nothing is built twice. Nothing happens once a
    /// response went out.
    ///
    /// # Errors
    /// [`SendError::UnknownTransaction`], or [`SendError::NotServer`] for anything but an
    /// INVITE server transaction.
    pub fn send_trying(&mut self, now: Instant, id: TransactionId) -> Result<(), SendError> {
        let tx = self
            .transactions
            .get(&id)
            .ok_or(SendError::UnknownTransaction(id))?;
        if !matches!(tx.machine, Machine::InviteServer(_)) {
            return Err(SendError::NotServer(id));
        }
        self.drive(id, now, |m, _, fx| match m {
            Machine::InviteServer(s) => Machine::InviteServer(s.send_trying_now(fx)),
            other => other,
        });
        Ok(())
    }

    /// Queues a message outside any transaction: the ACK for a 2xx (RFC 3261 §13.2.2.4),
    /// a stateless 503 for [`Incoming::Overloaded`], a forwarded stray response. FIFO with
    /// everything else.
    pub fn send_stateless<M: drawbridge_sip::edit::Message + ?Sized>(
        &mut self,
        flow: Flow,
        message: &M,
    ) {
        self.send_stateless_wire(flow, drawbridge_sip::to_bytes(message));
    }

    /// [`Self::send_stateless`] for a message the caller already has as bytes.
    pub fn send_stateless_wire(&mut self, flow: Flow, wire: Vec<u8>) {
        self.transmits.push_back(Transmit {
            flow,
            bytes: wire.into(),
            transaction: None,
        });
    }

    /// The transport could not send for transaction `id` (§17.1.4, §17.2.4): the TU
    /// hears [`TuEvent::TransportError`] and the transaction terminates. Unknown ids are
    /// ignored (it may have terminated meanwhile).
    pub fn handle_transport_error(&mut self, _now: Instant, id: TransactionId) {
        if self.transactions.contains_key(&id) {
            self.events.push_back(TuEvent::TransportError { id });
            self.remove(id);
        }
    }

    /// Fires every timer due at or before `now`, in deadline order. Each fires as of its
    /// own deadline, so a late call yields the same schedule as a punctual one.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, id, kind))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let live = self
                .transactions
                .get(&id)
                .is_some_and(|tx| tx.machine.deadline(kind) == Some(at));
            if !live {
                continue;
            }
            self.drive(id, at, |m, ctx, fx| match m {
                Machine::InviteClient(c) => Machine::InviteClient(c.on_timer(ctx, kind, fx)),
                Machine::NonInviteClient(c) => Machine::NonInviteClient(c.on_timer(ctx, kind, fx)),
                Machine::InviteServer(s) => Machine::InviteServer(s.on_timer(ctx, kind, fx)),
                Machine::NonInviteServer(s) => Machine::NonInviteServer(s.on_timer(kind)),
            });
        }
        self.compact_timers();
    }

    /// The earliest live timer deadline, if any: call [`Self::handle_timeout`] then.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id, kind))) = self.timers.peek() {
            let live = self
                .transactions
                .get(&id)
                .is_some_and(|tx| tx.machine.deadline(kind) == Some(at));
            if live {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// The next message to send, oldest first (see [`Transmit`] on ordering).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU, oldest first.
    pub fn poll_event(&mut self) -> Option<TuEvent> {
        self.events.pop_front()
    }

    /// The state of transaction `id`, or `None` once it has terminated.
    pub fn state(&self, id: TransactionId) -> Option<TransactionState> {
        self.transactions.get(&id).map(|t| t.machine.state())
    }

    /// Which machine transaction `id` runs.
    pub fn kind(&self, id: TransactionId) -> Option<TransactionKind> {
        self.transactions.get(&id).map(|t| t.machine.kind())
    }

    /// The flow of transaction `id` (where its request came from, or was sent to).
    pub fn flow(&self, id: TransactionId) -> Option<Flow> {
        self.transactions.get(&id).map(|t| t.flow)
    }

    /// Points every transaction on flow `old` at `new` instead, so what they still send
    /// (a final response, a retransmitted 2xx) leaves on the peer's new connection.
    /// Returns how many moved. For the TU's connection re-pinning: the caller vouches that
    /// `new` reaches the same peer; both must be reliable (no retransmission timers change).
    pub fn move_flow(&mut self, old: Flow, new: Flow) -> usize {
        let mut moved = 0;
        for tx in self.transactions.values_mut() {
            if tx.flow.id == old.id && tx.flow.remote == old.remote {
                tx.flow = new;
                moved += 1;
            }
        }
        moved
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    /// Whether no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    /// Entries in the timer heap, live or stale (for tests and metrics: bounded by a
    /// small multiple of [`Self::len`]).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    fn fresh_id(&mut self) -> TransactionId {
        self.next_id += 1;
        TransactionId(self.next_id)
    }

    /// Runs `f` on transaction `id`'s machine (consumed by value), then applies its effects.
    fn drive(
        &mut self,
        id: TransactionId,
        now: Instant,
        f: impl FnOnce(Machine, Ctx<'_>, &mut Fx) -> Machine,
    ) {
        let Some(tx) = self.transactions.get_mut(&id) else {
            return;
        };
        let ctx = Ctx {
            now,
            timers: &self.config.timers,
            reliable: tx.flow.is_reliable(),
        };
        let machine = tx.machine.take();
        tx.machine = f(machine, ctx, &mut self.fx);
        let flow = tx.flow;
        self.apply_effects(id, flow);
    }

    /// Moves the machine's effects to the queues and the heap, in order; removes the
    /// transaction if it reached Terminated.
    fn apply_effects(&mut self, id: TransactionId, flow: Flow) {
        for effect in self.fx.0.drain(..) {
            match effect {
                Effect::Send(bytes) => self.transmits.push_back(Transmit {
                    flow,
                    bytes,
                    transaction: Some(id),
                }),
                Effect::Up(Up::Response(response)) => {
                    self.events.push_back(TuEvent::Response { id, response });
                }
                Effect::Up(Up::Timeout(timer)) => {
                    self.events.push_back(TuEvent::Timeout { id, timer });
                }
                Effect::Up(Up::Ack(request)) => self.events.push_back(TuEvent::Ack {
                    request,
                    flow,
                    transaction: Some(id),
                }),
                Effect::Arm(kind, at) => self.timers.push(Reverse((at, id, kind))),
            }
        }
        if self
            .transactions
            .get(&id)
            .is_some_and(|tx| tx.machine.state() == TransactionState::Terminated)
        {
            self.remove(id);
        }
        self.compact_timers();
    }

    fn remove(&mut self, id: TransactionId) {
        if let Some(tx) = self.transactions.remove(&id) {
            match tx.key {
                Key::Client(k) => {
                    self.clients.remove(&k);
                }
                Key::Server(k) => {
                    self.servers.remove(&k);
                }
            }
            self.events.push_back(TuEvent::Terminated { id });
        }
    }

    /// Stale heap entries leave when they reach the top; if many pile up behind a long
    /// live one (e.g. a burst of transactions that ended early), rebuild once.
    fn compact_timers(&mut self) {
        if self.timers.len() <= 64 + 8 * self.transactions.len() {
            return;
        }
        let transactions = &self.transactions;
        self.timers.retain(|Reverse((at, id, kind))| {
            transactions
                .get(id)
                .is_some_and(|tx| tx.machine.deadline(*kind) == Some(*at))
        });
    }
}

/// The transaction cap that applies to `request`. Requests inside an existing dialog (a To
/// tag) and CANCELs end or steer calls that already hold resources: refusing them at the
/// cap would leak those calls (a refused BYE leaves a call up for good), so they may use
/// up to twice the cap, which still bounds memory. New dialogs get the plain cap.
fn limit_for(request: &Request, cap: usize) -> usize {
    use rsip::prelude::*;
    let in_dialog = request.method == Method::Cancel
        || request.to_header().ok().is_some_and(|t| {
            drawbridge_sip::fields::name_addr_param(t.value(), "tag").is_some_and(|t| !t.is_empty())
        });
    if in_dialog {
        cap.saturating_mul(2)
    } else {
        cap
    }
}
