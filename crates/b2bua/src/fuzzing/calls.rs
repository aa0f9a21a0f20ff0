//! The `calls` fuzz target: a script of operations against one [`B2bua`] set up like the
//! call tests (one trunk over TLS, the PBX over UDP, a fake media allocator), checking
//! after every step that everything sent parses, that nothing of one side reaches the
//! other, that the tables stay within their caps, and at the end that every call,
//! transaction, timer, media relay and admission is gone.
//!
//! # Script encoding
//!
//! Byte 0 chooses the configuration ([`Setup`]); then each operation is one byte
//! (`op % 10`) followed by its arguments; a truncated operation ends the script:
//!
//! | op    | what | arguments |
//! |-------|------|-----------|
//! | 0, 1  | a message from the trunk's persona | [`message`](Script::message) |
//! | 2, 9  | a message from the PBX's persona | [`message`](Script::message) |
//! | 3     | advance the clock, firing every deadline on the way | `u16`: ms below 0x8000, else (v-0x8000)*10 ms |
//! | 4     | jump to the next deadline and fire it | — |
//! | 5     | connection events | `sub`, `port` (see [`Script::flow_op`]) |
//! | 6     | drawbridge hangs up a call | index into the calls started |
//! | 7     | raw bytes as a message | `side`, `len`, `len` bytes |
//! | 8     | a transport error for a transaction the core sent on | index |
//!
//! A message is `kind, sel, arg, flags, flow, nmut` then `nmut % 4` mutations, each
//! `type, line, offset` and for a splice `len` + bytes, for a number a `u32` (LE).
//! Messages are built from templates that echo the identifiers of the last messages the
//! core sent to that side (Call-ID, tags, branch, CSeq, RSeq, Contact), so the script
//! reaches answered calls, PRACKs, re-INVITEs and BYEs instead of 481s.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drawbridge_sip::sdp::{MediaInfo, MediaPorts};
use drawbridge_sip::{Limits, parse_message};

use crate::{
    Advertised, B2bua, B2buaConfig, B2buaEvent, CallAdmission, CallHandle, Counters, Credentials,
    Flow, FlowId, MediaAllocator, MediaAnchor, MediaRefused, Outside, Pbx, PeerId, Side,
    TransactionId, TransportKind, Trunk,
};

/// Concurrent calls the fuzz target allows: small, so the 503 path is reached.
pub const FUZZ_MAX_CALLS: usize = 3;
/// The transaction cap the fuzz target runs with.
pub const FUZZ_MAX_TRANSACTIONS: usize = 24;

const PBX_FLOW: u64 = 10;
const TRUNK_FLOW: u64 = 20;
const ROGUE_FLOW: u64 = 99;
const PEER_FLOW: u64 = 98;
/// Flow ids the script opens start here (never equal to the fixed ones above).
const FIRST_NEW_FLOW: u64 = 1000;
const PUBLIC_HOST: &str = "sbc.example.com";
const LAN_HOST: &str = "198.19.0.1";
const PUBLIC_MEDIA: &str = "198.18.10.1";
const LAN_MEDIA: &str = "198.19.0.2";
const TRUNK_IP: &str = "198.18.7.7";

/// Identifiers of the provider (and of our public side) that must never reach the PBX.
/// Short numbers are written with their context: the core's own hex and decimal ids may
/// contain any digit string.
pub const PROVIDER_SECRETS: &[&str] = &[
    "198.18.7.",
    "198.18.66.66",
    "10.66.0.2",
    "198.18.10.1",
    "10.200.0.9",
    "core-sbc-3",
    "provider.internal",
    "sip.provider.example",
    "prov-tag",
    "prov-callid",
    "z9hG4bKprov",
    "z9hG4bKcore",
    "ProviderSwitch",
    "Provider Internal Org",
    "X-Provider-Trace",
    "trace-9a9a",
    " 998877 ",
    "audio 31000",
    "ProvMG",
    "ProviderSession",
    "provUfrag",
    "provPassword",
    "candidate",
    "provider-mg-7",
    ":5061",
    "ftag",
    "sbc.example.com",
    "Provider Reason",
    "username=\"acct-1001\"",
    "n0nce",
];

/// Identifiers of the PBX (and of our LAN side) that must never reach the trunk.
pub const PBX_SECRETS: &[&str] = &[
    "198.19.",
    "pbx01",
    "pbx.corp.example",
    "corp",
    "pbx-tag",
    "pbx-callid",
    "z9hG4bKpbx",
    "Asterisk",
    " 1122334455 ",
    "audio 14000",
    "ssrc",
    "PBX Reason",
    "X-Pbx",
    "Internal Org",
    "Low battery",
    "Remote-Party-ID",
];

/// Never sent anywhere (the trunk password; digest sends a hash).
pub const PASSWORD_SECRETS: &[&str] = &["s3cret"];

// ---- input ------------------------------------------------------------------------

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from(self.byte()?) | (u16::from(self.byte()?) << 8))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from(self.u16()?) | (u32::from(self.u16()?) << 16))
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

// ---- the fakes around the core ----------------------------------------------------

#[derive(Debug, Default)]
struct Ledger {
    /// Calls the media allocator handed ports to.
    relayed: HashSet<CallHandle>,
    /// Calls whose media was released.
    released: HashSet<CallHandle>,
    /// Refuse relays for odd call handles.
    refuse_odd: bool,
    admitted: HashSet<CallHandle>,
    admission_released: HashSet<CallHandle>,
    /// Refuse admission for every third call.
    refuse_admission: bool,
}

struct FakeMedia {
    ledger: Arc<Mutex<Ledger>>,
    ports: HashMap<(CallHandle, bool, usize), u16>,
    next: u16,
}

