//! The signalling task: it owns the B2BUA and guard cores, feeds them what the SIP
//! transports receive, routes what they want to send, and installs media sessions in the
//! RTP relay (the media table's only writer).
//!
//! Flow ids: the B2BUA pins dialogs to a flow, so its flow ids must be stable for a
//! dialog's life. Stream flows (TCP/TLS) keep the transport's id. UDP flows are named by
//! their remote address instead, because the transport forgets idle UDP flows; sending on
//! one goes through `send_to`, which recreates the transport's flow when needed.
//!
//! Connections: every worker subscribes to the trunk transports' connection events and
//! hands them to its B2BUA before each message, so when a provider's connection closes
//! and it connects again, the dialogs of the old connection move to the new one (same
//! trunk, same IP) on every worker, before the new connection's first message is seen.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use drawbridge_b2bua::{
    Advertised, B2bua, B2buaConfig, B2buaEvent, CallHandle, Flow, FlowId, MediaAllocator,
    MediaAnchor, MediaRefused, Outside, Pbx, Side, TransportKind, Trunk,
};
use drawbridge_config::{Config, Transport};
use drawbridge_guard::{DialVerdict, Guard, RequestFacts, Source, Verdict};
use drawbridge_media::{Direction as MDirection, InterfaceId, LatchMode, Leg, LegSpec, RemoteSpec};
use drawbridge_sip::sdp::{Direction, MediaInfo, MediaPorts};
use drawbridge_transport::rtp::{RelaySession, RtpRelay};
use drawbridge_transport::sip::{FlowEvent, Inbound, SipTransports};
use rsip::prelude::*;
use tokio::sync::{broadcast, mpsc};

/// Tag bits of B2BUA flow ids: which transport set a flow belongs to and how it is named.
const LAN: u64 = 1 << 62;
const UDP_NAMED: u64 = 1 << 61;
const ID_MASK: u64 = (1 << 60) - 1;

fn udp_id(side_tag: u64, remote: SocketAddr) -> FlowId {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    remote.hash(&mut h);
    FlowId(side_tag | UDP_NAMED | (h.finish() & ID_MASK))
}

fn kind(t: Transport) -> TransportKind {
    match t {
        Transport::Udp => TransportKind::Udp,
        Transport::Tcp => TransportKind::Tcp,
        Transport::Tls => TransportKind::Tls,
    }
}

fn b2bua_flow(side_tag: u64, m: &Inbound) -> Flow {
    let id = match m.transport {
        Transport::Udp => udp_id(side_tag, m.remote),
        Transport::Tcp | Transport::Tls => FlowId(side_tag | (m.flow.0 & ID_MASK)),
    };
    Flow {
        id,
        remote: m.remote,
        transport: kind(m.transport),
    }
}

/// What every signalling worker shares: the guard (one set of rate tables and bans for
/// the whole process), the transports, the relay, and the metrics each worker reports.
pub(crate) struct Shared {
    /// Bans, rates, scanners, dial policy for what comes from outside.
    pub(crate) guard: Mutex<Guard>,
    /// The public SIP transports (trunks).
    pub(crate) trunks: SipTransports,
    /// The LAN SIP transport (the PBX only).
    pub(crate) lan: SipTransports,
    /// Per trunk: where UDP requests go (resolved at start).
    pub(crate) trunk_udp: Vec<Option<SocketAddr>>,
    /// A handle on the media relay, for its gauges.
    pub(crate) relay: RtpRelay,
    /// `guard.max_call_duration_secs`: a toll-fraud ceiling on every call.
    pub(crate) max_call: std::time::Duration,
    /// The trunks' names, for metric labels.
    pub(crate) trunk_names: Vec<String>,
    /// Each worker's B2BUA figures, published after every step it takes; a scrape sums
    /// them.
    pub(crate) stats: Vec<Mutex<WorkerStats>>,
}

/// One worker's B2BUA figures, as last published.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkerStats {
    counters: drawbridge_b2bua::Counters,
    calls_active: usize,
    dialogs: usize,
    transactions: usize,
    /// Per trunk: answers OPTIONS / is registered (worker 0 keeps the trunks; `None`
    /// elsewhere or when not known yet).
    trunk_up: Vec<Option<bool>>,
    trunk_registered: Vec<Option<bool>>,
}

/// How many signalling workers to run: `sip.workers`, else one per core the process may
/// use (at most 16), so calls spread over the cores while each call stays on one worker.
pub(crate) fn worker_count(config: &Config) -> usize {
    match config.sip.workers {
        Some(n) => usize::from(n).clamp(1, 64),
        None => std::thread::available_parallelism().map_or(1, |n| n.get().min(16)),
    }
}

/// Which of `workers` owns a received message (see [`drawbridge_b2bua::Shard`]); runs on
/// the transports' receive tasks, before any parse.
pub(crate) fn owner(bytes: &[u8], workers: usize) -> usize {
    drawbridge_b2bua::Shard::owner(&drawbridge_sip::route_key(bytes), workers)
}

