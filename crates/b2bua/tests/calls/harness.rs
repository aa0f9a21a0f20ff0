//! A virtual-clock harness around one `B2bua`: a trunk (TLS), the PBX (UDP), a fake
//! media allocator, and every byte sent kept per destination.

#![allow(dead_code)] // not every test file uses every helper
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drawbridge_b2bua::{
    Advertised, B2bua, B2buaConfig, B2buaEvent, CallHandle, Credentials, Flow, MediaAllocator,
    MediaAnchor, MediaRefused, Pbx, Side, TransactionId, TransportKind, Trunk,
};
use drawbridge_sip::sdp::{MediaInfo, MediaPorts};
use drawbridge_sip::{Limits, parse_message};
use rsip::{Request, Response, SipMessage};

pub(crate) const PBX_FLOW: u64 = 10;
pub(crate) const TRUNK_FLOW: u64 = 20;
/// Our public name towards the trunk and our LAN address towards the PBX.
pub(crate) const PUBLIC_HOST: &str = "sbc.example.com";
pub(crate) const LAN_HOST: &str = "198.19.0.1";
/// Media addresses the fake allocator hands out.
pub(crate) const PUBLIC_MEDIA: &str = "198.18.10.1";
pub(crate) const LAN_MEDIA: &str = "198.19.0.2";

pub(crate) fn pbx_flow() -> Flow {
    Flow::new(
        PBX_FLOW,
        "198.19.5.5:5060".parse().unwrap(),
        TransportKind::Udp,
    )
}
pub(crate) fn trunk_flow() -> Flow {
    Flow::new(
        TRUNK_FLOW,
        "198.18.7.7:5061".parse().unwrap(),
        TransportKind::Tls,
    )
}
/// Another connection from an address that is not the trunk's.
pub(crate) fn rogue_flow() -> Flow {
    Flow::new(99, "198.18.66.66:5061".parse().unwrap(), TransportKind::Tls)
}

/// What the fake media layer saw.
#[derive(Debug, Default)]
pub(crate) struct MediaLog {
    pub(crate) relays: Vec<(CallHandle, Side, Side, Vec<MediaInfo>)>,
    /// Where the signalling of each relayed SDP came from (same order as `relays`).
    pub(crate) sources: Vec<SocketAddr>,
    pub(crate) released: Vec<CallHandle>,
}

/// Allocates RTP ports from 40000 up, stable per (call, towards, m-line).
pub(crate) struct FakeMedia {
    log: Arc<Mutex<MediaLog>>,
    ports: HashMap<(CallHandle, bool, usize), u16>,
    next: u16,
}

impl MediaAllocator for FakeMedia {
    fn relay(
        &mut self,
        call: CallHandle,
        from: Side,
        to: Side,
        remote: &[MediaInfo],
        signalled_from: SocketAddr,
    ) -> Result<MediaAnchor, MediaRefused> {
        let mut log = self.log.lock().unwrap();
        log.relays.push((call, from, to, remote.to_vec()));
        log.sources.push(signalled_from);
        drop(log);
        let address: IpAddr = if to.is_pbx() { LAN_MEDIA } else { PUBLIC_MEDIA }
            .parse()
            .unwrap();
        let mut ports = Vec::new();
        for i in 0..remote.len() {
            let next = &mut self.next;
            let p = *self.ports.entry((call, to.is_pbx(), i)).or_insert_with(|| {
                *next += 2;
                *next
            });
            ports.push(MediaPorts {
                rtp: p,
                rtcp: Some(p + 1),
            });
        }
        Ok(MediaAnchor { address, ports })
    }

    fn release(&mut self, call: CallHandle) {
        self.log.lock().unwrap().released.push(call);
    }
}

pub(crate) fn config() -> B2buaConfig {
    let pbx = Pbx {
        domain: "pbx.corp.example".into(),
        flow: pbx_flow(),
        advertised: Advertised {
            host: LAN_HOST.into(),
            port: 5060,
        },
    };
    let trunk = Trunk {
        name: "provider".into(),
        host: "sip.provider.example".into(),
        flow: trunk_flow(),
        credentials: Some(Credentials {
            username: "acct-1001".into(),
            password: "s3cret".into(),
        }),
        advertised: Advertised {
            host: PUBLIC_HOST.into(),
            port: 5061,
        },
        options_interval: None,
        register_expires: None,
    };
    let mut c = B2buaConfig::new(pbx, vec![trunk]);
    c.secret = 0x1234_5678_9abc_def0;
    c
}