impl MediaAllocator for FakeMedia {
    fn relay(
        &mut self,
        call: CallHandle,
        _from: Side,
        to: Side,
        remote: &[MediaInfo],
        _signalled_from: SocketAddr,
    ) -> Result<MediaAnchor, MediaRefused> {
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            !ledger.released.contains(&call),
            "media relay for {call:?} after its release: those ports leak"
        );
        if ledger.refuse_odd && call.0 % 2 == 1 {
            return Err(MediaRefused::Exhausted);
        }
        ledger.relayed.insert(call);
        drop(ledger);
        let address: IpAddr = match if to.is_pbx() { LAN_MEDIA } else { PUBLIC_MEDIA }.parse() {
            Ok(a) => a,
            Err(_) => return Err(MediaRefused::NotAcceptable("bad fake address")),
        };
        let mut ports = Vec::new();
        for i in 0..remote.len() {
            let next = &mut self.next;
            let p = *self.ports.entry((call, to.is_pbx(), i)).or_insert_with(|| {
                *next = next.wrapping_add(2).max(40000);
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
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.released.insert(call);
        self.ports.retain(|(c, _, _), _| *c != call);
    }
}

struct FakeAdmission {
    ledger: Arc<Mutex<Ledger>>,
    seen: u64,
}

impl CallAdmission for FakeAdmission {
    fn admit(
        &mut self,
        _now: Instant,
        call: CallHandle,
        _from: Side,
        _to: Side,
    ) -> Result<(), u16> {
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        self.seen += 1;
        if ledger.refuse_admission && self.seen.is_multiple_of(3) {
            return Err(503);
        }
        assert!(ledger.admitted.insert(call), "{call:?} admitted twice");
        Ok(())
    }

    fn release(&mut self, call: CallHandle) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            ledger.admitted.contains(&call),
            "admission release for {call:?}, which was never admitted"
        );
        assert!(
            ledger.admission_released.insert(call),
            "admission released twice for {call:?}"
        );
    }
}

// ---- configuration ----------------------------------------------------------------

/// What byte 0 of a script chooses.
#[derive(Debug, Clone, Copy)]
struct Setup {
    credentials: bool,
    keepalive: bool,
    register: bool,
    start: bool,
    short_ring: bool,
    refuse_media: bool,
    admission: bool,
    refuse_admission: bool,
}

impl Setup {
    fn from_byte(b: u8) -> Self {
        Self {
            // Inverted so that 0 (the common byte) is the harness's configuration.
            credentials: b & 1 == 0,
            keepalive: b & 2 != 0,
            register: b & 4 != 0,
            start: b & 8 != 0,
            short_ring: b & 16 != 0,
            refuse_media: b & 32 != 0,
            admission: b & 64 == 0,
            refuse_admission: b & 128 != 0,
        }
    }

    /// Whether trunk maintenance may keep transactions and a deadline alive forever.
    fn maintenance(&self) -> bool {
        self.start && (self.keepalive || (self.register && self.credentials))
    }
}

fn flow(id: u64, remote: &str, transport: TransportKind) -> Flow {
    let remote = remote
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([192, 0, 2, 1], 5060)));
    Flow::new(id, remote, transport)
}

fn pbx_flow() -> Flow {
    flow(PBX_FLOW, "198.19.5.5:5060", TransportKind::Udp)
}

fn config(setup: Setup) -> B2buaConfig {
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
        flow: flow(TRUNK_FLOW, "198.18.7.7:5061", TransportKind::Tls),
        credentials: setup.credentials.then(|| Credentials {
            username: "acct-1001".into(),
            password: "s3cret".into(),
        }),
        advertised: Advertised {
            host: PUBLIC_HOST.into(),
            port: 5061,
        },
        options_interval: setup.keepalive.then(|| Duration::from_secs(30)),
        register_expires: setup.register.then_some(600),
    };
    let mut c = B2buaConfig::new(pbx, vec![trunk]);
    c.secret = 0x1234_5678_9abc_def0;
    c.max_calls = FUZZ_MAX_CALLS;
    c.transactions.set_max_transactions(FUZZ_MAX_TRANSACTIONS);
    if setup.short_ring {
        c.ring_timeout = Duration::from_secs(5);
    }
    c
}

// ---- text helpers -----------------------------------------------------------------

/// The value of the first header line named `name` (full name, case-insensitive).
fn header(text: &str, name: &str) -> Option<String> {
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// Every header line named `name`, whole.
fn header_lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n")
        .skip(1)
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
        .collect()
}

fn cseq_of(text: &str) -> (u32, String) {
    let v = header(text, "CSeq").unwrap_or_default();
    let mut it = v.split_whitespace();
    let n = it.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let m = it.next().unwrap_or("INVITE").to_owned();
    (n, m)
}

/// The URI inside a Contact value (`<...>` stripped).
fn contact_uri(text: &str) -> Option<String> {
    let v = header(text, "Contact")?;
    let inner = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(&v),
    };
    Some(inner.to_owned())
}

/// How often `needle` occurs in `hay`. Byte by byte rather than slice `==`: under
/// libFuzzer every `memcmp` is intercepted and traced, which made these checks most of
/// the run time.
fn occurrences(hay: &[u8], needle: &[u8]) -> usize {
    let Some((&first, rest)) = needle.split_first() else {
        return 0;
    };
    let mut n = 0;
    for (i, &b) in hay.iter().enumerate() {
        if b == first
            && hay.len() - i >= needle.len()
            && hay[i + 1..i + needle.len()]
                .iter()
                .zip(rest)
                .all(|(x, y)| x == y)
        {
            n += 1;
        }
    }
    n
}

/// A secrets list, lowercased once.
struct Secrets {
    names: &'static [&'static str],
    lower: Vec<Vec<u8>>,
}

impl Secrets {
    fn new(names: &'static [&'static str]) -> Self {
        Self {
            names,
            lower: names
                .iter()
                .map(|s| s.to_ascii_lowercase().into_bytes())
                .collect(),
        }
    }

    /// How often each secret occurs in `hay` (case-insensitive).
    fn counts(&self, hay: &[u8]) -> Vec<usize> {
        let hay = hay.to_ascii_lowercase();
        self.lower.iter().map(|s| occurrences(&hay, s)).collect()
    }

    /// The first secret in `hay` (case-insensitive).
    fn find(&self, hay: &[u8]) -> Option<&'static str> {
        let hay = hay.to_ascii_lowercase();
        self.lower
            .iter()
            .position(|s| occurrences(&hay, s) > 0)
            .map(|i| self.names[i])
    }
}

