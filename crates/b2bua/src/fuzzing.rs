//! The entry point of the `transactions` fuzz target, public so a stable test replays the
//! corpus through exactly the same code. Not an API: hidden from the docs.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use drawbridge_sip::{Limits, parse_message, response_to};
use rsip::headers::UntypedHeader as _;
use rsip::{Request, SipMessage};

use crate::{Config, Flow, Incoming, TransactionId, TransactionLayer, TransportKind, TuEvent};

/// The cap the fuzz target runs with: small, so the overload path is reached.
pub const FUZZ_MAX_TRANSACTIONS: usize = 16;

/// A little-endian cursor over the fuzz input.
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
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

fn flow(selector: u8) -> Flow {
    let transport = if selector & 1 == 0 {
        TransportKind::Udp
    } else {
        TransportKind::Tcp
    };
    let remote = SocketAddr::from((Ipv4Addr::new(198, 18, 0, 1 + (selector >> 4)), 5060));
    Flow::new(u64::from(selector), remote, transport)
}

fn pick<T: Copy>(items: &[T], selector: u8) -> Option<T> {
    (!items.is_empty()).then(|| items[usize::from(selector) % items.len()])
}

fn index(len: usize, selector: u8) -> Option<usize> {
    (len > 0).then(|| usize::from(selector) % len)
}

