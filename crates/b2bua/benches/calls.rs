//! CPU time and allocations per complete call through the B2BUA core, in process:
//! `cargo bench -p drawbridge-b2bua --bench calls`.
//!
//! Each call is the provider's INVITE (TLS) to the PBX (UDP), 180, 200 with SDP, ACK, the
//! provider's BYE and the PBX's 200: 6 messages in, 8 or more out, every one parsed,
//! checked, rewritten and serialised by the core, plus the timers that end its
//! transactions. Only the time inside the core's calls is counted (the driver's own work
//! of writing the peers' messages is not), so the figure is the signalling CPU per call
//! that the runtime adds its sockets to. It is the number to watch for the calls-per-
//! second goal; the end-to-end figure is `tests/benches/sip_cps.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that fails may panic
// The bench measures wall time and needs a virtual-clock origin.
#![allow(clippy::disallowed_methods)]

#[path = "../tests/calls/harness.rs"]
mod harness;

use std::alloc::System;
use std::time::{Duration, Instant};

use drawbridge_b2bua::{B2bua, CallHandle, Flow, MediaAllocator, MediaAnchor, MediaRefused, Side};
use drawbridge_sip::sdp::{MediaInfo, MediaPorts};
use drawbridge_sip::{Limits, parse_message};
use harness::*;
use rsip::SipMessage;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Media that costs nothing: the same anchor for every call (the relay is measured by
/// `tests/benches/rtp_relay.rs`).
struct NoMedia;

impl MediaAllocator for NoMedia {
    fn relay(
        &mut self,
        _call: CallHandle,
        _from: Side,
        to: Side,
        remote: &[MediaInfo],
        _signalled_from: std::net::SocketAddr,
    ) -> Result<MediaAnchor, MediaRefused> {
        let address = if to.is_pbx() { LAN_MEDIA } else { PUBLIC_MEDIA };
        Ok(MediaAnchor {
            address: address.parse().unwrap(),
            ports: remote
                .iter()
                .map(|_| MediaPorts {
                    rtp: 40000,
                    rtcp: Some(40001),
                })
                .collect(),
        })
    }

    fn release(&mut self, _call: CallHandle) {}
}

/// The core, its virtual clock, and what was spent inside it.
struct Driver {
    b2bua: B2bua,
    now: Instant,
    busy: Duration,
    allocations: usize,
    sent: Vec<(u64, String)>,
}

impl Driver {
    /// Runs `f` on the core, timing it and counting its allocations; keeps what it sent.
    fn inside(&mut self, f: impl FnOnce(&mut B2bua, Instant)) {
        let before = GLOBAL.stats().allocations;
        let start = Instant::now();
        f(&mut self.b2bua, self.now);
        let mut out = Vec::new();
        while let Some(t) = self.b2bua.poll_transmit() {
            out.push(t);
        }
        while self.b2bua.poll_event().is_some() {}
        self.busy += start.elapsed();
        self.allocations += GLOBAL.stats().allocations - before;
        for t in out {
            self.sent
                .push((t.flow.id.0, String::from_utf8_lossy(&t.bytes).into_owned()));
        }
    }

    fn deliver(&mut self, text: &str, flow: Flow, side: Side) {
        self.inside(|b, now| {
            b.handle_message(now, text.as_bytes(), flow, side).unwrap();
        });
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            match self.b2bua.poll_timeout() {
                Some(at) if at <= end => {
                    self.now = self.now.max(at);
                    self.inside(|b, now| b.handle_timeout(now));
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// The last message sent to `flow`.
    fn last_to(&self, flow: u64) -> String {
        self.sent
            .iter()
            .rev()
            .find(|(f, _)| *f == flow)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("nothing to {flow}: {:#?}", self.sent))
    }
}

fn request(text: &str) -> rsip::Request {
    match parse_message(text.as_bytes(), &Limits::default()).unwrap() {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("expected a request"),
    }
}

fn call(d: &mut Driver, i: usize) {
    let invite = trunk_invite()
        .replace("prov-callid-8f3a", &format!("prov-callid-{i}"))
        .replace("z9hG4bKprov-inv-1", &format!("z9hG4bKprov-inv-{i}"))
        .replace("prov-tag-1", &format!("prov-tag-{i}"));
    d.deliver(&invite, trunk_flow(), Side::trunk(0));
    let to_pbx = request(&d.last_to(PBX_FLOW));
    d.deliver(&pbx_response(&to_pbx, 180, ""), pbx_flow(), Side::Pbx);
    d.deliver(
        &pbx_response(&to_pbx, 200, &pbx_sdp(1, "sendrecv")),
        pbx_flow(),
        Side::Pbx,
    );
    let ok = d.last_to(TRUNK_FLOW);
    d.deliver(
        &ack_for(
            &ok,
            &format!("SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-ack-{i}"),
            4711,
            "",
        ),
        trunk_flow(),
        Side::trunk(0),
    );
    let bye = in_dialog_request(
        "BYE",
        &format!("SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-bye-{i}"),
        &ok,
        false,
        "",
        4712,
        "",
    );
    d.deliver(&bye, trunk_flow(), Side::trunk(0));
    let bye_to_pbx = request(&d.last_to(PBX_FLOW));
    d.deliver(&pbx_response(&bye_to_pbx, 200, ""), pbx_flow(), Side::Pbx);
    d.sent.clear();
}

fn main() {
    const WARM: usize = 2_000;
    const CALLS: usize = 20_000;
    let mut d = Driver {
        b2bua: B2bua::new(config(), Box::new(NoMedia)),
        now: Instant::now(),
        busy: Duration::ZERO,
        allocations: 0,
        sent: Vec::new(),
    };
    for i in 0..WARM {
        call(&mut d, i);
        d.advance(Duration::from_millis(10));
    }
    d.advance(Duration::from_secs(40));
    d.busy = Duration::ZERO;
    d.allocations = 0;
    for i in WARM..WARM + CALLS {
        call(&mut d, i);
        // 100 calls/s of virtual time: the timers of each call fire while others run,
        // and the transactions waiting out their timers (up to 32 s) stay under the
        // layer's default cap.
        d.advance(Duration::from_millis(10));
    }
    d.advance(Duration::from_secs(40));
    assert_eq!(d.b2bua.calls_active(), 0, "every call ended");
    assert_eq!(d.b2bua.transactions(), 0, "every transaction ended");
    let per = d.busy.as_secs_f64() / CALLS as f64;
    println!(
        "| calls | core time per call | calls/s per core | allocations per call |\n\
         |-------|--------------------|------------------|----------------------|\n\
         | {CALLS} | {:>12.1} µs | {:>14.0} | {:>18.0} |",
        per * 1e6,
        1.0 / per,
        d.allocations as f64 / CALLS as f64
    );
}