fn sdp_trunk() -> &'static str {
    "v=0\r\no=ProvMG 998877 1 IN IP4 198.18.7.20\r\ns=ProviderSession\r\nc=IN IP4 198.18.7.20\r\n\
     t=0 0\r\na=tool:provider-mg-7\r\nm=audio 31000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\n\
     a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n\
     a=rtcp:31001 IN IP4 198.18.7.21\r\na=ice-ufrag:provUfrag\r\na=ice-pwd:provPasswordProvPassword\r\n\
     a=candidate:1 1 UDP 2130706431 198.18.7.20 31000 typ host\r\na=ptime:20\r\na=sendrecv\r\n"
}

fn sdp_pbx() -> &'static str {
    "v=0\r\no=asterisk-pbx01 1122334455 1 IN IP4 198.19.5.20\r\ns=Asterisk PBX 18.1\r\n\
     c=IN IP4 198.19.5.20\r\nt=0 0\r\nm=audio 14000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
     a=rtpmap:101 telephone-event/8000\r\na=ssrc:1234 cname:pbx01@pbx01.corp.example\r\n\
     a=ptime:20\r\na=sendrecv\r\n"
}

// ---- personas ---------------------------------------------------------------------

/// One party writing messages: the trunk or the PBX, with its identifiers.
#[derive(Debug)]
struct Persona {
    pbx: bool,
    /// Serial for fresh branches, tags and Call-IDs (kept small: see the secrets lists).
    n: u32,
    cseq: u32,
    rseq: u32,
    /// INVITEs this persona sent (for CANCEL), newest last.
    invites: VecDeque<String>,
    /// Messages delivered (for retransmission): bytes, flow, side.
    delivered: VecDeque<(Vec<u8>, Flow, Side)>,
}

const KEEP: usize = 16;

fn push_capped<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() == KEEP {
        q.pop_front();
    }
    q.push_back(v);
}

/// `sel`-th newest entry.
fn nth_newest<T>(q: &VecDeque<T>, sel: u8) -> Option<&T> {
    if q.is_empty() {
        return None;
    }
    let i = usize::from(sel) % q.len();
    q.get(q.len() - 1 - i)
}