/// Whether a received message would start new work (a new call, an out-of-dialog
/// request): what a busy worker's transports drop first, so calls under way finish.
pub(crate) fn starts_new_work(bytes: &[u8]) -> bool {
    drawbridge_sip::route_key(bytes).starts_new_work()
}

/// Inbound messages a worker handles before it sends what they produced (see
/// `Signalling::handle_backlog`): enough to amortise a round of sends, few enough that the
/// first message's answer waits at most a few milliseconds behind the others.
const BACKLOG_BATCH: usize = 32;

/// One signalling worker: its own B2BUA core (a share of the calls, chosen by
/// [`owner`]) and what it shares with the others.
pub(crate) struct Signalling {
    /// Which worker this is; worker 0 also keeps the trunks alive and renders metrics.
    pub(crate) index: usize,
    /// The B2BUA core (calls, dialogs, transactions).
    pub(crate) b2bua: B2bua,
    /// When each live call started (for the maximum call duration).
    pub(crate) started: HashMap<CallHandle, Instant>,
    /// What the workers share.
    pub(crate) shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guard's tables and the figures stay usable after a panicked holder.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Builds the view of the configuration of worker `shard`: its share of the call and
/// transaction caps, and its number in every identifier it mints.
pub(crate) fn b2bua_config(
    config: &Config,
    trunk_udp: &[Option<SocketAddr>],
    secret: u64,
    shard: drawbridge_b2bua::Shard,
) -> B2buaConfig {
    let public_host = config
        .sip
        .advertised_host
        .clone()
        .unwrap_or_else(|| "drawbridge.invalid".to_owned());
    let pbx_flow = Flow {
        id: udp_id(LAN, config.pbx.address),
        remote: config.pbx.address,
        transport: TransportKind::Udp,
    };
    let lan_host = if config.pbx.listen.ip().is_unspecified() {
        local_ip_towards(config.pbx.address)
            .map_or_else(|| config.pbx.listen.ip().to_string(), |ip| ip.to_string())
    } else {
        config.pbx.listen.ip().to_string()
    };
    let trunks = config
        .trunk
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let remote = trunk_udp
                .get(i)
                .copied()
                .flatten()
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], t.effective_port())));
            let listen = match t.transport {
                Transport::Udp => config.sip.listen_udp,
                Transport::Tcp => config.sip.listen_tcp,
                Transport::Tls => config.sip.listen_tls,
            };
            Trunk {
                name: t.name.clone(),
                host: t.host.clone(),
                flow: Flow {
                    id: udp_id(0, remote),
                    remote,
                    transport: kind(t.transport),
                },
                credentials: t.credentials.as_ref().and_then(|c| {
                    let password = match (&c.password_file, &c.password_env) {
                        (Some(p), _) => std::fs::read_to_string(p).ok()?.lines().next()?.to_owned(),
                        (None, Some(v)) => std::env::var(v).ok()?,
                        (None, None) => return None,
                    };
                    Some(drawbridge_b2bua::Credentials {
                        username: c.username.clone(),
                        password,
                    })
                }),
                advertised: Advertised {
                    host: public_host.clone(),
                    port: listen.map_or(5061, |a| a.port()),
                },
                options_interval: (t.options_interval_secs > 0)
                    .then(|| std::time::Duration::from_secs(u64::from(t.options_interval_secs))),
                // One hour, refreshed at half what the provider grants.
                register_expires: t.register.then_some(t.register_expires_secs),
            }
        })
        .collect();
    let mut c = B2buaConfig::new(
        Pbx {
            domain: config.pbx.domain.clone(),
            flow: pbx_flow,
            advertised: Advertised {
                host: lan_host,
                port: config.pbx.listen.port(),
            },
        },
        trunks,
    );
    c.secret = secret;
    c.user_agent = None;
    c.shard = shard;
    let workers = shard.count();
    c.max_calls = usize::try_from(config.guard.max_concurrent_calls)
        .unwrap_or(usize::MAX)
        .div_ceil(workers);
    // A UDP call keeps about 110 transaction-seconds of state after it ends (Timers L, M,
    // J, K wait out retransmissions), so the transaction cap must follow the call rate
    // the guard admits, or calls fail above ~cap/110 per second.
    let per_rate = u64::from(config.guard.max_calls_per_second) * 110;
    let per_calls = u64::from(config.guard.max_concurrent_calls) * 4;
    let cap = usize::try_from((per_rate + per_calls).max(10_000))
        .unwrap_or(usize::MAX)
        .div_ceil(workers);
    c.transactions.set_max_transactions(cap);
    c.limits = drawbridge_sip::Limits {
        max_message_size: config.guard.max_message_size,
        max_headers: config.guard.max_headers,
        max_via: config.guard.max_via,
        max_line_length: config.guard.max_line_length,
    };
    c
}