/// One message the core sent.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub(crate) at_ms: u64,
    pub(crate) flow: Flow,
    pub(crate) bytes: Vec<u8>,
    pub(crate) message: SipMessage,
    /// The client or server transaction that sent it, if any.
    pub(crate) transaction: Option<TransactionId>,
}

impl Sent {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
    pub(crate) fn request(&self) -> Request {
        match &self.message {
            SipMessage::Request(r) => r.clone(),
            SipMessage::Response(_) => panic!("expected a request, got {}", self.text()),
        }
    }
    pub(crate) fn response(&self) -> Response {
        match &self.message {
            SipMessage::Response(r) => r.clone(),
            SipMessage::Request(_) => panic!("expected a response, got {}", self.text()),
        }
    }
    pub(crate) fn code(&self) -> Option<u16> {
        match &self.message {
            SipMessage::Response(r) => Some(r.status_code.code()),
            SipMessage::Request(_) => None,
        }
    }
    pub(crate) fn method(&self) -> Option<String> {
        match &self.message {
            SipMessage::Request(r) => Some(r.method.to_string()),
            SipMessage::Response(_) => None,
        }
    }
    /// The first header line named `name` (case-insensitive), value only.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        header_in(&self.text(), name)
    }
    pub(crate) fn body(&self) -> String {
        let t = self.text();
        t.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }
}