impl Persona {
    fn new(pbx: bool) -> Self {
        Self {
            pbx,
            n: 0,
            cseq: 100,
            rseq: 1,
            invites: VecDeque::new(),
            delivered: VecDeque::new(),
        }
    }
    fn next(&mut self) -> u32 {
        self.n = (self.n + 1) % 900;
        self.n
    }
    /// The next CSeq of an in-dialog request: above the INVITE's (31 from the PBX, 4711
    /// from the trunk), so it is not refused as out of order.
    fn next_cseq(&mut self) -> u32 {
        let (low, high) = if self.pbx { (100, 4000) } else { (4800, 9000) };
        self.cseq = if self.cseq < low || self.cseq >= high {
            low
        } else {
            self.cseq + 1
        };
        self.cseq
    }
    fn prefix(&self) -> &'static str {
        if self.pbx { "pbx" } else { "prov" }
    }
    fn via(&mut self) -> String {
        let n = self.next();
        if self.pbx {
            format!("Via: SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-{n};rport")
        } else {
            format!("Via: SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-{n};rport")
        }
    }
    fn contact(&self) -> &'static str {
        if self.pbx {
            "Contact: <sip:201@198.19.5.5:5060>"
        } else {
            "Contact: <sip:+4917012345@198.18.7.7:5061;transport=tls>"
        }
    }
    fn record_route(&self) -> &'static str {
        if self.pbx {
            "Record-Route: <sip:198.19.5.5;lr>"
        } else {
            "Record-Route: <sip:core-sbc-3.provider.internal;lr;ftag=prov-tag-1>"
        }
    }
    fn chatter(&self) -> &'static [&'static str] {
        if self.pbx {
            &[
                "Server: Asterisk PBX 18.1",
                "Warning: 399 pbx01.corp.example \"Low battery\"",
                "Organization: Internal Org",
                "X-Pbx-Node: pbx01",
            ]
        } else {
            &[
                "Server: ProviderSwitch/9.1",
                "X-Provider-Trace: trace-9a9a",
                "Organization: Provider Internal Org",
            ]
        }
    }
    fn sdp(&self) -> &'static str {
        if self.pbx { sdp_pbx() } else { sdp_trunk() }
    }
    fn reason(&self) -> &'static str {
        if self.pbx {
            "PBX Reason pbx01"
        } else {
            "Provider Reason"
        }
    }
    fn remote_tag(&self, k: u8) -> String {
        format!("{}-tag-r{}", self.prefix(), k % 3)
    }

    /// A new INVITE from this party.
    fn invite(&mut self, flags: u8, arg: u8) -> Msg {
        let n = self.next();
        let mut lines = Vec::new();
        let supported = if flags & 4 != 0 {
            "Supported: 100rel, timer, replaces"
        } else {
            "Supported: timer, replaces"
        };
        let max_forwards = match arg % 8 {
            0 => "Max-Forwards: 0",
            1 => "Max-Forwards: 1",
            _ => "Max-Forwards: 68",
        };
        if self.pbx {
            lines.push("INVITE sip:004930999@198.19.0.1:5060 SIP/2.0".to_owned());
            lines.push(self.via());
            lines.push(max_forwards.to_owned());
            lines.push(format!(
                "From: \"Alice Office\" <sip:201@pbx.corp.example>;tag=pbx-tag-{n}"
            ));
            lines.push("To: <sip:004930999@198.19.0.1>".to_owned());
            lines.push(format!("Call-ID: pbx-callid-{n}@pbx01.corp.example"));
            lines.push("CSeq: 31 INVITE".to_owned());
            lines.push(self.contact().to_owned());
            lines.push("User-Agent: Asterisk PBX 18.1".to_owned());
            lines.push("X-Pbx-Account: 201".to_owned());
            lines.push("Remote-Party-ID: <sip:201@pbx01.corp.example>;party=calling".to_owned());
            lines.push(
                "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, SUBSCRIBE, NOTIFY, INFO"
                    .to_owned(),
            );
        } else {
            let callee = if flags & 8 != 0 {
                "acct-1001"
            } else {
                "+4930123456"
            };
            lines.push(format!(
                "INVITE sip:{callee}@sbc.example.com:5061;transport=tls SIP/2.0"
            ));
            lines.push(self.via());
            lines.push(format!(
                "Via: SIP/2.0/UDP 10.200.0.9:5060;branch=z9hG4bKcore-{n}"
            ));
            lines.push(self.record_route().to_owned());
            lines.push(max_forwards.to_owned());
            lines.push(format!(
                "From: \"Caller Name\" <sip:+4917012345@sip.provider.example>;tag=prov-tag-{n}"
            ));
            lines.push("To: <sip:+4930123456@sbc.example.com>".to_owned());
            lines.push(format!(
                "Call-ID: prov-callid-{n}@core-sbc-3.provider.internal"
            ));
            lines.push("CSeq: 4711 INVITE".to_owned());
            lines.push(self.contact().to_owned());
            lines.push(
                "P-Asserted-Identity: \"Caller Name\" <sip:+4917012345@ims.provider.internal>"
                    .to_owned(),
            );
            lines.push("X-Provider-Trace: trace-9a9a".to_owned());
            lines.push("User-Agent: ProviderSwitch/9.1".to_owned());
            lines.push("Organization: Provider Internal Org".to_owned());
            lines.push(
                "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, REFER, NOTIFY".to_owned(),
            );
            lines.push("Session-Expires: 1800".to_owned());
        }
        lines.push(supported.to_owned());
        if flags & 2 != 0 {
            lines.push("Require: 100rel".to_owned());
        }
        let body = if flags & 1 != 0 { self.sdp() } else { "" };
        Msg::new(lines, body.as_bytes().to_vec(), "application/sdp")
    }

    /// A response to `req`, a request the core sent to this party.
    fn response(&mut self, req: &str, code: u16, flags: u8) -> Msg {
        let mut lines = vec![format!("SIP/2.0 {code} {}", self.reason())];
        for l in header_lines(req, "Via") {
            lines.push(l.to_owned());
        }
        for name in ["From", "Call-ID", "CSeq"] {
            for l in header_lines(req, name) {
                lines.push(l.to_owned());
            }
        }
        let to = header(req, "To").unwrap_or_default();
        if to.contains("tag=") || code == 100 {
            lines.push(format!("To: {to}"));
        } else {
            lines.push(format!("To: {to};tag={}", self.remote_tag(flags >> 2)));
        }
        if (101..300).contains(&code) {
            lines.push(self.contact().to_owned());
            lines.push(self.record_route().to_owned());
        }
        if (101..200).contains(&code) && flags & 2 != 0 {
            if flags & 32 == 0 {
                self.rseq = if self.rseq >= 4000 { 1 } else { self.rseq + 1 };
            }
            lines.push("Require: 100rel".to_owned());
            lines.push(format!("RSeq: {}", self.rseq));
        }
        match code {
            401 => lines.push(format!(
                "WWW-Authenticate: Digest realm=\"sip.provider.example\", nonce=\"n0nce{}\", qop=\"auth\", algorithm=MD5",
                self.n
            )),
            407 => lines.push(format!(
                "Proxy-Authenticate: Digest realm=\"sip.provider.example\", nonce=\"n0nce{}\"{}",
                self.n,
                if flags & 16 != 0 { ", stale=true" } else { "" }
            )),
            420 => lines.push("Unsupported: foo".to_owned()),
            _ => {}
        }
        lines.extend(self.chatter().iter().map(|s| (*s).to_owned()));
        let body = if flags & 1 != 0 && (101..300).contains(&code) {
            self.sdp()
        } else {
            ""
        };
        Msg::new(lines, body.as_bytes().to_vec(), "application/sdp")
    }

    /// A request inside the dialog that `core_msg` (sent by the core to this party)
    /// belongs to.
    fn in_dialog(&mut self, core_msg: &str, method: &str, flags: u8) -> Msg {
        let core_is_request = !core_msg.starts_with("SIP/2.0");
        let from = header(core_msg, "From").unwrap_or_default();
        let to = header(core_msg, "To").unwrap_or_default();
        let (mut peer, ours) = if core_is_request {
            (to, from)
        } else {
            (from, to)
        };
        if !peer.contains("tag=") {
            peer = format!("{peer};tag={}", self.remote_tag(flags >> 2));
        }
        let uri = if flags & 32 != 0 {
            "sip:drawbridge.invalid".to_owned()
        } else {
            contact_uri(core_msg).unwrap_or_else(|| "sip:drawbridge.invalid".to_owned())
        };
        let (core_cseq, core_method) = cseq_of(core_msg);
        let cseq = match method {
            "ACK" => core_cseq,
            _ if flags & 16 != 0 => core_cseq,
            _ => self.next_cseq(),
        };
        let mut lines = vec![format!("{method} {uri} SIP/2.0"), self.via()];
        lines.push("Max-Forwards: 70".to_owned());
        lines.push(format!("From: {peer}"));
        lines.push(format!("To: {ours}"));
        lines.push(format!(
            "Call-ID: {}",
            header(core_msg, "Call-ID").unwrap_or_default()
        ));
        lines.push(format!("CSeq: {cseq} {method}"));
        if method == "PRACK" {
            let rseq = header(core_msg, "RSeq").unwrap_or_else(|| "1".to_owned());
            lines.push(format!("RAck: {rseq} {core_cseq} {core_method}"));
        }
        if matches!(method, "INVITE" | "UPDATE") {
            lines.push(self.contact().to_owned());
        }
        lines.extend(self.chatter().iter().map(|s| (*s).to_owned()));
        let (body, ct) = match method {
            "INFO" => (
                "Signal=5\r\nDuration=160\r\n".as_bytes(),
                "application/dtmf-relay",
            ),
            "INVITE" | "UPDATE" | "ACK" | "PRACK" if flags & 1 != 0 => {
                (self.sdp().as_bytes(), "application/sdp")
            }
            _ => (&[][..], ""),
        };
        Msg::new(lines, body.to_vec(), ct)
    }

    /// A CANCEL of `invite`, an INVITE this party sent.
    fn cancel(invite: &str) -> Msg {
        let start = invite.split("\r\n").next().unwrap_or("");
        let uri = start.split_whitespace().nth(1).unwrap_or("sip:x");
        let mut lines = vec![format!("CANCEL {uri} SIP/2.0")];
        if let Some(v) = header_lines(invite, "Via").first() {
            lines.push((*v).to_owned());
        }
        for name in ["From", "To", "Call-ID"] {
            lines.extend(header_lines(invite, name).iter().map(|s| (*s).to_owned()));
        }
        lines.push(format!("CSeq: {} CANCEL", cseq_of(invite).0));
        lines.push("Max-Forwards: 70".to_owned());
        Msg::new(lines, Vec::new(), "")
    }

    /// An ACK for `resp`, a response the core sent to an INVITE of this party (same
    /// branch: right for a non-2xx, a stray ACK for a 2xx).
    fn ack_of(resp: &str) -> Msg {
        let mut lines = vec!["ACK sip:drawbridge.invalid SIP/2.0".to_owned()];
        if let Some(v) = header_lines(resp, "Via").first() {
            lines.push((*v).to_owned());
        }
        for name in ["From", "To", "Call-ID"] {
            lines.extend(header_lines(resp, name).iter().map(|s| (*s).to_owned()));
        }
        lines.push(format!("CSeq: {} ACK", cseq_of(resp).0));
        lines.push("Max-Forwards: 70".to_owned());
        Msg::new(lines, Vec::new(), "")
    }

    /// A request outside any dialog.
    fn out_of_dialog(&mut self, method: &str) -> Msg {
        let n = self.next();
        let p = self.prefix();
        let host = if self.pbx {
            "pbx01.corp.example"
        } else {
            "core-sbc-3.provider.internal"
        };
        let lines = vec![
            format!(
                "{method} sip:{} SIP/2.0",
                if self.pbx { LAN_HOST } else { PUBLIC_HOST }
            ),
            self.via(),
            "Max-Forwards: 70".to_owned(),
            format!("From: <sip:probe@{host}>;tag={p}-tag-o{n}"),
            format!("To: <sip:probe@{host}>"),
            format!("Call-ID: {p}-callid-o{n}@{host}"),
            format!("CSeq: 1 {method}"),
        ];
        Msg::new(lines, Vec::new(), "")
    }
}