/// The source address the kernel would use towards `dst` (no packet is sent).
pub(crate) fn local_ip_towards(dst: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if dst.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect(dst).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

impl Signalling {
    /// Runs until the inbound channels close.
    pub(crate) async fn run(
        mut self,
        mut from_trunks: mpsc::Receiver<Inbound>,
        mut from_lan: mpsc::Receiver<Inbound>,
        mut media_events: mpsc::Receiver<drawbridge_media::MediaEvent>,
        mut trunk_flows: mpsc::Receiver<TrunkFlow>,
        mut flow_events: broadcast::Receiver<FlowEvent>,
    ) {
        let mut flow_events_open = true;
        let mut metrics_tick = tokio::time::interval(std::time::Duration::from_secs(1));
        // First OPTIONS keep-alives and REGISTERs of the trunks: one worker owns them.
        if self.index == 0 {
            self.b2bua.start(Instant::now());
        }
        self.flush().await;
        self.publish();
        // One timer for the worker's life, moved only when the B2BUA's next deadline
        // changes: a fresh `sleep_until` per message was a timer-wheel insert and removal
        // per SIP message.
        let far = || tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
        let timer = tokio::time::sleep_until(far());
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            let wake = self.b2bua.poll_timeout();
            if wake != armed {
                armed = wake;
                timer
                    .as_mut()
                    .reset(wake.map_or_else(far, tokio::time::Instant::from_std));
            }
            tokio::select! {
                // Connection events first: a provider's new connection is known before its
                // first message, and a closed one before a message that needs its dialogs.
                Some(m) = from_trunks.recv() => {
                    self.drain_flow_events(&mut flow_events);
                    self.handle_outside(m).await;
                    self.handle_backlog(&mut from_trunks, &mut from_lan, &mut flow_events).await;
                }
                Some(m) = from_lan.recv() => {
                    self.drain_flow_events(&mut flow_events);
                    self.handle_pbx(m).await;
                    self.handle_backlog(&mut from_trunks, &mut from_lan, &mut flow_events).await;
                }
                r = flow_events.recv(), if flow_events_open => match r {
                    Ok(e) => self.on_flow_event(e),
                    Err(broadcast::error::RecvError::Lagged(n)) => lagged(n),
                    Err(broadcast::error::RecvError::Closed) => flow_events_open = false,
                },
                Some(t) = trunk_flows.recv() => {
                    if self.index == 0 {
                        tracing::info!(trunk = t.trunk, remote = %t.flow.remote, "trunk connection up; calls to it use it");
                    }
                    self.b2bua.set_trunk_flow(Instant::now(), t.trunk, Flow {
                        id: FlowId(t.flow.id.0 & ID_MASK),
                        remote: t.flow.remote,
                        transport: kind(t.flow.transport),
                    });
                }
                Some(e) = media_events.recv() => {
                    if let drawbridge_media::MediaEvent::TimedOut { tag, idle, .. } = e {
                        let call = CallHandle(tag);
                        if self.b2bua.hang_up(Instant::now(), call) {
                            tracing::info!(call = tag, idle_secs = idle.as_secs(), "no RTP in either direction: call ended");
                        }
                    }
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.b2bua.handle_timeout(Instant::now());
                }
                _ = metrics_tick.tick() => self.tick(),
                else => break,
            }
            self.flush().await;
            self.publish();
        }
    }

    /// Handles the messages already waiting in the inbound channels, up to [`BACKLOG_BATCH`],
    /// before the caller sends what they produced. Under load the B2BUA's output then
    /// leaves in bursts: fewer wake-ups of the peers' processes per message, and one
    /// round of the select loop (timer, figures) per burst instead of per message. An idle
    /// worker finds the channels empty and sends at once, so no latency is added. Trunk
    /// and LAN messages alternate, so neither side starves the other; each side's own
    /// order is kept, and the B2BUA sends its output in the order it produced it.
    async fn handle_backlog(
        &mut self,
        from_trunks: &mut mpsc::Receiver<Inbound>,
        from_lan: &mut mpsc::Receiver<Inbound>,
        flow_events: &mut broadcast::Receiver<FlowEvent>,
    ) {
        let mut handled = 1;
        while handled < BACKLOG_BATCH {
            let mut any = false;
            if let Ok(m) = from_trunks.try_recv() {
                self.drain_flow_events(flow_events);
                self.handle_outside(m).await;
                handled += 1;
                any = true;
            }
            if let Ok(m) = from_lan.try_recv() {
                self.drain_flow_events(flow_events);
                self.handle_pbx(m).await;
                handled += 1;
                any = true;
            }
            if !any {
                break;
            }
        }
    }

    /// Hands every connection event already announced to the B2BUA.
    fn drain_flow_events(&mut self, events: &mut broadcast::Receiver<FlowEvent>) {
        loop {
            match events.try_recv() {
                Ok(e) => self.on_flow_event(e),
                Err(broadcast::error::TryRecvError::Lagged(n)) => lagged(n),
                Err(_) => return,
            }
        }
    }

    /// A trunk connection opened or closed: the B2BUA re-pins a provider's dialogs from
    /// its closed connection to its new one (same trunk, same IP; see
    /// `B2bua::flow_opened`). Our own connections to trunks reach it through
    /// `set_trunk_flow` instead.
    fn on_flow_event(&mut self, e: FlowEvent) {
        let now = Instant::now();
        match e {
            FlowEvent::Opened(f) if !f.outbound => {
                let flow = Flow {
                    id: FlowId(f.id.0 & ID_MASK),
                    remote: f.remote,
                    transport: kind(f.transport),
                };
                self.b2bua
                    .flow_opened(now, flow, Side::Outside(Outside::Trunk(f.trunk)));
            }
            FlowEvent::Closed(f) => self.b2bua.flow_closed(now, FlowId(f.id.0 & ID_MASK)),
            _ => {}
        }
    }

    /// Once a second: guard timers (worker 0), maximum call duration, figures, metrics.
    fn tick(&mut self) {
        let now = Instant::now();
        if self.index == 0 {
            lock(&self.shared.guard).handle_timeout(now);
        }
        let max_call = self.shared.max_call;
        let over: Vec<CallHandle> = self
            .started
            .iter()
            .filter(|(_, t)| now.duration_since(**t) > max_call)
            .map(|(c, _)| *c)
            .collect();
        for call in over {
            self.started.remove(&call);
            if self.b2bua.hang_up(now, call) {
                tracing::warn!(
                    call = call.0,
                    max_secs = max_call.as_secs(),
                    "maximum call duration reached: call ended"
                );
            }
        }
    }

    /// Publishes this worker's figures for the metrics endpoint (cheap: no allocation once
    /// the trunk lists have their length).
    fn publish(&self) {
        let Some(stats) = self.shared.stats.get(self.index) else {
            return;
        };
        let mut s = lock(stats);
        s.counters = self.b2bua.counters();
        s.calls_active = self.b2bua.calls_active();
        s.dialogs = self.b2bua.dialogs();
        s.transactions = self.b2bua.transactions();
        let trunks = self.b2bua.config().trunks.len();
        s.trunk_up.resize(trunks, None);
        s.trunk_registered.resize(trunks, None);
        for i in 0..trunks {
            s.trunk_up[i] = self.b2bua.trunk_up(i);
            s.trunk_registered[i] = self.b2bua.trunk_registered(i);
        }
    }

    async fn handle_outside(&mut self, m: Inbound) {
        let now = Instant::now();
        let flow = b2bua_flow(0, &m);
        let side = Side::Outside(Outside::Trunk(m.trunk));
        let parsed = match self.parse(&m) {
            Ok(p) => p,
            Err(answer) => {
                if let Some(bytes) = answer {
                    let _ = self.shared.trunks.send(m.flow, bytes).await;
                }
                return;
            }
        };
        if let rsip::SipMessage::Request(req) = &parsed {
            let facts = facts(req);
            let facts = RequestFacts {
                method: &facts.0,
                user_agent: facts.1.as_deref(),
                from_user: facts.2.as_deref(),
                to_user: facts.3.as_deref(),
                ruri_user: facts.4.as_deref(),
                auth_user: None,
            };
            let verdict = {
                let mut guard = lock(&self.shared.guard);
                let v = guard.check_request(now, Source::Ip(m.remote.ip()), &facts);
                log_security_events(&mut guard);
                v
            };
            match verdict {
                Verdict::Allow => {}
                Verdict::DropSilently(reason) => {
                    tracing::info!(source = %m.remote, reason = ?reason, "request dropped by the guard");
                    return;
                }
                Verdict::Reject { status, reason } => {
                    tracing::info!(source = %m.remote, reason = ?reason, status, "request rejected by the guard");
                    let r = drawbridge_sip::response_to(req, status, "Forbidden", None);
                    let _ = self
                        .shared
                        .trunks
                        .send(m.flow, drawbridge_sip::to_bytes(&r))
                        .await;
                    return;
                }
            }
        }
        if let Err(e) = self.b2bua.handle_parsed(now, parsed, flow, side) {
            tracing::debug!(source = %m.remote, error = %e, "message not handled");
        }
    }

    async fn handle_pbx(&mut self, m: Inbound) {
        let now = Instant::now();
        let flow = b2bua_flow(LAN, &m);
        let parsed = match self.parse(&m) {
            Ok(p) => p,
            Err(answer) => {
                if let Some(bytes) = answer {
                    let _ = self.shared.lan.send(m.flow, bytes).await;
                }
                return;
            }
        };
        // Toll-fraud check on new outbound calls: the dialled number must pass the policy.
        if let rsip::SipMessage::Request(req) = &parsed
            && req.method == rsip::Method::Invite
            && req
                .to_header()
                .ok()
                .and_then(|t| t.tag().ok().flatten())
                .is_none()
        {
            let dialled = req.uri.user().map(ToString::to_string).unwrap_or_default();
            let verdict = {
                let mut guard = lock(&self.shared.guard);
                let v = guard.check_dial(None, &dialled);
                log_security_events(&mut guard);
                v
            };
            if let DialVerdict::Denied { number, reason } = verdict {
                tracing::warn!(number = %number, reason = ?reason, "outbound call refused by the dial policy");
                let r = drawbridge_sip::response_to(req, 403, "Forbidden", Some("dialpolicy"));
                let _ = self
                    .shared
                    .lan
                    .send(m.flow, drawbridge_sip::to_bytes(&r))
                    .await;
                return;
            }
        }
        if let Err(e) = self.b2bua.handle_parsed(now, parsed, flow, Side::Pbx) {
            tracing::debug!(source = %m.remote, error = %e, "message from the PBX not handled");
        }
    }

    /// Parses one message from a trusted source (a trunk's allowlisted address or the PBX).
    /// What does not parse is answered when it was a request with enough of a header to
    /// answer (400, or 501/505/416/513 as the error says), else dropped: `Err(answer)`.
    fn parse(&self, m: &Inbound) -> Result<rsip::SipMessage, Option<Vec<u8>>> {
        let limits = &self.b2bua.config().limits;
        drawbridge_sip::parse_message(&m.bytes, limits).map_err(|e| {
            tracing::info!(source = %m.remote, transport = m.transport.as_str(), error = %e, "unparseable SIP");
            let code = e.status_code()?;
            let reason = match code {
                501 => "Not Implemented",
                505 => "Version Not Supported",
                416 => "Unsupported URI Scheme",
                513 => "Message Too Large",
                _ => "Bad Request",
            };
            drawbridge_sip::peek(&m.bytes, limits).map(|p| p.response(code, reason, None))
        })
    }

    /// Sends everything the B2BUA queued, in order.
    async fn flush(&mut self) {
        while let Some(t) = self.b2bua.poll_transmit() {
            let bytes = &t.bytes[..];
            let id = t.flow.id.0;
            let (transports, trunk) = if id & LAN != 0 {
                (&self.shared.lan, 0)
            } else {
                (&self.shared.trunks, self.trunk_of(t.flow.remote))
            };
            if id & UDP_NAMED != 0 && t.flow.transport != TransportKind::Udp {
                // A TCP/TLS trunk before its first connection: its flow is a placeholder,
                // and sending over UDP instead would leak what must go over TLS.
                tracing::debug!(remote = %t.flow.remote, "no connection to the trunk yet; SIP message not sent");
                if let Some(tx) = t.transaction {
                    self.b2bua.handle_transport_error(Instant::now(), tx);
                }
                continue;
            }
            let result = if id & UDP_NAMED != 0 || t.flow.transport == TransportKind::Udp {
                transports
                    .send_to(trunk, t.flow.remote, bytes)
                    .await
                    .map(drop)
            } else {
                transports
                    .send(drawbridge_transport::sip::FlowId(id & ID_MASK), bytes)
                    .await
            };
            if let Err(e) = result {
                tracing::info!(remote = %t.flow.remote, error = %e, "SIP message not sent");
                if let Some(tx) = t.transaction {
                    self.b2bua.handle_transport_error(Instant::now(), tx);
                }
            }
        }
        while let Some(e) = self.b2bua.poll_event() {
            match e {
                B2buaEvent::CallStarted {
                    call,
                    from,
                    to,
                    caller,
                    callee,
                } => {
                    self.started.insert(call, Instant::now());
                    tracing::info!(call = call.0, ?from, ?to, caller = %caller, callee = %callee, "call started");
                }
                B2buaEvent::CallAnswered { call } => tracing::info!(call = call.0, "call answered"),
                B2buaEvent::CallEnded { call, status } => {
                    self.started.remove(&call);
                    tracing::info!(call = call.0, status, "call ended")
                }
                B2buaEvent::Forged { side, flow, method } => {
                    tracing::warn!(?side, remote = %flow.remote, ?method, "in-dialog message from a source that is not the dialog's: dropped");
                }
                B2buaEvent::TrunkUp { trunk } => {
                    tracing::info!(trunk = %self.trunk_name(trunk), "trunk answers OPTIONS: up");
                }
                B2buaEvent::TrunkDown { trunk, reason } => {
                    tracing::warn!(trunk = %self.trunk_name(trunk), reason = reason.as_str(), "trunk does not answer OPTIONS: down");
                }
                B2buaEvent::TrunkRegistered { trunk, expires } => {
                    tracing::info!(trunk = %self.trunk_name(trunk), expires_secs = expires, "trunk registered with the provider");
                }
                B2buaEvent::TrunkRegistrationFailed { trunk, status } => {
                    tracing::warn!(trunk = %self.trunk_name(trunk), status, "trunk registration failed; retrying later");
                }
                B2buaEvent::ConnectionLost { side, flow, calls } => {
                    tracing::info!(trunk = %self.side_name(side), flow = flow.id.0, remote = %flow.remote, calls, "connection closed under live calls; they wait for the provider's next connection");
                }
                B2buaEvent::DialogRepinned {
                    call,
                    side,
                    old,
                    new,
                } => {
                    tracing::info!(
                        trunk = %self.side_name(side),
                        call = call.0,
                        old_flow = old.id.0,
                        old_remote = %old.remote,
                        new_flow = new.id.0,
                        new_remote = %new.remote,
                        "dialog re-pinned to the provider's new connection"
                    );
                }
                other => tracing::debug!(event = ?other, "b2bua event"),
            }
        }
    }

    fn trunk_name(&self, trunk: usize) -> &str {
        self.b2bua
            .config()
            .trunks
            .get(trunk)
            .map_or("?", |t| t.name.as_str())
    }

    /// A trunk's name, or what the side is.
    fn side_name(&self, side: Side) -> &str {
        match side {
            Side::Outside(Outside::Trunk(i)) => self.trunk_name(i),
            Side::Outside(Outside::Peer(_)) => "tunnel peer",
            Side::Pbx => "pbx",
        }
    }

    fn trunk_of(&self, remote: SocketAddr) -> usize {
        self.shared
            .trunk_udp
            .iter()
            .position(|a| *a == Some(remote))
            .unwrap_or(0)
    }
}

