//! A virtual-clock harness around one `TransactionLayer` (quinn-proto `tests/util.rs` style).

#![allow(dead_code)]
// not every test file uses every helper
// Test helpers: a panic here is a failed test (clippy's test allowance only covers #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use drawbridge_b2bua::{Config, Flow, Incoming, TransactionLayer, TransportKind, TuEvent};
use drawbridge_sip::{Limits, parse_message, response_to, to_bytes};
use rsip::{Request, Response, SipMessage};

pub(crate) fn udp() -> Flow {
    Flow::new(
        1,
        "198.18.0.1:5060".parse::<SocketAddr>().unwrap(),
        TransportKind::Udp,
    )
}

pub(crate) fn tcp() -> Flow {
    Flow::new(
        2,
        "198.18.0.1:5060".parse::<SocketAddr>().unwrap(),
        TransportKind::Tcp,
    )
}

pub(crate) const B1: &str = "z9hG4bK-test-1";
pub(crate) const B2: &str = "z9hG4bK-test-2";

/// A request as text, with `branch` on the top Via (`transport` in the Via) and a Route.
pub(crate) fn request_text(method: &str, branch: &str, cseq: u32, to_tag: Option<&str>) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:bob@198.18.0.2 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.18.0.1:5060;branch={branch}\r\n\
         Via: SIP/2.0/UDP 198.18.0.9:5060;branch=z9hG4bK-lower\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:edge.invalid;lr>\r\n\
         From: <sip:alice@198.18.0.1>;tag=a1\r\n\
         To: <sip:bob@198.18.0.2>{to_tag}\r\n\
         Call-ID: call-1@198.18.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:alice@198.18.0.1>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

pub(crate) fn parse(bytes: &[u8]) -> SipMessage {
    parse_message(bytes, &Limits::default()).expect("test message parses")
}

pub(crate) fn request(method: &str, branch: &str, cseq: u32) -> Request {
    Request::try_from(parse(request_text(method, branch, cseq, None).as_bytes())).unwrap()
}

/// A response to `req` as the peer would send it (To tag added to non-100 responses).
pub(crate) fn response(req: &Request, code: u16, tag: Option<&str>) -> Response {
    response_to(req, code, "Reason", tag)
}

/// What a transmit carried, parsed.
#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) at_ms: u64,
    pub(crate) flow: Flow,
    pub(crate) bytes: Vec<u8>,
    pub(crate) message: SipMessage,
}

impl Sent {
    pub(crate) fn request(&self) -> &Request {
        match &self.message {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => panic!("expected a request, got {:?}", self.text()),
        }
    }
    pub(crate) fn code(&self) -> u16 {
        match &self.message {
            SipMessage::Response(r) => r.status_code.code(),
            SipMessage::Request(_) => panic!("expected a response, got {:?}", self.text()),
        }
    }
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

pub(crate) struct Harness {
    pub(crate) layer: TransactionLayer,
    pub(crate) start: Instant,
    pub(crate) now: Instant,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub(crate) fn with_config(config: Config) -> Self {
        // The virtual clock needs an origin; only differences from it are ever used.
        #[allow(clippy::disallowed_methods)]
        let start = Instant::now();
        Self {
            layer: TransactionLayer::new(config),
            start,
            now: start,
        }
    }

    pub(crate) fn ms(&self) -> u64 {
        u64::try_from((self.now - self.start).as_millis()).unwrap()
    }

    /// Feeds wire bytes through the real parser.
    pub(crate) fn feed_bytes(&mut self, bytes: &[u8], flow: Flow) -> Incoming {
        self.layer
            .handle_incoming(self.now, parse(bytes), flow)
            .expect("message accepted")
    }

    pub(crate) fn feed_request(&mut self, req: &Request, flow: Flow) -> Incoming {
        self.feed_bytes(&to_bytes(req), flow)
    }

    pub(crate) fn feed_response(&mut self, resp: &Response, flow: Flow) -> Incoming {
        self.feed_bytes(&to_bytes(resp), flow)
    }

    /// Drains the transmit queue, stamping each with the current virtual time.
    pub(crate) fn sent(&mut self) -> Vec<Sent> {
        let at_ms = self.ms();
        std::iter::from_fn(|| self.layer.poll_transmit())
            .map(|t| Sent {
                at_ms,
                flow: t.flow,
                bytes: t.bytes.to_vec(),
                message: parse(&t.bytes),
            })
            .collect()
    }

    pub(crate) fn events(&mut self) -> Vec<TuEvent> {
        std::iter::from_fn(|| self.layer.poll_event()).collect()
    }

    /// Advances the clock by `ms`, firing each timer at its own deadline, and returns
    /// everything sent on the way (stamped with the time it left).
    pub(crate) fn advance(&mut self, ms: u64) -> Vec<Sent> {
        let target = self.now + Duration::from_millis(ms);
        let mut out = Vec::new();
        while let Some(at) = self.layer.poll_timeout() {
            if at > target {
                break;
            }
            self.now = at;
            self.layer.handle_timeout(at);
            out.extend(self.sent());
        }
        self.now = target;
        self.layer.handle_timeout(target);
        out.extend(self.sent());
        out
    }

    /// Advances by `ms` and also collects the TU events raised meanwhile.
    pub(crate) fn advance_with_events(&mut self, ms: u64) -> (Vec<Sent>, Vec<TuEvent>) {
        let sent = self.advance(ms);
        (sent, self.events())
    }
}

pub(crate) fn times(sent: &[Sent]) -> Vec<u64> {
    sent.iter().map(|s| s.at_ms).collect()
}

pub(crate) fn branch_of(headers: &rsip::Headers) -> String {
    use rsip::headers::ToTypedHeader as _;
    let via = headers
        .iter()
        .find_map(|h| match h {
            rsip::Header::Via(v) => Some(v.typed().unwrap()),
            _ => None,
        })
        .unwrap();
    via.branch().unwrap().to_string()
}

pub(crate) fn header_count(headers: &rsip::Headers, f: impl Fn(&rsip::Header) -> bool) -> usize {
    headers.iter().filter(|h| f(h)).count()
}

pub(crate) fn to_tag(headers: &rsip::Headers) -> Option<String> {
    use rsip::headers::ToTypedHeader as _;
    headers.iter().find_map(|h| match h {
        rsip::Header::To(t) => t.typed().unwrap().tag().map(|t| t.to_string()),
        _ => None,
    })
}

pub(crate) fn cseq(headers: &rsip::Headers) -> (u32, rsip::Method) {
    use rsip::headers::ToTypedHeader as _;
    headers
        .iter()
        .find_map(|h| match h {
            rsip::Header::CSeq(c) => {
                let c = c.typed().unwrap();
                Some((c.seq, c.method))
            }
            _ => None,
        })
        .unwrap()
}