/// A message being built: header lines (start line first) and a body.
struct Msg {
    lines: Vec<String>,
    body: Vec<u8>,
}

impl Msg {
    fn new(mut lines: Vec<String>, body: Vec<u8>, content_type: &str) -> Self {
        if !body.is_empty() {
            lines.push(format!("Content-Type: {content_type}"));
        }
        lines.push(format!("Content-Length: {}", body.len()));
        Self { lines, body }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = self.lines.join("\r\n").into_bytes();
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// Applies one fuzz-chosen mutation; returns whether it touched the Content-Type
    /// (which could turn an SDP into a body relayed as it is).
    fn mutate(&mut self, input: &mut Input<'_>) -> Option<bool> {
        let (kind, line, offset) = (input.byte()?, input.byte()?, input.byte()?);
        let i = usize::from(line) % (self.lines.len() + 1);
        let touched_type = self
            .lines
            .get(i)
            .is_some_and(|l| l.to_ascii_lowercase().starts_with("content-type"));
        match kind % 4 {
            // Drop a header line (never the start line).
            0 => {
                if i > 0 && i < self.lines.len() {
                    self.lines.remove(i);
                }
            }
            // Splice raw bytes into a header value (or the body). No CR/LF: a new line
            // could move an identifier into a header that crosses by design.
            1 | 2 => {
                let len = input.byte()?;
                let raw: Vec<u8> = input
                    .bytes(usize::from(len % 64))
                    .iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                    .collect();
                let overwrite = kind % 4 == 2;
                let in_body = i == self.lines.len();
                let mut target = if in_body {
                    std::mem::take(&mut self.body)
                } else {
                    std::mem::take(&mut self.lines[i]).into_bytes()
                };
                // Header values only: the name stays, so no header is renamed.
                let start = if in_body {
                    0
                } else {
                    target.iter().position(|&b| b == b':').map_or(0, |p| p + 1)
                };
                let at = start + usize::from(offset) % (target.len() - start + 1);
                let end = if overwrite {
                    (at + raw.len()).min(target.len())
                } else {
                    at
                };
                target.splice(at..end, raw);
                if in_body {
                    self.body = target;
                } else {
                    self.lines[i] = String::from_utf8_lossy(&target).into_owned();
                }
            }
            // Change a number: the `offset`-th digit run of the line.
            _ => {
                let value = input.u32()?;
                if let Some(l) = self.lines.get_mut(i) {
                    let b = l.as_bytes();
                    let mut runs = Vec::new();
                    let mut j = 0;
                    while j < b.len() {
                        if b[j].is_ascii_digit() {
                            let s = j;
                            while j < b.len() && b[j].is_ascii_digit() {
                                j += 1;
                            }
                            runs.push((s, j));
                        } else {
                            j += 1;
                        }
                    }
                    if !runs.is_empty() {
                        let (s, e) = runs[usize::from(offset) % runs.len()];
                        let v = match value % 4 {
                            0 => 0,
                            1 => value >> 2 & 0xff,
                            2 => u32::MAX,
                            _ => value,
                        };
                        l.replace_range(s..e, &v.to_string());
                    }
                }
            }
        }
        Some(touched_type)
    }
}

/// Where [`trace_calls`] writes its transcript, one entry at a time.
pub type Sink = Box<dyn FnMut(&str)>;

// ---- the script -------------------------------------------------------------------

/// A message the core sent, kept for echoing.
#[derive(Debug, Clone)]
struct Seen {
    flow: Flow,
    text: String,
    request: bool,
}

struct Script {
    b2bua: B2bua,
    setup: Setup,
    ledger: Arc<Mutex<Ledger>>,
    origin: Instant,
    now: Instant,
    trunk: Persona,
    pbx: Persona,
    /// What the core sent to the outside (trunk flows, rogue) and to the PBX.
    to_outside: VecDeque<Seen>,
    to_pbx: VecDeque<Seen>,
    /// Transactions the core sent on, for transport errors.
    sent_tx: VecDeque<TransactionId>,
    /// The trunk's current connection to us (its requests arrive here).
    trunk_in: Flow,
    /// Our connection to the trunk (as set with `set_trunk_flow`).
    trunk_out: Flow,
    next_flow: u64,
    calls: Vec<CallHandle>,
    /// The script itself put a provider / PBX identifier where it may cross by design:
    /// that list is no longer checked.
    provider_tainted: bool,
    pbx_tainted: bool,
    password_tainted: bool,
    /// The provider's, the PBX's and the password lists, lowercased.
    secrets: [Secrets; 3],
    /// Every message in and out, when tracing.
    trace: Option<Sink>,
}

fn rogue_flow() -> Flow {
    flow(ROGUE_FLOW, "198.18.66.66:5061", TransportKind::Tls)
}
fn peer_flow() -> Flow {
    flow(PEER_FLOW, "10.66.0.2:5060", TransportKind::Udp)
}

fn side_of(f: &Flow) -> Side {
    if f.id.0 == PBX_FLOW {
        Side::Pbx
    } else if f.id.0 == PEER_FLOW {
        Side::Outside(Outside::Peer(PeerId(1)))
    } else {
        Side::trunk(0)
    }
}

impl Script {
    fn new(origin: Instant, setup: Setup) -> Self {
        let ledger = Arc::new(Mutex::new(Ledger {
            refuse_odd: setup.refuse_media,
            refuse_admission: setup.refuse_admission,
            ..Ledger::default()
        }));
        let media = FakeMedia {
            ledger: ledger.clone(),
            ports: HashMap::new(),
            next: 40000,
        };
        let config = config(setup);
        let trunk_out = config.trunks[0].flow;
        let mut b2bua = B2bua::new(config, Box::new(media));
        if setup.admission {
            b2bua.set_admission(Box::new(FakeAdmission {
                ledger: ledger.clone(),
                seen: 0,
            }));
        }
        let mut s = Self {
            b2bua,
            setup,
            ledger,
            origin,
            now: origin,
            trunk: Persona::new(false),
            pbx: Persona::new(true),
            to_outside: VecDeque::new(),
            to_pbx: VecDeque::new(),
            sent_tx: VecDeque::new(),
            trunk_in: trunk_out,
            trunk_out,
            next_flow: FIRST_NEW_FLOW,
            calls: Vec::new(),
            provider_tainted: false,
            pbx_tainted: false,
            password_tainted: false,
            secrets: [
                Secrets::new(PROVIDER_SECRETS),
                Secrets::new(PBX_SECRETS),
                Secrets::new(PASSWORD_SECRETS),
            ],
            trace: None,
        };
        if setup.start {
            s.b2bua.start(s.now);
        }
        s.collect();
        s
    }