impl Shared {
    /// The Prometheus text of every core: the guard, the workers' B2BUA figures summed,
    /// the trunks' state, the SIP transports and the media relay. Rendered per scrape.
    pub(crate) fn render_metrics(&self) -> String {
        let mut out = String::new();
        lock(&self.guard).render_prometheus(&mut out);
        let mut trunk_up: Vec<Option<bool>> = vec![None; self.trunk_names.len()];
        let mut trunk_registered = trunk_up.clone();
        let total = self
            .stats
            .iter()
            .fold(WorkerStats::default(), |mut acc, s| {
                let s = lock(s);
                let (a, b) = (&mut acc.counters, &s.counters);
                a.calls_started += b.calls_started;
                a.calls_answered += b.calls_answered;
                a.calls_refused += b.calls_refused;
                a.forged_in_dialog += b.forged_in_dialog;
                a.stray_responses += b.stray_responses;
                a.auth_retries += b.auth_retries;
                a.parse_errors += b.parse_errors;
                a.dialogs_repinned += b.dialogs_repinned;
                for (all, one) in [
                    (&mut trunk_up, &s.trunk_up),
                    (&mut trunk_registered, &s.trunk_registered),
                ] {
                    for (a, o) in all.iter_mut().zip(one) {
                        *a = a.or(*o);
                    }
                }
                acc.calls_active += s.calls_active;
                acc.dialogs += s.dialogs;
                acc.transactions += s.transactions;
                acc
            });
        let c = total.counters;
        for (name, v) in [
            ("calls_started", c.calls_started),
            ("calls_answered", c.calls_answered),
            ("calls_refused", c.calls_refused),
            ("forged_in_dialog", c.forged_in_dialog),
            ("stray_responses", c.stray_responses),
            ("auth_retries", c.auth_retries),
            ("parse_errors", c.parse_errors),
            ("dialogs_repinned", c.dialogs_repinned),
        ] {
            out.push_str(&format!(
                "# TYPE drawbridge_b2bua_{name}_total counter\ndrawbridge_b2bua_{name}_total {v}\n"
            ));
        }
        for (name, v) in [
            ("calls_active", total.calls_active),
            ("dialogs", total.dialogs),
            ("transactions", total.transactions),
            ("workers", self.stats.len()),
        ] {
            out.push_str(&format!(
                "# TYPE drawbridge_b2bua_{name} gauge\ndrawbridge_b2bua_{name} {v}\n"
            ));
        }
        for (metric, states) in [
            ("trunk_up", &trunk_up),
            ("trunk_registered", &trunk_registered),
        ] {
            let known: Vec<(String, bool)> = self
                .trunk_names
                .iter()
                .zip(states)
                .filter_map(|(name, v)| v.map(|v| (label_value(name), v)))
                .collect();
            if !known.is_empty() {
                out.push_str(&format!("# TYPE drawbridge_{metric} gauge\n"));
            }
            for (name, v) in known {
                out.push_str(&format!(
                    "drawbridge_{metric}{{trunk=\"{name}\"}} {}\n",
                    u8::from(v)
                ));
            }
        }
        for (prefix, t) in [("sip", &self.trunks), ("lan_sip", &self.lan)] {
            for (name, v) in t.counters().snapshot().pairs() {
                if name == "connections_open" {
                    out.push_str(&format!(
                        "# TYPE drawbridge_{prefix}_{name} gauge\ndrawbridge_{prefix}_{name} {v}\n"
                    ));
                } else {
                    out.push_str(&format!("# TYPE drawbridge_{prefix}_{name}_total counter\ndrawbridge_{prefix}_{name}_total {v}\n"));
                }
            }
        }
        let relay = &self.relay;
        out.push_str(&format!(
            "# TYPE drawbridge_media_open_sockets gauge\ndrawbridge_media_open_sockets {}\n",
            relay.open_sockets()
        ));
        out.push_str(&format!(
            "# TYPE drawbridge_media_parked_sockets gauge\ndrawbridge_media_parked_sockets {}\n",
            relay.parked_sockets()
        ));
        out.push_str(&format!(
            "# TYPE drawbridge_media_descriptors gauge\ndrawbridge_media_descriptors {}\n",
            relay.media_descriptors()
        ));
        let (sessions, timeouts, unknown) = relay.counters().iter().fold((0, 0, 0), |acc, c| {
            (
                acc.0 + c.sessions,
                acc.1 + c.timeouts,
                acc.2 + c.unknown_port,
            )
        });
        out.push_str(&format!(
            "# TYPE drawbridge_media_sessions gauge\ndrawbridge_media_sessions {sessions}\n\
             # TYPE drawbridge_media_timeouts_total counter\ndrawbridge_media_timeouts_total {timeouts}\n\
             # TYPE drawbridge_media_unknown_port_total counter\ndrawbridge_media_unknown_port_total {unknown}\n"
        ));
        out
    }
}

