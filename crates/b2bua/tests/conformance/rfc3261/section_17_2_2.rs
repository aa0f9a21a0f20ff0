//! RFC 3261 §17.2.2: non-INVITE server transaction (Figure 8).

use drawbridge_b2bua::{Incoming, SendError, TransactionState, TuEvent};

use crate::harness::*;

fn new_options(
    h: &mut Harness,
    flow: drawbridge_b2bua::Flow,
) -> (drawbridge_b2bua::TransactionId, rsip::Request) {
    let req = request("OPTIONS", B1, 1);
    let Incoming::New(id) = h.feed_request(&req, flow) else {
        panic!("new transaction")
    };
    assert!(matches!(h.events()[..], [TuEvent::Request { .. }]));
    (id, req)
}

/// Trying: retransmissions are discarded; nothing is sent, the TU hears nothing; no timer.
#[test]
fn trying_discards_retransmissions() {
    let mut h = Harness::new();
    let (id, req) = new_options(&mut h, udp());
    assert_eq!(h.layer.state(id), Some(TransactionState::Trying));
    assert!(matches!(h.feed_request(&req, udp()), Incoming::Matched(i) if i == id));
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

/// Trying --1xx--> Proceeding: retransmissions get the latest provisional.
#[test]
fn proceeding_resends_provisional() {
    let mut h = Harness::new();
    let (id, req) = new_options(&mut h, udp());
    h.layer
        .send_response(h.now, id, response(&req, 100, None))
        .unwrap();
    assert_eq!(h.sent()[0].code(), 100);
    assert_eq!(h.layer.state(id), Some(TransactionState::Proceeding));
    h.layer
        .send_response(h.now, id, response(&req, 182, Some("s")))
        .unwrap();
    h.sent();
    h.feed_request(&req, udp());
    assert_eq!(h.sent()[0].code(), 182);
    assert!(h.events().is_empty());
}

/// Trying/Proceeding --200-699--> Completed: retransmissions get the final; Timer J
/// (64*T1) ends it; later the same request is new again.
#[test]
fn completed_resends_final_until_timer_j() {
    for provisional_first in [false, true] {
        let mut h = Harness::new();
        let (id, req) = new_options(&mut h, udp());
        if provisional_first {
            h.layer
                .send_response(h.now, id, response(&req, 100, None))
                .unwrap();
        }
        h.layer
            .send_response(h.now, id, response(&req, 200, Some("s")))
            .unwrap();
        let last = h.sent().pop().unwrap();
        assert_eq!(last.code(), 200);
        assert_eq!(h.layer.state(id), Some(TransactionState::Completed));
        h.advance(1_000);
        h.feed_request(&req, udp());
        assert_eq!(h.sent()[0].bytes, last.bytes);
        assert!(h.events().is_empty());
        assert!(matches!(
            h.layer
                .send_response(h.now, id, response(&req, 500, Some("s"))),
            Err(SendError::AfterFinal { .. })
        ));
        let (sent, events) = h.advance_with_events(30_999);
        assert!(
            sent.is_empty() && events.is_empty(),
            "no retransmission of its own"
        );
        let (_, events) = h.advance_with_events(1);
        assert!(matches!(events[..], [TuEvent::Terminated { id: t }] if t == id));
        assert!(matches!(h.feed_request(&req, udp()), Incoming::New(n) if n != id));
    }
}

/// Reliable transport: Timer J is zero.
#[test]
fn reliable_timer_j_zero() {
    let mut h = Harness::new();
    let (id, req) = new_options(&mut h, tcp());
    h.layer
        .send_response(h.now, id, response(&req, 200, Some("s")))
        .unwrap();
    assert_eq!(h.sent().len(), 1);
    assert!(matches!(h.events()[..], [TuEvent::Terminated { id: t }] if t == id));
    assert_eq!(h.layer.state(id), None);
}