pub(crate) fn header_in(text: &str, name: &str) -> Option<String> {
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

pub(crate) struct Harness {
    pub(crate) b2bua: B2bua,
    pub(crate) start: Instant,
    pub(crate) now: Instant,
    pub(crate) sent: Vec<Sent>,
    /// Index of the first message not yet taken by `take`.
    taken: usize,
    pub(crate) events: Vec<B2buaEvent>,
    pub(crate) media: Arc<Mutex<MediaLog>>,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_config(config())
    }

    pub(crate) fn with_config(config: B2buaConfig) -> Self {
        let media = Arc::new(Mutex::new(MediaLog::default()));
        let fake = FakeMedia {
            log: media.clone(),
            ports: HashMap::new(),
            next: 40000,
        };
        // Only the starting point of the virtual clock; every later instant is derived.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        Self {
            b2bua: B2bua::new(config, Box::new(fake)),
            start: now,
            now,
            sent: Vec::new(),
            taken: 0,
            events: Vec::new(),
            media,
        }
    }

    fn collect(&mut self) {
        while let Some(t) = self.b2bua.poll_transmit() {
            let message = parse_message(&t.bytes, &Limits::default()).unwrap_or_else(|e| {
                panic!(
                    "core sent unparseable bytes ({e}):\n{}",
                    String::from_utf8_lossy(&t.bytes)
                )
            });
            self.sent.push(Sent {
                at_ms: (self.now - self.start).as_millis() as u64,
                flow: t.flow,
                bytes: t.bytes.to_vec(),
                message,
                transaction: t.transaction,
            });
        }
        while let Some(e) = self.b2bua.poll_event() {
            self.events.push(e);
        }
    }

    /// Starts trunk maintenance (keep-alives, registration) at the current instant.
    pub(crate) fn start(&mut self) {
        self.b2bua.start(self.now);
        self.collect();
    }

    /// The transport has a new connection to trunk 0.
    pub(crate) fn set_trunk_flow(&mut self, flow: Flow) {
        self.b2bua.set_trunk_flow(self.now, 0, flow);
        self.collect();
    }

    /// drawbridge ends `call` itself (media silence, maximum duration).
    pub(crate) fn hang_up(&mut self, call: CallHandle) -> bool {
        let ended = self.b2bua.hang_up(self.now, call);
        self.collect();
        ended
    }

    /// The transport reports connection `id` closed.
    pub(crate) fn flow_closed(&mut self, id: u64) {
        self.b2bua
            .flow_closed(self.now, drawbridge_b2bua::FlowId(id));
        self.collect();
    }

    /// The transport reports a new connection `flow` admitted for `side`.
    pub(crate) fn flow_opened(&mut self, flow: Flow, side: Side) {
        self.b2bua.flow_opened(self.now, flow, side);
        self.collect();
    }

    /// Reports a transport failure for transaction `tx`.
    pub(crate) fn transport_error(&mut self, tx: TransactionId) {
        self.b2bua.handle_transport_error(self.now, tx);
        self.collect();
    }

    pub(crate) fn trunk_sends(&mut self, text: &str) {
        self.deliver(text, trunk_flow(), Side::trunk(0));
    }
    pub(crate) fn pbx_sends(&mut self, text: &str) {
        self.deliver(text, pbx_flow(), Side::Pbx);
    }
    pub(crate) fn deliver(&mut self, text: &str, flow: Flow, side: Side) {
        self.b2bua
            .handle_message(self.now, text.as_bytes(), flow, side)
            .expect("test message parses");
        self.collect();
    }

    /// Advances the virtual clock by `d`, firing every deadline on the way in order.
    pub(crate) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(at) = self.b2bua.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.b2bua.handle_timeout(self.now);
            self.collect();
        }
        self.now = end;
    }

    /// Messages sent since the last `take`, in order.
    pub(crate) fn take(&mut self) -> Vec<Sent> {
        let out = self.sent[self.taken..].to_vec();
        self.taken = self.sent.len();
        out
    }

    /// Messages sent since the last `take` on flow `flow_id`; the others are dropped.
    pub(crate) fn take_to(&mut self, flow_id: u64) -> Vec<Sent> {
        self.take()
            .into_iter()
            .filter(|s| s.flow.id.0 == flow_id)
            .collect()
    }

    /// Drops every message kept so far (memory measurements).
    pub(crate) fn forget(&mut self) {
        self.sent = Vec::new();
        self.events = Vec::new();
        self.taken = 0;
    }

    /// Everything ever sent to `flow_id`, as one string (for leak checks).
    pub(crate) fn all_bytes_to(&self, flow_id: u64) -> String {
        self.sent
            .iter()
            .filter(|s| s.flow.id.0 == flow_id)
            .map(Sent::text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first media port of the last SDP from `from` the media layer was told about.
    pub(crate) fn last_media_port(&self, from: Side) -> Option<u16> {
        let media = self.media.lock().unwrap();
        media
            .relays
            .iter()
            .rev()
            .find(|(_, f, _, _)| *f == from)
            .map(|(_, _, _, info)| info[0].port)
    }

    pub(crate) fn remote(&self, id: u64) -> SocketAddr {
        if id == PBX_FLOW {
            pbx_flow().remote
        } else {
            trunk_flow().remote
        }
    }
}

/// The first message sent to `flow` among `sent`.
pub(crate) fn first_to(sent: &[Sent], flow: u64) -> Sent {
    sent.iter()
        .find(|s| s.flow.id.0 == flow)
        .unwrap_or_else(|| panic!("nothing to flow {flow}: {sent:#?}"))
        .clone()
}

/// The one message sent to `flow` among `sent`.
pub(crate) fn only_to(sent: &[Sent], flow: u64) -> Sent {
    let to: Vec<_> = sent.iter().filter(|s| s.flow.id.0 == flow).collect();
    assert_eq!(to.len(), 1, "one message to flow {flow}: {sent:#?}");
    to[0].clone()
}

/// The first response `code` sent to `flow` among `sent`.
pub(crate) fn code_to(sent: &[Sent], flow: u64, code: u16) -> Sent {
    sent.iter()
        .find(|s| s.flow.id.0 == flow && s.code() == Some(code))
        .unwrap_or_else(|| panic!("no {code} to flow {flow}: {sent:#?}"))
        .clone()
}

/// The first `method` request sent to `flow` among `sent`.
pub(crate) fn method_to(sent: &[Sent], flow: u64, method: &str) -> Sent {
    sent.iter()
        .find(|s| s.flow.id.0 == flow && s.method().as_deref() == Some(method))
        .unwrap_or_else(|| panic!("no {method} to flow {flow}: {sent:#?}"))
        .clone()
}

/// Nothing of either side in anything the other received.
pub(crate) fn assert_no_leaks(h: &Harness) {
    let (to_pbx, to_trunk) = (h.all_bytes_to(PBX_FLOW), h.all_bytes_to(TRUNK_FLOW));
    for secret in PROVIDER_SECRETS {
        assert!(!to_pbx.contains(secret), "{secret:?} leaked to the PBX");
    }
    for secret in PBX_SECRETS {
        assert!(!to_trunk.contains(secret), "{secret:?} leaked to the trunk");
    }
}

// ---- realistic messages ------------------------------------------------------------

/// The provider's SDP: ICE, a hostname-ish username, its media gateway address.
pub(crate) fn provider_sdp() -> String {
    "v=0\r\n\
     o=ProvMG 998877 1 IN IP4 198.18.7.20\r\n\
     s=ProviderSession\r\n\
     c=IN IP4 198.18.7.20\r\n\
     t=0 0\r\n\
     a=tool:provider-mg-7\r\n\
     m=audio 31000 RTP/AVP 8 0 101\r\n\
     a=rtpmap:8 PCMA/8000\r\n\
     a=rtpmap:0 PCMU/8000\r\n\
     a=rtpmap:101 telephone-event/8000\r\n\
     a=fmtp:101 0-15\r\n\
     a=rtcp:31001 IN IP4 198.18.7.21\r\n\
     a=ice-ufrag:provUfrag\r\n\
     a=ice-pwd:provPasswordProvPassword\r\n\
     a=candidate:1 1 UDP 2130706431 198.18.7.20 31000 typ host\r\n\
     a=ptime:20\r\n\
     a=sendrecv\r\n"
        .to_owned()
}

/// The PBX's SDP, version `v`, direction `dir`.
pub(crate) fn pbx_sdp(v: u32, dir: &str) -> String {
    format!(
        "v=0\r\n\
         o=asterisk-pbx01 1122334455 {v} IN IP4 198.19.5.20\r\n\
         s=Asterisk PBX 18.1\r\n\
         c=IN IP4 198.19.5.20\r\n\
         t=0 0\r\n\
         m=audio 14000 RTP/AVP 8 101\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=ssrc:1234 cname:pbx01@pbx01.corp.example\r\n\
         a=ptime:20\r\n\
         a={dir}\r\n"
    )
}

pub(crate) fn with_body(head: &str, body: &str) -> String {
    if body.is_empty() {
        format!("{head}Content-Length: 0\r\n\r\n")
    } else {
        format!(
            "{head}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }
}

/// The provider's INVITE for an inbound call to +4930123456.
pub(crate) fn trunk_invite() -> String {
    with_body(
        "INVITE sip:+4930123456@sbc.example.com:5061;transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-inv-1;rport\r\n\
         Via: SIP/2.0/UDP 10.200.0.9:5060;branch=z9hG4bKcore-77\r\n\
         Record-Route: <sip:198.18.7.7:5061;transport=tls;lr;ftag=prov-tag-1>\r\n\
         Record-Route: <sip:core-sbc-3.provider.internal;lr>\r\n\
         Max-Forwards: 68\r\n\
         From: \"Caller Name\" <sip:+4917012345@sip.provider.example>;tag=prov-tag-1\r\n\
         To: <sip:+4930123456@sbc.example.com>\r\n\
         Call-ID: prov-callid-8f3a@core-sbc-3.provider.internal\r\n\
         CSeq: 4711 INVITE\r\n\
         Contact: <sip:+4917012345@198.18.7.7:5061;transport=tls>\r\n\
         P-Asserted-Identity: \"Caller Name\" <sip:+4917012345@ims.provider.internal>\r\n\
         X-Provider-Trace: trace-9a9a\r\n\
         User-Agent: ProviderSwitch/9.1\r\n\
         Organization: Provider Internal Org\r\n\
         Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, REFER, NOTIFY\r\n\
         Supported: 100rel, timer, replaces\r\n\
         Session-Expires: 1800\r\n",
        &provider_sdp(),
    )
}

/// The identifiers of the provider that must never reach the PBX.
pub(crate) const PROVIDER_SECRETS: &[&str] = &[
    "198.18.7.7",
    "198.18.7.20",
    "198.18.7.21",
    "10.200.0.9",
    "core-sbc-3",
    "provider.internal",
    "sip.provider.example",
    "prov-tag-1",
    "prov-callid",
    "z9hG4bKprov",
    "z9hG4bKcore",
    "ProviderSwitch",
    "Provider Internal Org",
    "X-Provider-Trace",
    "trace-9a9a",
    "998877",
    "31000",
    "ProvMG",
    "ProviderSession",
    "provUfrag",
    "candidate",
    "provider-mg-7",
    "5061",
    "ftag",
    "sbc.example.com",
    "Provider Reason",
];

/// The identifiers of the PBX (and of our LAN side) that must never reach the trunk.
pub(crate) const PBX_SECRETS: &[&str] = &[
    "198.19.",
    "pbx01",
    "pbx.corp.example",
    "corp",
    "pbx-tag",
    "pbx-callid",
    "z9hG4bKpbx",
    "Asterisk",
    "1122334455",
    "14000",
    "ssrc",
    "PBX Reason",
    "X-Pbx",
    "Internal Org",
    "Low battery",
];

/// A response from the PBX to `req` (an INVITE the core sent it): all of `req`'s Vias,
/// its From/To/Call-ID/CSeq, our tag, a rich set of PBX headers.
pub(crate) fn pbx_response(req: &Request, code: u16, body: &str) -> String {
    let t = drawbridge_sip::to_bytes(req);
    let t = String::from_utf8_lossy(&t).into_owned();
    let mut out = format!("SIP/2.0 {code} PBX Reason pbx01\r\n");
    for l in t.split("\r\n\r\n").next().unwrap().lines().skip(1) {
        let name = l.split(':').next().unwrap().trim().to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{l}\r\n")),
            "to" if l.contains("tag=") => out.push_str(&format!("{l}\r\n")),
            "to" => out.push_str(&format!("{l};tag=pbx-tag-1\r\n")),
            _ => {}
        }
    }
    if code > 100 && code < 300 {
        out.push_str("Contact: <sip:4930@198.19.5.5:5060>\r\n");
        out.push_str("Record-Route: <sip:198.19.5.5;lr>\r\n");
    }
    out.push_str(
        "Server: Asterisk PBX 18.1\r\n\
         Warning: 399 pbx01.corp.example \"Low battery\"\r\n\
         Organization: Internal Org\r\n\
         X-Pbx-Node: pbx01\r\n\
         Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, SUBSCRIBE, NOTIFY\r\n",
    );
    with_body(&out, body)
}

/// A response from the trunk to `req`, in the provider's style.
pub(crate) fn trunk_response(req: &Request, code: u16, extra: &str, body: &str) -> String {
    let t = drawbridge_sip::to_bytes(req);
    let t = String::from_utf8_lossy(&t).into_owned();
    let mut out = format!("SIP/2.0 {code} Provider Reason\r\n");
    for l in t.split("\r\n\r\n").next().unwrap().lines().skip(1) {
        let name = l.split(':').next().unwrap().trim().to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{l}\r\n")),
            "to" if l.contains("tag=") => out.push_str(&format!("{l}\r\n")),
            "to" if code > 100 => out.push_str(&format!("{l};tag=prov-tag-9\r\n")),
            "to" => out.push_str(&format!("{l}\r\n")),
            _ => {}
        }
    }
    if code > 100 && code < 300 {
        out.push_str("Contact: <sip:+4917012345@198.18.7.7:5061;transport=tls>\r\n");
        out.push_str("Record-Route: <sip:core-sbc-3.provider.internal;lr>\r\n");
    }
    out.push_str("Server: ProviderSwitch/9.1\r\nX-Provider-Trace: trace-9a9a\r\n");
    out.push_str(extra);
    with_body(&out, body)
}

/// A request inside the dialog the core set up on a leg, written as that leg's peer
/// would: `core_msg` is the text of a message the core sent on that leg (its From/To/
/// Call-ID name the dialog); `core_is_caller` says whether the core sent the INVITE on
/// that leg; `peer_tag` is added to the peer's URI if the message lacks it.
pub(crate) fn in_dialog_request(
    method: &str,
    via: &str,
    core_msg: &str,
    core_is_caller: bool,
    peer_tag: &str,
    cseq: u32,
    body: &str,
) -> String {
    let from = header_in(core_msg, "From").unwrap();
    let to = header_in(core_msg, "To").unwrap();
    let call_id = header_in(core_msg, "Call-ID").unwrap();
    let (mut peer, ours) = if core_is_caller {
        (to, from)
    } else {
        (from, to)
    };
    if !peer.contains("tag=") {
        peer = format!("{peer};tag={peer_tag}");
    }
    // Request-URI: our Contact on that leg is all the peer knows; any URI works here.
    with_body(
        &format!(
            "{method} sip:drawbridge.invalid SIP/2.0\r\n\
             Via: {via}\r\n\
             Max-Forwards: 70\r\n\
             From: {peer}\r\n\
             To: {ours}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n"
        ),
        body,
    )
}

/// An ACK for a 2xx the core sent on a leg where it is the callee.
pub(crate) fn ack_for(core_2xx: &str, via: &str, cseq: u32, body: &str) -> String {
    in_dialog_request("ACK", via, core_2xx, false, "", cseq, body)
}