/// A worker fell behind the connection events: some were lost.
fn lagged(n: u64) {
    tracing::warn!(
        missed = n,
        "signalling worker missed connection events; dialogs of connections closed meanwhile stay pinned to them"
    );
}

fn log_security_events(guard: &mut Guard) {
    while let Some(e) = guard.poll_event() {
        tracing::warn!(target: "drawbridge::security", event = ?e, "security event");
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A connection to a trunk provider that requests to it now go over.
#[derive(Debug, Clone)]
pub(crate) struct TrunkFlow {
    trunk: usize,
    flow: drawbridge_transport::sip::Flow,
}

/// Keeps a TCP/TLS connection open to each trunk that uses one, and reports every new
/// connection to the signalling task (which points the B2BUA's trunk flow at it). A trunk
/// that cannot be reached is retried with backoff (1 s doubling to 60 s).
pub(crate) fn spawn_trunk_connectors(
    config: &Config,
    trunks: SipTransports,
    report: mpsc::Sender<TrunkFlow>,
) {
    for (i, t) in config.trunk.iter().enumerate() {
        if t.transport == Transport::Udp {
            continue;
        }
        let (host, port, transport, name) = (
            t.host.clone(),
            t.effective_port(),
            t.transport,
            t.name.clone(),
        );
        let trunks = trunks.clone();
        let report = report.clone();
        tokio::spawn(async move {
            let mut backoff = std::time::Duration::from_secs(1);
            loop {
                match trunks.connect(i, &host, port, transport).await {
                    Ok(id) => {
                        backoff = std::time::Duration::from_secs(1);
                        if let Some(flow) = trunks.flow(id)
                            && report.send(TrunkFlow { trunk: i, flow }).await.is_err()
                        {
                            return;
                        }
                        // Watch the connection; when it closes, connect again.
                        while trunks.flow(id).is_some() {
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                        tracing::info!(trunk = %name, "trunk connection closed; reconnecting");
                    }
                    Err(e) => {
                        tracing::warn!(trunk = %name, host = %host, port, error = %e, retry_in = ?backoff, "cannot connect to the trunk");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(60));
                    }
                }
            }
        });
    }
}

/// (method, User-Agent, From user, To user, R-URI user) of a request, owned.
type Facts = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// What the guard needs of a request from a trunk source. The users are read only for a
/// REGISTER: for an address source (`Source::Ip`) the guard counts them towards
/// enumeration for REGISTER alone, and reading them costs a typed parse of From and To.
fn facts(req: &rsip::Request) -> Facts {
    let ua = req.headers.iter().find_map(|h| match h {
        rsip::Header::UserAgent(u) => Some(u.value().to_owned()),
        _ => None,
    });
    let (from, to, ruri) = if req.method == rsip::Method::Register {
        let user_of = |uri: Option<rsip::Uri>| uri.and_then(|u| u.user().map(ToString::to_string));
        (
            user_of(req.from_header().ok().and_then(|f| f.uri().ok())),
            user_of(req.to_header().ok().and_then(|t| t.uri().ok())),
            req.uri.user().map(ToString::to_string),
        )
    } else {
        (None, None, None)
    };
    (req.method.to_string(), ua, from, to, ruri)
}

/// The guard's call admission (calls per second, concurrent calls globally and per
/// trunk) as the B2BUA asks it: one ticket per admitted call, handed back when it ends.
pub(crate) struct GuardAdmission {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tickets: HashMap<CallHandle, drawbridge_guard::CallTicket>,
}

impl drawbridge_b2bua::CallAdmission for GuardAdmission {
    fn admit(&mut self, now: Instant, call: CallHandle, from: Side, to: Side) -> Result<(), u16> {
        let trunk = [from, to].into_iter().find_map(|s| match s {
            Side::Outside(Outside::Trunk(i)) => u16::try_from(i).ok(),
            _ => None,
        });
        let scope = drawbridge_guard::CallScope {
            trunk: trunk.map(drawbridge_guard::TrunkId),
            peer: None,
        };
        let mut guard = lock(&self.shared.guard);
        let result = guard.admit_call(now, scope);
        log_security_events(&mut guard);
        match result {
            Ok(ticket) => {
                self.tickets.insert(call, ticket);
                Ok(())
            }
            Err(rejection) => {
                tracing::warn!(call = call.0, ?from, ?to, reason = %rejection, "call refused by admission control");
                Err(rejection.status())
            }
        }
    }

    fn release(&mut self, call: CallHandle) {
        if let Some(ticket) = self.tickets.remove(&call) {
            lock(&self.shared.guard).release(ticket);
        }
    }
}

/// The media side of the B2BUA: one relay session per call and m-line.
pub(crate) struct CallMedia {
    pub(crate) relay: RtpRelay,
    /// Interface and SDP address facing the trunks.
    pub(crate) public: (InterfaceId, IpAddr),
    /// Interface and SDP address facing the PBX.
    pub(crate) lan: (InterfaceId, IpAddr),
    pub(crate) calls: HashMap<CallHandle, CallStreams>,
    /// Per trunk: its media comes from behind NAT (`trunk.media_nat`).
    pub(crate) trunk_nat: Vec<bool>,
}

/// The relay sessions of one call: leg A faces the side that sent the first offer.
pub(crate) struct CallStreams {
    a_side: Side,
    sessions: Vec<(RelaySession, [LocalPorts; 2])>,
}

#[derive(Clone, Copy)]
struct LocalPorts {
    rtp: u16,
    rtcp: u16,
}

fn face(side: Side) -> bool {
    matches!(side, Side::Pbx)
}

/// How a stream from `side` is latched: strictly to its SDP address, or — for a trunk
/// behind NAT — to the first packet from the address its signalling came from.
fn latch_for(side: Side, trunk_nat: &[bool], signalled_from: SocketAddr) -> LatchMode {
    match side {
        Side::Outside(Outside::Trunk(i)) if trunk_nat.get(i).copied().unwrap_or(false) => {
            LatchMode::LatchOnce {
                allowed: ipnet::IpNet::from(signalled_from.ip()),
            }
        }
        _ => LatchMode::Strict,
    }
}

fn remote_spec(m: &MediaInfo, latch: LatchMode) -> RemoteSpec {
    let dir = match m.direction {
        Direction::SendRecv => MDirection::SendRecv,
        Direction::SendOnly => MDirection::SendOnly,
        Direction::RecvOnly => MDirection::RecvOnly,
        Direction::Inactive => MDirection::Inactive,
    };
    let addr = m
        .address
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let rtcp = m
        .rtcp
        .as_ref()
        .map(|r| SocketAddr::new(r.address.unwrap_or(addr), r.port));
    RemoteSpec::from_sdp(addr, m.port, rtcp, dir, latch)
}

impl CallMedia {
    fn iface(&self, side: Side) -> (InterfaceId, IpAddr) {
        if face(side) { self.lan } else { self.public }
    }
}

impl MediaAllocator for CallMedia {
    fn relay(
        &mut self,
        call: CallHandle,
        from: Side,
        to: Side,
        remote: &[MediaInfo],
        signalled_from: SocketAddr,
    ) -> Result<MediaAnchor, MediaRefused> {
        let (to_iface, to_addr) = self.iface(to);
        let latch = latch_for(from, &self.trunk_nat, signalled_from);
        if !self.calls.contains_key(&call) {
            // First offer: leg A faces `from`, leg B faces `to`.
            let (from_iface, _) = self.iface(from);
            let mut sessions = Vec::new();
            for m in remote {
                let a = LegSpec {
                    interface: from_iface,
                    remote: remote_spec(m, latch),
                };
                let b = LegSpec {
                    interface: to_iface,
                    remote: RemoteSpec::pending(LatchMode::Strict),
                };
                match self.relay.create_session(call.0, a, b) {
                    Ok((s, info)) => sessions.push((
                        s,
                        [
                            LocalPorts {
                                rtp: info.local[0].rtp_port,
                                rtcp: info.local[0].rtcp_port,
                            },
                            LocalPorts {
                                rtp: info.local[1].rtp_port,
                                rtcp: info.local[1].rtcp_port,
                            },
                        ],
                    )),
                    Err(e) => {
                        tracing::warn!(call = call.0, error = %e, "media not anchored");
                        for (s, _) in sessions {
                            let _ = self.relay.remove_session(s);
                        }
                        return Err(MediaRefused::Exhausted);
                    }
                }
            }
            self.calls.insert(
                call,
                CallStreams {
                    a_side: from,
                    sessions,
                },
            );
        }
        let Some(streams) = self.calls.get_mut(&call) else {
            return Err(MediaRefused::NotAcceptable("unknown call"));
        };
        // The party on `from` now told us where it wants media.
        let from_leg = if streams.a_side == from {
            Leg::A
        } else {
            Leg::B
        };
        let to_index = if streams.a_side == to { 0 } else { 1 };
        let mut ports = Vec::new();
        for (i, m) in remote.iter().enumerate() {
            let Some((s, local)) = streams.sessions.get(i) else {
                return Err(MediaRefused::NotAcceptable(
                    "more m-lines than the first offer",
                ));
            };
            let _ = self
                .relay
                .update_remote(*s, from_leg, remote_spec(m, latch));
            let l = local[to_index];
            ports.push(MediaPorts {
                rtp: l.rtp,
                rtcp: Some(l.rtcp),
            });
        }
        Ok(MediaAnchor {
            address: to_addr,
            ports,
        })
    }

    fn release(&mut self, call: CallHandle) {
        if let Some(streams) = self.calls.remove(&call) {
            for (s, _) in streams.sessions {
                let _ = self.relay.remove_session(s);
            }
        }
    }
}