/// A request the TU might send: method, branch and CSeq from the input (a small branch
/// space so duplicates and CANCEL/INVITE pairs happen).
fn tu_request(method: u8, branch: u8, cseq: u8) -> Option<Request> {
    let method = ["INVITE", "OPTIONS", "CANCEL", "BYE", "ACK", "REGISTER"][usize::from(method) % 6];
    let text = format!(
        "{method} sip:b@198.18.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.100:5060;branch=z9hG4bK{branch}\r\n\
         From: <sip:a@198.18.0.100>;tag=f\r\nTo: <sip:b@198.18.0.2>\r\nCall-ID: fuzz\r\n\
         CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    parse_message(text.as_bytes(), &Limits::default())
        .ok()
        .and_then(|m| Request::try_from(m).ok())
}

/// Runs one fuzz input: a sequence of operations (time advance, a message from the
/// network, TU actions, transport errors) against one layer, draining every queue after
/// each. `origin` is the virtual clock's start (only differences matter). Panics if an invariant breaks: more transactions than the cap, or a timer heap
/// growing beyond a bounded multiple of the live transactions.
pub fn run_transactions(origin: Instant, data: &[u8]) {
    let mut config = Config::default();
    config.set_max_transactions(FUZZ_MAX_TRANSACTIONS);
    let mut layer = TransactionLayer::new(config);
    let mut now = origin;
    let mut servers: Vec<(TransactionId, Request)> = Vec::new();
    let mut clients: Vec<(TransactionId, Request)> = Vec::new();
    let mut input = Input(data);

    while let Some(op) = input.byte() {
        match op % 9 {
            0 => {
                let Some(ms) = input.u16() else { break };
                now += Duration::from_millis(u64::from(ms));
                layer.handle_timeout(now);
            }
            1 => {
                let (Some(sel), Some(len)) = (input.byte(), input.u16()) else {
                    break;
                };
                let bytes = input.bytes(usize::from(len));
                if let Ok(msg) = parse_message(bytes, &Limits::default())
                    && let Ok(Incoming::Overloaded(req)) =
                        layer.handle_incoming(now, msg, flow(sel))
                {
                    layer.send_stateless(
                        flow(sel),
                        &response_to(&req, 503, "Service Unavailable", None),
                    );
                }
            }
            2 => {
                let (Some(which), Some(code)) = (input.byte(), input.u16()) else {
                    break;
                };
                let Some(i) = index(servers.len(), which) else {
                    continue;
                };
                let (id, req) = &servers[i];
                let resp = response_to(req, 100 + code % 600, "Fuzz", Some("srv"));
                let _ = layer.send_response(now, *id, resp);
            }
            3 => {
                let (Some(m), Some(b), Some(c), Some(sel)) =
                    (input.byte(), input.byte(), input.byte(), input.byte())
                else {
                    break;
                };
                if let Some(req) = tu_request(m, b % 8, c)
                    && let Ok(id) = layer.send_request(now, req.clone(), flow(sel))
                {
                    clients.push((id, req));
                }
            }
            4 => {
                let Some(which) = input.byte() else { break };
                let ids: Vec<_> = servers.iter().chain(&clients).map(|(id, _)| *id).collect();
                if let Some(id) = pick(&ids, which) {
                    layer.handle_transport_error(now, id);
                }
            }
            5 => {
                // A well-formed response to one of our requests, to reach deep client states.
                let (Some(which), Some(code), Some(sel)) =
                    (input.byte(), input.u16(), input.byte())
                else {
                    break;
                };
                let Some(i) = index(clients.len(), which) else {
                    continue;
                };
                let resp = response_to(&clients[i].1, 100 + code % 600, "Fuzz", Some("peer"));
                let _ = layer.handle_incoming(now, SipMessage::Response(resp), flow(sel));
            }
            6 => {
                // A retransmission, or the ACK (same branch), of a known server request.
                let (Some(which), Some(kind)) = (input.byte(), input.byte()) else {
                    break;
                };
                let Some(i) = index(servers.len(), which) else {
                    continue;
                };
                let mut req = servers[i].1.clone();
                if kind & 1 == 1 {
                    req.method = rsip::Method::Ack;
                }
                let f = layer.flow(servers[i].0).unwrap_or_else(|| flow(kind));
                let _ = layer.handle_incoming(now, SipMessage::Request(req), f);
            }
            7 => {
                if let Some(at) = layer.poll_timeout() {
                    now = now.max(at);
                    layer.handle_timeout(now);
                }
            }
            _ => {
                let Some(sel) = input.byte() else { break };
                let b = layer.new_branch();
                if let Some(mut req) = tu_request(sel, 0, sel) {
                    let mut v: Vec<rsip::Header> = std::mem::take(&mut req.headers).into();
                    for h in &mut v {
                        if let rsip::Header::Via(via) = h {
                            *via = rsip::headers::Via::new(format!(
                                "SIP/2.0/UDP 198.18.0.100:5060;branch={b}"
                            ));
                        }
                    }
                    req.headers = v.into();
                    if let Ok(id) = layer.send_request(now, req.clone(), flow(sel)) {
                        clients.push((id, req));
                    }
                }
            }
        }
        while layer.poll_transmit().is_some() {}
        while let Some(event) = layer.poll_event() {
            match event {
                TuEvent::Request { id, request, .. } => servers.push((id, request)),
                TuEvent::Terminated { id } => {
                    servers.retain(|(s, _)| *s != id);
                    clients.retain(|(c, _)| *c != id);
                }
                _ => {}
            }
        }
        // In-dialog requests and CANCELs may use up to twice the cap (so calls can end
        // while new ones are refused); nothing may go beyond that.
        assert!(
            layer.len() <= 2 * FUZZ_MAX_TRANSACTIONS,
            "cap exceeded: {}",
            layer.len()
        );
        assert!(
            servers.len() + clients.len() == layer.len(),
            "every transaction terminates exactly once"
        );
        assert!(
            layer.timer_entries() <= 64 + 8 * layer.len() + 8,
            "timer heap unbounded: {} entries for {} transactions",
            layer.timer_entries(),
            layer.len()
        );
        let _ = layer.poll_timeout().map(|t| assert!(t >= origin));
    }
}

mod calls;
pub use self::calls::{
    FUZZ_MAX_CALLS, FUZZ_MAX_TRANSACTIONS as FUZZ_CALLS_MAX_TRANSACTIONS, PASSWORD_SECRETS,
    PBX_SECRETS, PROVIDER_SECRETS, Sink, run_calls, trace_calls,
};
