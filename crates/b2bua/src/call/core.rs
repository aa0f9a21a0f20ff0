//! [`B2bua`]: calls between the outside (trunks, tunnel peers) and the PBX, with a
//! separate dialog per leg and nothing of one side in what goes to the other.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use drawbridge_sip::{ParseError, parse_message, response_to};
use rsip::{Method, Request, Response, SipMessage};

use super::headers::{self as hdr, RELAYED_METHODS, reason_phrase};
use super::ids::Ids;
use super::side::same_source;
use super::state::{Call, CallState, Leg};
use crate::id_hash::IdMap;
mod ack;
mod audit;
mod auth;
mod body;
mod cancel;
mod flows;
mod in_dialog;
mod invite;
mod reinvite_guard;
mod relays;
pub(super) mod reliable;
mod responses;
mod send;
mod trunks;

pub use self::trunks::TrunkDownReason;
use self::trunks::TrunkState;

use crate::{
    B2buaConfig, CallAdmission, CallHandle, Flow, Incoming, MediaAllocator, MessageError, Side,
    TransactionId, TransactionLayer, Transmit, TransportKind, TuEvent,
};

/// Something the runtime may want to know (logs, metrics, CDRs, security events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum B2buaEvent {
    /// A new call: the INVITE was accepted and relayed.
    CallStarted {
        /// The call.
        call: CallHandle,
        /// Where the caller is.
        from: Side,
        /// Where the call goes.
        to: Side,
        /// Caller identity (From user part).
        caller: String,
        /// Callee identity (Request-URI user part).
        callee: String,
    },
    /// The callee answered (2xx relayed).
    CallAnswered {
        /// The call.
        call: CallHandle,
    },
    /// The call is over. `status` is the final status the caller saw, or 200 for an
    /// answered call ended by BYE or by a missing ACK.
    CallEnded {
        /// The call.
        call: CallHandle,
        /// Final status.
        status: u16,
    },
    /// A message named a dialog or transaction of ours but came from another source (or
    /// carried the wrong remote tag): dropped, or answered 481 like an unknown dialog.
    Forged {
        /// The side it arrived from.
        side: Side,
        /// The flow it arrived on.
        flow: Flow,
        /// Request method, or `None` for a response.
        method: Option<Method>,
    },
    /// Trunk `trunk` answered an OPTIONS keep-alive after being down (or for the first
    /// time).
    TrunkUp {
        /// Index in [`B2buaConfig::trunks`].
        trunk: usize,
    },
    /// Trunk `trunk` stopped answering OPTIONS keep-alives (or never answered the first).
    TrunkDown {
        /// Index in [`B2buaConfig::trunks`].
        trunk: usize,
        /// What happened to the keep-alive.
        reason: TrunkDownReason,
    },
    /// Trunk `trunk`'s account is registered with the provider for `expires` seconds
    /// (refreshed at half of it).
    TrunkRegistered {
        /// Index in [`B2buaConfig::trunks`].
        trunk: usize,
        /// The expiry the provider granted, in seconds.
        expires: u32,
    },
    /// A REGISTER of trunk `trunk` failed; it is retried with a backoff (30 s doubling
    /// to 30 min).
    TrunkRegistrationFailed {
        /// Index in [`B2buaConfig::trunks`].
        trunk: usize,
        /// The final status (after a digest retry), 408 for no answer, 503 for a
        /// transport error.
        status: u16,
    },
    /// The connection `flow` of `side` closed while `calls` calls were pinned to it; they
    /// wait for the peer's next connection (see [`B2bua::flow_closed`]).
    ConnectionLost {
        /// Whose connection it was.
        side: Side,
        /// The closed connection.
        flow: Flow,
        /// Calls with a dialog pinned to it.
        calls: usize,
    },
    /// Call `call`'s dialog with `side` moved from the closed connection `old` to the
    /// same peer's new connection `new` (see [`B2bua::flow_opened`]).
    DialogRepinned {
        /// The call.
        call: CallHandle,
        /// The peer (same before and after).
        side: Side,
        /// The connection that closed.
        old: Flow,
        /// The peer's new connection; the old one no longer matches.
        new: Flow,
    },
}

