//! Memory per transaction (a counting global allocator) and transactions per second
//! through the layer. `cargo bench -p drawbridge-b2bua --bench transactions`.
//!
//! Messages are parsed before the clock starts: the numbers are the transaction layer's
//! own cost (keying, state, timers, serialization of what it sends), not the parser's.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that fails may panic
// The bench measures wall time and needs a virtual-clock origin.
#![allow(clippy::disallowed_methods)]

use std::alloc::System;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use drawbridge_b2bua::{
    Config, Flow, Incoming, TransactionId, TransactionLayer, TransportKind, TuEvent,
};
use drawbridge_sip::{Limits, parse_message, response_to};
use rsip::{Request, SipMessage};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 198.18.0.1\r\ns=-\r\nc=IN IP4 198.18.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n";

fn message(method: &str, branch: &str, body: &str) -> Request {
    let text = format!(
        "{method} sip:+4930123456@198.18.0.2;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.18.0.1:5060;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice\" <sip:alice@198.18.0.1>;tag=9fxced76sl\r\n\
         To: <sip:+4930123456@198.18.0.2;user=phone>\r\n\
         Call-ID: 3848276298220188511@198.18.0.1\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:alice@198.18.0.1:5060;transport=udp>\r\n\
         User-Agent: bench/1.0\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    Request::try_from(parse_message(text.as_bytes(), &Limits::default()).unwrap()).unwrap()
}

fn udp() -> Flow {
    Flow::new(
        1,
        "198.18.0.1:5060".parse::<SocketAddr>().unwrap(),
        TransportKind::Udp,
    )
}

fn drain(layer: &mut TransactionLayer) {
    while layer.poll_transmit().is_some() {}
    while layer.poll_event().is_some() {}
}

/// Hands `req` to the layer as a new request from [`udp`] and returns its server
/// transaction; panics if the layer did not open one.
fn new_server(layer: &mut TransactionLayer, now: Instant, req: &Request) -> TransactionId {
    let Incoming::New(id) = layer
        .handle_incoming(now, SipMessage::Request(req.clone()), udp())
        .unwrap()
    else {
        panic!()
    };
    id
}

/// Answers `req`, a new request, with each of `responses` (code, reason) in turn, then
/// drains what the layer queued.
fn serve(layer: &mut TransactionLayer, now: Instant, req: &Request, responses: &[(u16, &str)]) {
    let id = new_server(layer, now, req);
    for (code, reason) in responses {
        layer
            .send_response(now, id, response_to(req, *code, reason, Some("t")))
            .unwrap();
    }
    drain(layer);
}

/// Runs `one` on every item, `rounds` times 40 s apart from `base`, firing the timers 33 s
/// into each round (then `after_round` checks the layer), and prints the items per second.
fn rate<T>(
    label: &str,
    layer: &mut TransactionLayer,
    (base, rounds): (Instant, u64),
    items: &[T],
    mut one: impl FnMut(&mut TransactionLayer, Instant, &T),
    after_round: impl Fn(&TransactionLayer),
) {
    let start = Instant::now();
    let mut done = 0u64;
    for round in 0..rounds {
        let now = base + Duration::from_secs(40 * round);
        for item in items {
            one(layer, now, item);
            done += 1;
        }
        layer.handle_timeout(now + Duration::from_secs(33));
        drain(layer);
        after_round(layer);
    }
    let el = start.elapsed();
    println!("rate    {label} {:>9.0} /s", done as f64 / el.as_secs_f64());
}

/// Bytes currently allocated.
fn live() -> isize {
    let s = GLOBAL.stats();
    s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated
}

/// Bytes held per transaction once `setup` has run on N of them (events/transmits drained).
fn memory(name: &str, n: usize, mut setup: impl FnMut(&mut TransactionLayer, Instant, usize)) {
    let now = Instant::now();
    let mut config = Config::default();
    config.set_max_transactions(n + 1);
    let mut layer = TransactionLayer::new(config);
    let before = live();
    for i in 0..n {
        setup(&mut layer, now, i);
        drain(&mut layer);
    }
    assert_eq!(layer.len(), n);
    let per = (live() - before) as f64 / n as f64;
    println!(
        "memory  {name:<44} {per:>8.0} B/transaction ({} timer entries)",
        layer.timer_entries()
    );
}

fn main() {
    let n = 10_000;
    let invites: Vec<Request> = (0..n)
        .map(|i| message("INVITE", &format!("z9hG4bK{i:08}"), SDP))
        .collect();
    let options: Vec<Request> = (0..n)
        .map(|i| message("OPTIONS", &format!("z9hG4bK{i:08}"), ""))
        .collect();
    println!(
        "INVITE on the wire: {} bytes",
        drawbridge_sip::to_bytes(&invites[0]).len()
    );

    memory("INVITE server, Proceeding (100 pending)", n, |l, now, i| {
        l.handle_incoming(now, SipMessage::Request(invites[i].clone()), udp())
            .unwrap();
    });
    memory("INVITE server, Proceeding (180 sent)", n, |l, now, i| {
        let id = new_server(l, now, &invites[i]);
        l.send_response(now, id, response_to(&invites[i], 180, "Ringing", Some("t")))
            .unwrap();
    });
    memory(
        "INVITE server, Completed (486 held for Timer G)",
        n,
        |l, now, i| {
            let id = new_server(l, now, &invites[i]);
            l.send_response(
                now,
                id,
                response_to(&invites[i], 486, "Busy Here", Some("t")),
            )
            .unwrap();
        },
    );
    memory(
        "INVITE client, Calling (INVITE + ACK template)",
        n,
        |l, now, i| {
            l.send_request(now, invites[i].clone(), udp()).unwrap();
        },
    );
    memory("non-INVITE client, Trying", n, |l, now, i| {
        l.send_request(now, options[i].clone(), udp()).unwrap();
    });
    memory("non-INVITE server, Completed (200 held)", n, |l, now, i| {
        let id = new_server(l, now, &options[i]);
        l.send_response(now, id, response_to(&options[i], 200, "OK", Some("t")))
            .unwrap();
    });

    // Throughput: complete server INVITE cycles (INVITE in, 180, 200, transaction ends
    // after Timer L) and client INVITE cycles (INVITE out, 180 + 200 in).
    let mut layer = TransactionLayer::new(Config::default());
    let clock = (Instant::now(), 5);
    rate(
        "INVITE server transactions (INVITE, 180, 200, Timer L) ",
        &mut layer,
        clock,
        &invites,
        |layer, now, req| serve(layer, now, req, &[(180, "Ringing"), (200, "OK")]),
        |layer| assert!(layer.is_empty()),
    );

    let responses: Vec<_> = invites
        .iter()
        .map(|r| {
            (
                r,
                SipMessage::Response(response_to(r, 180, "Ringing", Some("t"))),
                SipMessage::Response(response_to(r, 200, "OK", Some("t"))),
            )
        })
        .collect();
    rate(
        "INVITE client transactions (INVITE, 180, 200, Timer M) ",
        &mut layer,
        clock,
        &responses,
        |layer, now, (req, ringing, ok)| {
            let id = layer.send_request(now, (*req).clone(), udp()).unwrap();
            layer.handle_incoming(now, ringing.clone(), udp()).unwrap();
            layer.handle_incoming(now, ok.clone(), udp()).unwrap();
            while let Some(e) = layer.poll_event() {
                if let TuEvent::Response { id: r, .. } = e {
                    assert_eq!(r, id)
                }
            }
            while layer.poll_transmit().is_some() {}
        },
        |layer| assert!(layer.is_empty()),
    );

    rate(
        "non-INVITE server transactions (OPTIONS, 200, Timer J)",
        &mut layer,
        clock,
        &options,
        |layer, now, req| serve(layer, now, req, &[(200, "OK")]),
        |_| {},
    );
}