    /// Drains what the core produced and checks it.
    fn collect(&mut self) {
        while let Some(t) = self.b2bua.poll_transmit() {
            let message = parse_message(&t.bytes, &Limits::default());
            assert!(
                message.is_ok(),
                "core sent unparseable bytes ({:?}):\n{}",
                message.err(),
                String::from_utf8_lossy(&t.bytes)
            );
            let to_pbx = t.flow.id.0 == PBX_FLOW;
            let (secrets, tainted, whose) = if to_pbx {
                (&self.secrets[0], self.provider_tainted, "provider's")
            } else {
                (&self.secrets[1], self.pbx_tainted, "PBX's")
            };
            if !tainted && let Some(s) = secrets.find(&t.bytes) {
                panic!(
                    "topology leak: the {whose} `{s}` sent to flow {:?}:\n{}",
                    t.flow,
                    String::from_utf8_lossy(&t.bytes)
                );
            }
            if !self.password_tainted
                && let Some(s) = self.secrets[2].find(&t.bytes)
            {
                panic!("`{s}` sent:\n{}", String::from_utf8_lossy(&t.bytes));
            }
            let text = String::from_utf8_lossy(&t.bytes).into_owned();
            if let Some(trace) = self.trace.as_mut() {
                trace(&format!("OUT {:?}\n{text}", t.flow.id));
            }
            let seen = Seen {
                flow: t.flow,
                request: !text.starts_with("SIP/2.0"),
                text,
            };
            push_capped(
                if to_pbx {
                    &mut self.to_pbx
                } else {
                    &mut self.to_outside
                },
                seen,
            );
            if let Some(tx) = t.transaction {
                push_capped(&mut self.sent_tx, tx);
            }
        }
        while let Some(e) = self.b2bua.poll_event() {
            if let Some(trace) = self.trace.as_mut() {
                trace(&format!("EVENT {e:?}"));
            }
            if let B2buaEvent::CallStarted { call, .. } = e
                && self.calls.len() < 64
            {
                self.calls.push(call);
            }
        }
        self.check_bounds();
    }

    fn check_bounds(&mut self) {
        let a = self.b2bua.audit();
        assert!(a.calls <= FUZZ_MAX_CALLS, "call cap exceeded: {a:?}");
        assert!(a.dialogs <= 2 * a.calls, "dialogs without a call: {a:?}");
        assert!(
            a.transactions <= 2 * FUZZ_MAX_TRANSACTIONS,
            "transaction cap exceeded: {a:?}"
        );
        assert!(
            a.contexts <= a.transactions,
            "transaction contexts outlive their transactions: {a:?}"
        );
        assert!(
            a.pins <= a.transactions && a.pin_of <= a.transactions,
            "response pins outlive their transactions: {a:?}"
        );
        assert!(
            a.call_timers <= 64 + 16 * a.calls,
            "call timer heap unbounded: {a:?}"
        );
        assert!(a.events == 0, "events not drained");
        assert!(
            a.orphaned_flows <= 2 * FUZZ_MAX_CALLS + 2 * FUZZ_MAX_TRANSACTIONS + 1,
            "closed flows pile up: {a:?}"
        );
        if let Some(t) = self.b2bua.poll_timeout() {
            assert!(t >= self.origin, "deadline before the start");
        }
    }

