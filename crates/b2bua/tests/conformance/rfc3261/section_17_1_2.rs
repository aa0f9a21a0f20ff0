//! RFC 3261 §17.1.2: non-INVITE client transaction (Figure 6).

use drawbridge_b2bua::{TimerKind, TransactionState, TuEvent};
use rsip::Method;

use crate::harness::*;

/// §17.1.2.2: Timer E doubles from T1 and is capped at T2 (4 s); Timer F (64*T1) times out.
#[test]
fn trying_timer_e_capped_at_t2_until_timer_f() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(h.now, request("OPTIONS", B1, 1), udp())
        .unwrap();
    let first = h.sent();
    assert_eq!(first[0].request().method, Method::Options);
    let (sent, events) = h.advance_with_events(31_999);
    assert_eq!(
        times(&sent),
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert!(sent.iter().all(|s| s.bytes == first[0].bytes));
    assert!(events.is_empty());
    assert_eq!(h.layer.state(id), Some(TransactionState::Trying));
    let (_, events) = h.advance_with_events(1);
    assert!(matches!(
        events[..],
        [
            TuEvent::Timeout {
                timer: TimerKind::F,
                ..
            },
            TuEvent::Terminated { .. }
        ]
    ));
}

/// Trying --1xx--> Proceeding: passed up; Timer E now re-arms with T2 each time it fires;
/// Timer F still applies.
#[test]
fn proceeding_retransmits_every_t2() {
    let mut h = Harness::new();
    let req = request("REGISTER", B1, 1);
    let id = h.layer.send_request(h.now, req.clone(), udp()).unwrap();
    h.sent();
    h.advance(200);
    h.feed_response(&response(&req, 100, None), udp());
    assert!(matches!(h.events()[..], [TuEvent::Response { .. }]));
    assert_eq!(h.layer.state(id), Some(TransactionState::Proceeding));
    h.feed_response(&response(&req, 101, None), udp());
    assert_eq!(
        h.events().len(),
        1,
        "Proceeding --1xx--> Proceeding passes each up"
    );
    let (sent, events) = h.advance_with_events(31_799);
    assert_eq!(
        times(&sent),
        [500, 4500, 8500, 12500, 16500, 20500, 24500, 28500]
    );
    assert!(events.is_empty());
    let (_, events) = h.advance_with_events(1);
    assert!(matches!(
        events[..],
        [
            TuEvent::Timeout {
                timer: TimerKind::F,
                ..
            },
            TuEvent::Terminated { .. }
        ]
    ));
}

/// Trying/Proceeding --200-699--> Completed: passed up once; retransmissions of it are
/// absorbed; Timer K = T4 (5 s) on UDP.
#[test]
fn final_to_completed_absorbs_until_timer_k() {
    for provisional_first in [false, true] {
        let mut h = Harness::new();
        let req = request("BYE", B1, 2);
        let id = h.layer.send_request(h.now, req.clone(), udp()).unwrap();
        h.sent();
        if provisional_first {
            h.feed_response(&response(&req, 100, None), udp());
            h.events();
        }
        h.feed_response(&response(&req, 404, Some("t")), udp());
        assert!(
            matches!(&h.events()[..], [TuEvent::Response { response, .. }]
            if response.status_code.code() == 404)
        );
        assert_eq!(h.layer.state(id), Some(TransactionState::Completed));
        h.feed_response(&response(&req, 404, Some("t")), udp());
        assert!(h.events().is_empty());
        let (sent, events) = h.advance_with_events(4_999);
        assert!(sent.is_empty(), "no retransmission in Completed");
        assert!(events.is_empty());
        let (_, events) = h.advance_with_events(1);
        assert!(matches!(events[..], [TuEvent::Terminated { id: t }] if t == id));
    }
}

/// Reliable transport: no Timer E, and Timer K is zero.
#[test]
fn reliable_no_timer_e_and_timer_k_zero() {
    let mut h = Harness::new();
    let req = request("OPTIONS", B1, 1);
    let id = h.layer.send_request(h.now, req.clone(), tcp()).unwrap();
    assert_eq!(h.sent().len(), 1);
    assert!(h.advance(20_000).is_empty());
    h.feed_response(&response(&req, 200, Some("t")), tcp());
    let events = h.events();
    assert!(
        matches!(events[..], [TuEvent::Response { .. }, TuEvent::Terminated { id: t }] if t == id)
    );
}

/// Timer F can also fire in Proceeding.
#[test]
fn proceeding_timer_f() {
    let mut h = Harness::new();
    let req = request("OPTIONS", B1, 1);
    h.layer.send_request(h.now, req.clone(), tcp()).unwrap();
    h.feed_response(&response(&req, 100, None), tcp());
    h.events();
    let (_, events) = h.advance_with_events(32_000);
    assert!(matches!(
        events[..],
        [
            TuEvent::Timeout {
                timer: TimerKind::F,
                ..
            },
            TuEvent::Terminated { .. }
        ]
    ));
}