/// Counters since start (the runtime exports them to Prometheus).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Calls accepted and relayed.
    pub calls_started: u64,
    /// Calls answered.
    pub calls_answered: u64,
    /// INVITEs refused before a call existed (bad request, no media, overload …).
    pub calls_refused: u64,
    /// In-dialog requests, ACKs or responses from the wrong source (dropped / 481).
    pub forged_in_dialog: u64,
    /// Responses matching no transaction of ours (dropped).
    pub stray_responses: u64,
    /// Requests re-sent with digest credentials.
    pub auth_retries: u64,
    /// Messages that did not parse.
    pub parse_errors: u64,
    /// Dialogs moved from a closed connection to the same peer's new one.
    pub dialogs_repinned: u64,
}

/// Why [`B2bua::handle_message`] could not process a message. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The bytes are not a SIP message within the limits; see
    /// [`ParseError::status_code`] for the stateless answer (if the source is trusted).
    #[error("unparseable message: {0}")]
    Parse(#[from] ParseError),
    /// The message lacks what the transaction layer needs.
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// What a transaction is for.
#[derive(Debug)]
enum TxCtx {
    /// The initial INVITE's server transaction on leg A.
    InviteIn(CallHandle),
    /// The initial INVITE's client transaction on leg B.
    InviteOut(CallHandle),
    /// An in-dialog request of `call` that arrived and is relayed; `request` answers it.
    RelayIn { request: Request, call: CallHandle },
    /// The relayed copy, sent on `leg`.
    RelayOut {
        call: CallHandle,
        leg: Leg,
        server: TransactionId,
        request: Request,
        auth_tried: bool,
        /// Our request carried a body (an offer), so a 2xx is ACKed at once.
        had_offer: bool,
        answered: bool,
        /// A provisional arrived: a CANCEL may be sent (RFC 3261 §9.1).
        provisional: bool,
        /// The re-INVITE guard cancelled it and answered the requester; what still
        /// arrives for it is absorbed (see `reinvite_guard.rs`).
        cancelled: bool,
        /// The requester CANCELled its re-INVITE: ours is cancelled too, at once or at
        /// the first provisional, and the far end's final answer is relayed as usual.
        cancel_asked: bool,
        /// A re-INVITE with an offer: the requester's media before it, put back into the
        /// relay if the re-INVITE fails.
        restore_media: Option<Vec<drawbridge_sip::sdp::MediaInfo>>,
    },
    /// A request we originated (BYE, CANCEL, PRACK): only auth challenges matter.
    /// `dialog` is the leg it was sent in, whose CSeq a digest retry takes the next of.
    Own {
        request: Request,
        auth_tried: bool,
        dialog: Option<(CallHandle, Leg)>,
    },
    /// An OPTIONS keep-alive to a trunk.
    KeepAlive { trunk: usize },
    /// A REGISTER of a trunk's account.
    Register {
        trunk: usize,
        request: Request,
        auth_tried: bool,
    },
    /// A server transaction already answered locally.
    Done,
}

impl TxCtx {
    /// A relayed copy just sent (or re-sent after a digest challenge): nothing heard yet.
    fn relay_out(
        call: CallHandle,
        leg: Leg,
        server: TransactionId,
        request: Request,
        auth_tried: bool,
        had_offer: bool,
        restore_media: Option<Vec<drawbridge_sip::sdp::MediaInfo>>,
    ) -> Self {
        Self::RelayOut {
            call,
            leg,
            server,
            request,
            auth_tried,
            had_offer,
            answered: false,
            provisional: false,
            cancelled: false,
            cancel_asked: false,
            restore_media,
        }
    }
}

/// Where a client transaction's responses must come from.
#[derive(Debug, Clone, Copy)]
struct Pin {
    tx: TransactionId,
    side: Side,
    flow: Flow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CallTimer {
    Ring,
    AckWait,
    /// A reliable provisional to the caller: retransmission or PRACK give-up.
    Reliable,
    /// 64*T1 after the CANCEL of leg B's INVITE (see `cancel.rs`).
    CancelGiveUp,
    /// A relayed re-INVITE still without a final response (see `reinvite_guard.rs`).
    ReinviteGuard,
    /// 64*T1 after the guard's CANCEL of a relayed re-INVITE.
    ReinviteGiveUp,
}

/// The B2BUA core, sans-IO (quinn-proto style).
///
/// # Driving it
///
/// - **In**: [`handle_message`](Self::handle_message) with the bytes of every SIP message
///   the transport received, the [`Flow`] it came on and the [`Side`] the transport vouches
///   for (trunk index from the allow-listed source, tunnel peer from its key, or the PBX);
///   [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout)'s
///   deadline has passed; [`handle_transport_error`](Self::handle_transport_error);
///   [`flow_closed`](Self::flow_closed) and [`flow_opened`](Self::flow_opened) when a
///   TCP/TLS connection closes or is accepted (dialogs follow a peer's reconnection).
/// - **Out**, after each call: drain [`poll_transmit`](Self::poll_transmit) (send each on
///   its flow, in order), [`poll_event`](Self::poll_event), then re-arm the timer from
///   [`poll_timeout`](Self::poll_timeout).
///
/// **Ordering**: every message of every call leaves through one FIFO queue, in the order
/// the core produced it, and the core produces a call's messages in the order their
/// causes arrived: a 180 relayed before a 200 is sent before it, an ACK before a later
/// BYE. The runtime must send them in `poll_transmit` order (per flow at least).
///
/// **Media**: anchored through the [`MediaAllocator`] given to [`B2bua::new`], called
/// synchronously for each SDP that crosses (see its docs for why).
///
/// **Topology hiding**: each leg has its own Call-ID, tags, CSeq space, Via, Contact and
/// route set; requests and responses on a leg are built from that leg's dialog, plus the
/// headers the allow-list lets cross ([`B2buaConfig::allowed_headers`]), canonical reason
/// phrases, and an SDP rewritten to drawbridge's media address.
pub struct B2bua {
    config: B2buaConfig,
    layer: TransactionLayer,
    media: Box<dyn MediaAllocator + Send>,
    admission: Option<Box<dyn CallAdmission + Send>>,
    ids: Ids,
    next_call: u64,
    calls: IdMap<CallHandle, Call>,
    /// (Call-ID, our tag) → call and leg. Never the Call-ID alone.
    dialogs: HashMap<(String, String), (CallHandle, Leg)>,
    txs: IdMap<TransactionId, TxCtx>,
    pins: HashMap<String, Pin>,
    /// Client transaction → its branch in `pins` (so nothing scans `pins`).
    pin_of: IdMap<TransactionId, String>,
    timers: BinaryHeap<Reverse<(Instant, CallHandle, CallTimer)>>,
    /// Live entries the last compaction kept: the next waits until the heap has doubled.
    timers_kept: usize,
    events: VecDeque<B2buaEvent>,
    counters: Counters,
    /// Keep-alive and registration state, per trunk (same index as the config).
    trunk_state: Vec<TrunkState>,
    /// Connections the transport reported closed that dialogs may still be pinned to.
    closed: flows::ClosedFlows,
    /// Calls that ended with a relayed re-INVITE in flight (see `relays.rs`).
    ended_mid_reinvite: Vec<CallHandle>,
}

impl std::fmt::Debug for B2bua {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("B2bua")
            .field("calls", &self.calls.len())
            .field("transactions", &self.layer.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// The transport token of a Via.
fn via_transport(flow: &Flow) -> &'static str {
    match flow.transport {
        TransportKind::Udp => "UDP",
        TransportKind::Tcp => "TCP",
        TransportKind::Tls => "TLS",
    }
}

fn contact_param(flow: &Flow) -> &'static str {
    match flow.transport {
        TransportKind::Udp => "",
        TransportKind::Tcp => ";transport=tcp",
        TransportKind::Tls => ";transport=tls",
    }
}

fn code_of(r: &Response) -> u16 {
    r.status_code.code()
}

/// Parts of a request drawbridge writes on one leg.
struct Outgoing<'a> {
    method: &'a str,
    uri: &'a str,
    cseq: u32,
    max_forwards: u32,
    contact: bool,
    extra: &'a [(String, String)],
    body: Option<(&'a [u8], &'a str)>,
}

impl B2bua {
    /// A B2BUA with this configuration, anchoring media through `media`.
    pub fn new(config: B2buaConfig, media: Box<dyn MediaAllocator + Send>) -> Self {
        let mut layer_config = config.transactions.clone();
        layer_config
            .set_branch_secret(config.secret ^ 0x5bd1_e995)
            .set_shard(config.shard);
        let trunk_state = config
            .trunks
            .iter()
            .map(|_| TrunkState::default())
            .collect();
        Self {
            trunk_state,
            layer: TransactionLayer::new(layer_config),
            ids: Ids::new(config.secret, config.shard),
            config,
            media,
            admission: None,
            next_call: 0,
            calls: IdMap::default(),
            dialogs: HashMap::new(),
            txs: IdMap::default(),
            pins: HashMap::new(),
            pin_of: IdMap::default(),
            timers: BinaryHeap::new(),
            timers_kept: 0,
            events: VecDeque::new(),
            counters: Counters::default(),
            closed: flows::ClosedFlows::default(),
            ended_mid_reinvite: Vec::new(),
        }
    }

    /// Puts every new call through `admission` (rates and concurrency limits kept outside
    /// the core); it hears about every admitted call's end.
    pub fn set_admission(&mut self, admission: Box<dyn CallAdmission + Send>) {
        self.admission = Some(admission);
    }

    /// The configuration.
    pub fn config(&self) -> &B2buaConfig {
        &self.config
    }

    /// The trunk's transport flow changed (a new TLS connection): new calls use it.
    /// Existing dialogs stay pinned to the flow they were set up on. A trunk that
    /// registers re-registers over the new flow at once, and one not known to be up is
    /// probed (drain [`Self::poll_transmit`] after).
    pub fn set_trunk_flow(&mut self, now: Instant, trunk: usize, flow: Flow) {
        let Some(t) = self.config.trunks.get_mut(trunk) else {
            return;
        };
        let old = std::mem::replace(&mut t.flow, flow);
        // Dialogs and client transactions pinned to our previous connection to this trunk
        // move to the new one. Both connections were opened by us to the trunk's
        // configured host and verified alike, so the new one is as much the trunk as the
        // old; without this, a call whose TLS connection was replaced could not be hung up
        // by the provider (its BYE on the new connection would look forged) nor by us.
        if old.id != flow.id && old.transport != TransportKind::Udp {
            self.move_flow(Side::trunk(trunk), old, flow);
        }
        self.trunk_flow_changed(now, trunk);
    }

    /// Counters since start.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Calls in progress (ringing, answered, or being cancelled).
    pub fn calls_active(&self) -> usize {
        self.calls.len()
    }

    /// Dialogs (legs) the core matches in-dialog messages against.
    pub fn dialogs(&self) -> usize {
        self.dialogs.len()
    }

    /// Live transactions in the transaction layer.
    pub fn transactions(&self) -> usize {
        self.layer.len()
    }

    /// The next message to send, oldest first (one FIFO for all calls; see the type docs).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.layer.poll_transmit()
    }

    /// The next event for the runtime, oldest first.
    pub fn poll_event(&mut self) -> Option<B2buaEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline of the core: call [`Self::handle_timeout`] then.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, call, kind))) = self.timers.peek() {
            if self.timer_live(at, call, kind) {
                break;
            }
            self.timers.pop();
        }
        let calls = self.timers.peek().map(|Reverse((at, _, _))| *at);
        let ours = match (calls, self.trunk_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (ours, self.layer.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The transport failed to send transmit of transaction `id` (see [`Transmit`]).
    pub fn handle_transport_error(&mut self, now: Instant, id: TransactionId) {
        self.layer.handle_transport_error(now, id);
        self.drain(now, None);
    }

    /// A SIP message (one datagram or one stream frame) from `flow`, which the transport
    /// attributes to `side`.
    ///
    /// # Errors
    /// [`HandleError::Parse`] when the bytes are not acceptable SIP (answer with
    /// `drawbridge_sip::peek` + the error's status if the source is trusted, else drop).
    pub fn handle_message(
        &mut self,
        now: Instant,
        bytes: &[u8],
        flow: Flow,
        side: Side,
    ) -> Result<(), HandleError> {
        let message = match parse_message(bytes, &self.config.limits) {
            Ok(m) => m,
            Err(e) => {
                self.counters.parse_errors += 1;
                return Err(e.into());
            }
        };
        self.handle_parsed(now, message, flow, side)
    }

    /// [`Self::handle_message`] for a message already parsed by
    /// `drawbridge_sip::parse_message`.
    ///
    /// # Errors
    /// [`HandleError::Message`] when the transaction layer cannot key the message.
    pub fn handle_parsed(
        &mut self,
        now: Instant,
        message: SipMessage,
        flow: Flow,
        side: Side,
    ) -> Result<(), HandleError> {
        // A new connection of a peer whose previous one closed takes over its dialogs.
        self.adopt(flow, side);
        if let SipMessage::Response(r) = &message {
            // Source pinning for responses: the transaction layer matches on branch
            // alone, so check the branch's owner first.
            let pinned = hdr::top_branch(&r.headers).and_then(|b| self.pins.get(&b).copied());
            match pinned {
                None => {
                    self.counters.stray_responses += 1;
                    return Ok(());
                }
                Some(p) if !same_source(side, &flow, p.side, &p.flow) => {
                    self.forged(side, flow, None);
                    return Ok(());
                }
                Some(_) => {}
            }
        }
        match self.layer.handle_incoming(now, message, flow)? {
            Incoming::Overloaded(request) => {
                let r = response_to(&request, 503, reason_phrase(503), None);
                self.layer.send_stateless(flow, &r);
            }
            Incoming::New(_) | Incoming::Matched(_) | Incoming::PassedUp => {}
        }
        self.drain(now, Some(side));
        Ok(())
    }

    /// Ends a call from drawbridge's own side — its media went silent, or it reached the
    /// maximum call duration: an answered call gets a BYE on both legs, a ringing one is
    /// cancelled towards the callee and refused (480) towards the caller. Returns false
    /// for a call that is unknown or already ending.
    pub fn hang_up(&mut self, now: Instant, call: CallHandle) -> bool {
        let Some(state) = self.calls.get(&call).map(|c| c.state) else {
            return false;
        };
        if self.fail_held_answer(now, call, 480) {
            self.drain(now, None);
            return true;
        }
        match state {
            CallState::Confirmed => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.await_ack = None;
                }
                self.send_bye(now, call, Leg::A);
                self.send_bye(now, call, Leg::B);
                self.end_call(call, 200);
            }
            CallState::Calling | CallState::Early => self.cancel_call(now, call, 480),
            CallState::Cancelling => return false,
        }
        self.drain(now, None);
        true
    }

    /// Fires every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.layer.handle_timeout(now);
        self.drain(now, None);
        while let Some(&Reverse((at, call, kind))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.timer_live(at, call, kind) {
                continue;
            }
            match kind {
                CallTimer::Ring => self.ring_timeout(now, call),
                CallTimer::AckWait => self.ack_timer(now, at, call),
                CallTimer::Reliable => self.reliable_timer(now, at, call),
                CallTimer::CancelGiveUp => self.cancel_give_up(now, call),
                CallTimer::ReinviteGuard => self.reinvite_guard_fired(now, call),
                CallTimer::ReinviteGiveUp => self.reinvite_give_up(now, at, call),
            }
            self.drain(now, None);
        }
        self.trunk_timers(now);
        self.drain(now, None);
    }

    // ---- plumbing -------------------------------------------------------------------

    fn timer_live(&self, at: Instant, call: CallHandle, kind: CallTimer) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        match kind {
            CallTimer::Ring => c.ring_deadline == Some(at),
            CallTimer::AckWait => c
                .await_ack
                .as_ref()
                .is_some_and(|w| w.next == Some(at) || w.give_up == at),
            CallTimer::Reliable => reliable::timer_live(c, at),
            CallTimer::CancelGiveUp => c.state == CallState::Cancelling,
            CallTimer::ReinviteGuard => c.reinvite_guard.is_some_and(|g| g.deadline == at),
            CallTimer::ReinviteGiveUp => c.cancelled_reinvites.iter().any(|&(_, g)| g == at),
        }
    }

    /// Schedules call timer `kind` of `call` at `at`.
    fn push_timer(&mut self, at: Instant, call: CallHandle, kind: CallTimer) {
        self.timers.push(Reverse((at, call, kind)));
        self.compact_timers();
    }

    /// A cancelled deadline (a ring timer of an answered call, a 2xx retransmission
    /// ended by its ACK, a re-INVITE guard cleared by the final response, any timer of
    /// an ended call) stays in the heap until it reaches the top. Most go within 64*T1,
    /// but a re-INVITE guard is set 3 minutes out, so a peer sending re-INVITE after
    /// re-INVITE would pile them up: the heap is rebuilt with the live entries only
    /// once it holds several times more than the calls can have live (a handful each),
    /// which keeps it proportional to the calls. It also waits until the heap is twice what
    /// the last compaction kept, so a heap of mostly live entries is not rescanned at every
    /// push: the cost stays amortised constant whatever the timers per call.
    fn compact_timers(&mut self) {
        let limit = (8 * self.calls.len()).max(2 * self.timers_kept);
        if self.timers.len() <= 64 + limit {
            return;
        }
        let mut heap = std::mem::take(&mut self.timers);
        heap.retain(|&Reverse((at, call, kind))| self.timer_live(at, call, kind));
        self.timers_kept = heap.len();
        self.timers = heap;
    }

    fn drain(&mut self, now: Instant, side: Option<Side>) {
        loop {
            while let Some(ev) = self.layer.poll_event() {
                self.on_event(now, ev, side);
            }
            if self.ended_mid_reinvite.is_empty() {
                break;
            }
            self.finish_orphaned_relays(now);
        }
    }

    fn forged(&mut self, side: Side, flow: Flow, method: Option<Method>) {
        self.counters.forged_in_dialog += 1;
        self.events
            .push_back(B2buaEvent::Forged { side, flow, method });
    }

    /// Gives back what a call held outside the core: its media and its admission.
    fn release_call(&mut self, handle: CallHandle) {
        self.media.release(handle);
        if let Some(admission) = self.admission.as_mut() {
            admission.release(handle);
        }
    }

    fn end_call(&mut self, handle: CallHandle, status: u16) {
        if let Some(call) = self.calls.remove(&handle) {
            if call.reinvite_busy || !call.cancelled_reinvites.is_empty() {
                self.ended_mid_reinvite.push(handle);
            }
            for d in &call.legs {
                self.dialogs
                    .remove(&(d.call_id.clone(), d.local_tag.clone()));
            }
            self.release_call(handle);
            self.compact_timers();
            if call.state != CallState::Cancelling {
                self.events.push_back(B2buaEvent::CallEnded {
                    call: handle,
                    status,
                });
            }
        }
    }

    // ---- events from the transaction layer -------------------------------------------

    fn on_event(&mut self, now: Instant, ev: TuEvent, side: Option<Side>) {
        match ev {
            TuEvent::Request {
                id,
                request,
                flow,
                cancels,
            } => {
                let Some(side) = side else { return };
                self.on_request(now, id, request, flow, side, cancels);
            }
            TuEvent::Ack { request, flow, .. } => {
                if let Some(side) = side {
                    self.on_ack(request, flow, side);
                }
            }
            TuEvent::Response { id, response } => self.on_response(now, id, response),
            TuEvent::StrayResponse { .. } => self.counters.stray_responses += 1,
            TuEvent::Timeout { id, .. } => self.on_failure(now, id, TrunkDownReason::Timeout),
            TuEvent::TransportError { id } => {
                self.on_failure(now, id, TrunkDownReason::TransportError);
            }
            TuEvent::Terminated { id } => self.on_terminated(id),
        }
    }

    fn on_terminated(&mut self, id: TransactionId) {
        let ctx = self.txs.remove(&id);
        if matches!(ctx, Some(TxCtx::KeepAlive { .. } | TxCtx::Register { .. })) {
            self.trunk_tx_terminated(id);
        }
        if let Some(branch) = self.pin_of.remove(&id)
            && self.pins.get(&branch).is_some_and(|p| p.tx == id)
        {
            self.pins.remove(&branch);
        }
        if let Some(TxCtx::InviteOut(h)) = ctx
            && let Some(call) = self.calls.get(&h)
            && call.state == CallState::Cancelling
            && call.outgoing.as_ref().is_some_and(|o| o.tx == id)
        {
            self.end_call(h, 487);
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: Request,
        flow: Flow,
        side: Side,
        cancels: Option<TransactionId>,
    ) {
        if request.method == Method::Cancel {
            self.on_cancel(now, id, &request, flow, side, cancels);
            return;
        }
        if hdr::tag_of(&request.headers, true).is_some() {
            self.on_in_dialog(now, id, request, flow, side);
            return;
        }
        match request.method {
            Method::Invite => self.on_new_invite(now, id, request, flow, side),
            Method::Options => {
                let allow = vec![("Allow".to_owned(), RELAYED_METHODS.join(", "))];
                self.respond(now, id, &request, 200, None, &allow);
                self.txs.insert(id, TxCtx::Done);
            }
            Method::Bye | Method::Update | Method::Info | Method::PRack => {
                self.respond(now, id, &request, 481, None, &[]);
            }
            _ => self.respond(now, id, &request, 501, None, &[]),
        }
    }

    /// A client transaction failed (timeout, transport error).
    fn on_failure(&mut self, now: Instant, id: TransactionId, reason: TrunkDownReason) {
        match self.txs.get(&id) {
            Some(TxCtx::KeepAlive { trunk }) => {
                let trunk = *trunk;
                self.on_keepalive_failure(trunk, id, reason);
            }
            Some(TxCtx::Register { trunk, .. }) => {
                let trunk = *trunk;
                if self.is_current_register(trunk, id) {
                    let status = match reason {
                        TrunkDownReason::Timeout => 408,
                        TrunkDownReason::TransportError => 503,
                    };
                    self.register_failed(now, trunk, status);
                }
            }
            Some(TxCtx::InviteOut(h)) => {
                let h = *h;
                let Some(call) = self.calls.get_mut(&h) else {
                    return;
                };
                if call.outgoing.as_ref().is_some_and(|o| o.tx == id)
                    && matches!(call.state, CallState::Calling | CallState::Early)
                {
                    let a_tag = call.leg(Leg::A).local_tag.clone();
                    if let Some((tx, req)) = call.incoming.take() {
                        self.respond(now, tx, &req, 408, Some(&a_tag), &[]);
                    }
                    self.end_call(h, 408);
                }
            }
            Some(TxCtx::RelayOut {
                server,
                call,
                leg,
                request,
                cancelled,
                ..
            }) => {
                let (server, h, leg, cancelled) = (*server, *call, *leg, *cancelled);
                let is_invite = request.method == Method::Invite;
                if cancelled {
                    // Abandoned by the re-INVITE guard's give-up (or failed after its
                    // CANCEL): the requester has its answer and the call has moved on,
                    // maybe to a newer re-INVITE whose busy state this must not touch.
                    self.reinvite_settled(h, id);
                    return;
                }
                // The record goes with the answer: a retransmission of the request is
                // absorbed by its server transaction, which repeats the 408 without
                // involving us, and nothing else reads the record once the relayed copy
                // has failed (its transaction terminates right after this event).
                if let Some(TxCtx::RelayIn { request, .. }) = self.txs.remove(&server) {
                    self.respond(now, server, &request, 408, None, &[]);
                }
                if is_invite {
                    self.reinvite_settled(h, id);
                    if let Some(call) = self.calls.get_mut(&h) {
                        call.reinvite_busy = false;
                    }
                    self.restore_media(h, id, leg.other());
                }
                self.relay_failed(now, h, leg);
            }
            _ => {}
        }
    }

    fn on_response(&mut self, now: Instant, id: TransactionId, response: Response) {
        let code = code_of(&response);
        // Only INVITEs care about a 100: a CANCEL may be waiting for it (the call's, or
        // the re-INVITE guard's).
        if code == 100
            && !matches!(
                self.txs.get(&id),
                Some(TxCtx::InviteOut(_) | TxCtx::RelayOut { .. })
            )
        {
            return;
        }
        if (code == 401 || code == 407) && self.retry_with_auth(now, id, &response) {
            return;
        }
        match self.txs.get(&id) {
            Some(TxCtx::InviteOut(h)) => {
                let h = *h;
                self.on_invite_response(now, id, h, response);
            }
            Some(TxCtx::RelayOut { .. }) => self.on_relay_response(now, id, response),
            Some(TxCtx::KeepAlive { trunk }) => {
                let trunk = *trunk;
                self.on_keepalive_response(trunk, id, code);
            }
            Some(TxCtx::Register { trunk, .. }) => {
                let trunk = *trunk;
                self.on_register_response(now, trunk, id, &response);
            }
            _ => {}
        }
    }
}