    /// Advances the clock by `d`, firing every deadline on the way in order.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        let mut guard = 0u32;
        while let Some(at) = self.b2bua.poll_timeout() {
            if at > end {
                break;
            }
            guard += 1;
            assert!(guard < 100_000, "deadline does not move: {at:?}");
            self.now = self.now.max(at);
            self.b2bua.handle_timeout(self.now);
            self.collect();
        }
        self.now = end;
    }

    fn deliver(&mut self, bytes: Vec<u8>, f: Flow, persona_pbx: bool) {
        let side = side_of(&f);
        let r = self.b2bua.handle_message(self.now, &bytes, f, side);
        if let Some(trace) = self.trace.as_mut() {
            trace(&format!(
                "IN {:?} {side:?} {r:?}\n{}",
                f.id,
                String::from_utf8_lossy(&bytes)
            ));
        }
        let p = if persona_pbx {
            &mut self.pbx
        } else {
            &mut self.trunk
        };
        push_capped(&mut p.delivered, (bytes, f, side));
        self.collect();
    }

    /// One templated message from the trunk (`pbx` false) or PBX persona.
    fn message(&mut self, input: &mut Input<'_>, pbx: bool) -> Option<()> {
        let (kind, sel, arg, flags, flow_sel, nmut) = (
            input.byte()?,
            input.byte()?,
            input.byte()?,
            input.byte()?,
            input.byte()?,
            input.byte()?,
        );
        let history = if pbx { &self.to_pbx } else { &self.to_outside };
        let persona = if pbx { &mut self.pbx } else { &mut self.trunk };
        let pick = |want: Option<bool>| -> Option<Seen> {
            let v: VecDeque<&Seen> = history
                .iter()
                .filter(|s| want.is_none_or(|w| s.request == w))
                .collect();
            nth_newest(&v, sel).map(|s| (*s).clone())
        };
        let (msg, echo_flow) = match kind % 7 {
            0 => {
                let m = persona.invite(flags, arg);
                (m, None)
            }
            1 | 2 => {
                let Some(req) = pick(Some(true)) else {
                    return Some(());
                };
                const CODES: &[u16] = &[
                    100, 180, 183, 200, 200, 401, 407, 486, 487, 491, 500, 503, 603, 302, 181, 420,
                    481, 408, 202, 699,
                ];
                let code = CODES[usize::from(arg) % CODES.len()];
                (persona.response(&req.text, code, flags), Some(req.flow))
            }
            3 => {
                let Some(m) = pick(None) else {
                    return Some(());
                };
                const METHODS: &[&str] = &[
                    "ACK", "BYE", "INVITE", "UPDATE", "INFO", "PRACK", "OPTIONS", "ACK", "BYE",
                    "PRACK", "REFER", "CANCEL",
                ];
                let method = METHODS[usize::from(arg) % METHODS.len()];
                (persona.in_dialog(&m.text, method, flags), Some(m.flow))
            }
            4 => {
                let Some(inv) = nth_newest(&persona.invites, sel).cloned() else {
                    return Some(());
                };
                (Persona::cancel(&inv), None)
            }
            5 => {
                let Some(r) = pick(Some(false)) else {
                    return Some(());
                };
                (Persona::ack_of(&r.text), Some(r.flow))
            }
            _ => {
                const METHODS: &[&str] = &["OPTIONS", "BYE", "REGISTER", "MESSAGE", "PRACK"];
                let m = METHODS[usize::from(arg) % METHODS.len()];
                (persona.out_of_dialog(m), None)
            }
        };
        let mut msg = msg;
        let before = msg.bytes();
        let mut touched_type = false;
        for _ in 0..nmut % 4 {
            touched_type |= msg.mutate(input)?;
        }
        let bytes = msg.bytes();
        if nmut % 4 != 0 {
            self.taint(&before, &bytes, touched_type);
        }
        if kind % 7 == 0 {
            let p = if pbx { &mut self.pbx } else { &mut self.trunk };
            push_capped(&mut p.invites, String::from_utf8_lossy(&bytes).into_owned());
        }
        let f = if pbx {
            pbx_flow()
        } else {
            match flow_sel % 5 {
                0 => echo_flow
                    .filter(|f| f.id.0 != PBX_FLOW)
                    .unwrap_or(self.trunk_in),
                1 | 4 => self.trunk_in,
                2 => rogue_flow(),
                _ => peer_flow(),
            }
        };
        self.deliver(bytes, f, pbx);
        Some(())
    }

    /// Marks a secrets list unchecked if the script itself added one of its entries.
    fn taint(&mut self, before: &[u8], after: &[u8], touched_type: bool) {
        let flags = [
            &mut self.provider_tainted,
            &mut self.pbx_tainted,
            &mut self.password_tainted,
        ];
        for (list, flag) in self.secrets.iter().zip(flags) {
            if *flag {
                continue;
            }
            let b = list.counts(before);
            let a = list.counts(after);
            if a.iter().zip(&b).any(|(a, b)| a > b) {
                *flag = true;
            }
        }
        if touched_type {
            // The body may now be relayed as it is, with whatever it holds.
            self.provider_tainted = true;
            self.pbx_tainted = true;
        }
    }

    /// Connection events: 0 the trunk's connection to us closes, 1 ours to it closes,
    /// 2 the rogue's closes, 3 the trunk reconnects (same IP, new port, becomes its
    /// current connection), 4 we reconnect to the trunk (`set_trunk_flow`), 5 a new
    /// connection for the trunk from another IP, 6 the PBX "flow" closes, 7 our previous
    /// connection to the trunk is set again.
    fn flow_op(&mut self, input: &mut Input<'_>) -> Option<()> {
        let (sub, port) = (input.byte()?, input.byte()?);
        let fresh = |me: &mut Self, ip: &str, tcp: bool| {
            me.next_flow += 1;
            let remote = format!("{ip}:{}", 5000 + u16::from(port));
            let transport = if tcp {
                TransportKind::Tcp
            } else {
                TransportKind::Tls
            };
            flow(me.next_flow, &remote, transport)
        };
        match sub % 8 {
            0 => self.b2bua.flow_closed(self.now, self.trunk_in.id),
            1 => self.b2bua.flow_closed(self.now, self.trunk_out.id),
            2 => self.b2bua.flow_closed(self.now, FlowId(ROGUE_FLOW)),
            3 => {
                let f = fresh(self, TRUNK_IP, port & 0x80 != 0);
                self.trunk_in = f;
                self.b2bua.flow_opened(self.now, f, Side::trunk(0));
            }
            4 => {
                let old = self.trunk_out;
                let f = fresh(self, TRUNK_IP, false);
                self.trunk_out = f;
                if port & 1 == 0 {
                    self.trunk_in = f;
                }
                self.b2bua.set_trunk_flow(self.now, 0, f);
                if port & 2 != 0 {
                    self.b2bua.flow_closed(self.now, old.id);
                }
            }
            5 => {
                let f = fresh(self, "198.18.66.66", false);
                self.b2bua.flow_opened(self.now, f, Side::trunk(0));
            }
            6 => self.b2bua.flow_closed(self.now, FlowId(PBX_FLOW)),
            _ => {
                let f = flow(TRUNK_FLOW, "198.18.7.7:5061", TransportKind::Tls);
                self.trunk_out = f;
                self.b2bua.set_trunk_flow(self.now, 0, f);
            }
        }
        self.collect();
        Some(())
    }

    fn step(&mut self, input: &mut Input<'_>) -> Option<()> {
        let op = input.byte()?;
        match op % 10 {
            0 | 1 => self.message(input, false)?,
            2 | 9 => self.message(input, true)?,
            3 => {
                let v = u64::from(input.u16()?);
                let ms = if v < 0x8000 { v } else { (v - 0x8000) * 10 };
                self.advance(Duration::from_millis(ms));
            }
            4 => {
                if let Some(at) = self.b2bua.poll_timeout() {
                    self.now = self.now.max(at);
                    self.b2bua.handle_timeout(self.now);
                    self.collect();
                }
            }
            5 => self.flow_op(input)?,
            6 => {
                let i = input.byte()?;
                if !self.calls.is_empty() {
                    let call = self.calls[usize::from(i) % self.calls.len()];
                    self.b2bua.hang_up(self.now, call);
                    self.collect();
                }
            }
            7 => {
                let (side, len) = (input.byte()?, input.u16()?);
                let raw = input.bytes(usize::from(len % 2048)).to_vec();
                self.taint(&[], &raw, false);
                let (f, pbx) = match side % 3 {
                    0 => (self.trunk_in, false),
                    1 => (pbx_flow(), true),
                    _ => (rogue_flow(), false),
                };
                self.deliver(raw, f, pbx);
            }
            _ => {
                let i = input.byte()?;
                if i & 0x80 != 0 {
                    // A retransmission of something a persona sent.
                    let p = if i & 0x40 != 0 {
                        &self.pbx
                    } else {
                        &self.trunk
                    };
                    if let Some((bytes, f, side)) = nth_newest(&p.delivered, i).cloned() {
                        let _ = self.b2bua.handle_message(self.now, &bytes, f, side);
                        self.collect();
                    }
                } else if let Some(&tx) = nth_newest(&self.sent_tx, i) {
                    self.b2bua.handle_transport_error(self.now, tx);
                    self.collect();
                }
            }
        }
        Some(())
    }

    /// drawbridge hangs up what is left, nobody answers for 10 minutes: everything must
    /// be gone.
    fn finish(&mut self) {
        for call in self.calls.clone() {
            self.b2bua.hang_up(self.now, call);
            self.collect();
        }
        self.advance(Duration::from_secs(600));
        // The closed-flow table is pruned when the next connection closes (it stays as
        // small as the dialogs it serves, and is not scanned per call end).
        self.b2bua.flow_closed(self.now, FlowId(u64::MAX));
        self.collect();
        let a = self.b2bua.audit();
        assert_eq!(a.calls, 0, "calls left after 10 minutes: {a:?}");
        assert_eq!(self.b2bua.calls_active(), 0);
        assert_eq!(a.dialogs, 0, "dialogs left: {a:?}");
        assert_eq!(
            a.contexts, a.maintenance,
            "transaction contexts left: {a:?}"
        );
        assert_eq!(a.orphaned_flows, 0, "closed flows still referenced: {a:?}");
        if self.setup.maintenance() {
            assert!(
                a.transactions <= 2 && a.transactions <= a.maintenance,
                "transactions left beyond trunk maintenance: {a:?}"
            );
        } else {
            assert_eq!(a.transactions, 0, "transactions left: {a:?}");
            assert_eq!(a.pins, 0, "pins left: {a:?}");
            let t = self.b2bua.poll_timeout();
            assert!(t.is_none(), "a deadline is left: {t:?} ({a:?})");
        }
        let ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        let unreleased: Vec<_> = ledger.relayed.difference(&ledger.released).collect();
        assert!(
            unreleased.is_empty(),
            "media never released for {unreleased:?}"
        );
        let unadmitted: Vec<_> = ledger
            .admitted
            .difference(&ledger.admission_released)
            .collect();
        assert!(
            unadmitted.is_empty(),
            "admission never released for {unadmitted:?}"
        );
    }
}

/// Runs one script (see the module docs for the encoding) against a fresh [`B2bua`]
/// whose virtual clock starts at `origin`. Panics when an invariant breaks; returns the
/// core's counters at the end (so the corpus test can see which paths the seeds reach).
pub fn run_calls(origin: Instant, data: &[u8]) -> Counters {
    run(origin, data, None)
}

/// [`run_calls`] handing `sink` a transcript of every message in and out and every
/// event as it happens (for writing seeds and reading crashes).
pub fn trace_calls(origin: Instant, data: &[u8], sink: Sink) -> Counters {
    run(origin, data, Some(sink))
}

fn run(origin: Instant, data: &[u8], trace: Option<Sink>) -> Counters {
    let mut input = Input(data);
    let Some(setup) = input.byte() else {
        return Counters::default();
    };
    let mut script = Script::new(origin, Setup::from_byte(setup));
    script.trace = trace;
    let mut steps = 0;
    while steps < 256 && script.step(&mut input).is_some() {
        steps += 1;
    }
    script.finish();
    script.b2bua.counters()
}
