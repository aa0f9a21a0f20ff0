//! Layer-wide guarantees: FIFO transmits, the transaction cap, bounded timer state, and
//! the TU-facing errors.

use drawbridge_b2bua::{Config, Incoming, SendError, TransactionLayer, TuEvent};
use drawbridge_sip::response_to;
use rsip::Method;

use crate::harness::*;

/// Transmits leave in the order the TU produced them: a 180 never overtakes its 200,
/// and interleaved transactions keep their relative order too.
#[test]
fn transmit_queue_is_fifo() {
    let mut h = Harness::new();
    let a = request("INVITE", B1, 1);
    let b = request("INVITE", B2, 1);
    let Incoming::New(ia) = h.feed_request(&a, udp()) else {
        panic!()
    };
    let Incoming::New(ib) = h.feed_request(&b, tcp()) else {
        panic!()
    };
    h.layer
        .send_response(h.now, ia, response(&a, 180, Some("x")))
        .unwrap();
    h.layer
        .send_response(h.now, ib, response(&b, 183, Some("y")))
        .unwrap();
    h.layer
        .send_response(h.now, ia, response(&a, 200, Some("x")))
        .unwrap();
    h.layer
        .send_response(h.now, ib, response(&b, 486, Some("y")))
        .unwrap();
    let sent = h.sent();
    let order: Vec<_> = sent.iter().map(|s| (s.flow, s.code())).collect();
    assert_eq!(
        order,
        [(udp(), 180), (tcp(), 183), (udp(), 200), (tcp(), 486)]
    );
    let _ = Method::Invite;
}

/// At the cap a new request creates no state and is handed back for a stateless 503;
/// existing transactions keep working; capacity returns when one terminates.
#[test]
fn transaction_cap_signals_503_without_state() {
    let mut config = Config::default();
    config.set_max_transactions(2);
    let mut h = Harness::with_config(config);
    let one = request("OPTIONS", "z9hG4bK-1", 1);
    let Incoming::New(first) = h.feed_request(&one, udp()) else {
        panic!()
    };
    h.layer
        .send_request(h.now, request("OPTIONS", "z9hG4bK-out", 1), udp())
        .unwrap();
    h.events();
    h.sent();
    assert_eq!(h.layer.len(), 2);

    let three = request("INVITE", "z9hG4bK-3", 1);
    let Incoming::Overloaded(refused) = h.feed_request(&three, udp()) else {
        panic!("overload")
    };
    assert_eq!(h.layer.len(), 2);
    assert!(
        h.events().is_empty(),
        "the TU never sees the refused request"
    );
    assert!(h.sent().is_empty(), "the layer sends nothing by itself");
    h.layer.send_stateless(
        udp(),
        &response_to(&refused, 503, "Service Unavailable", None),
    );
    let sent = h.sent();
    assert_eq!(sent[0].code(), 503);
    assert!(
        sent[0]
            .text()
            .starts_with("SIP/2.0 503 Service Unavailable\r\n")
    );
    assert!(sent[0].text().contains("branch=z9hG4bK-3"));

    assert!(matches!(
        h.layer
            .send_request(h.now, request("OPTIONS", "z9hG4bK-out2", 1), udp()),
        Err(SendError::Overloaded { limit: 2 })
    ));
    // Existing transactions still match; ACKs are never refused.
    assert!(matches!(h.feed_request(&one, udp()), Incoming::Matched(i) if i == first));
    let ack = request_text("ACK", "z9hG4bK-ack", 1, Some("t"));
    assert!(matches!(
        h.feed_bytes(ack.as_bytes(), udp()),
        Incoming::PassedUp
    ));

    h.layer
        .send_response(h.now, first, response(&one, 200, Some("t")))
        .unwrap();
    h.advance(32_000); // Timer J
    assert_eq!(
        h.layer.len(),
        0,
        "timer F of the client and J of the server fired"
    );
    assert!(matches!(h.feed_request(&three, udp()), Incoming::New(_)));
}

/// Timer entries of finished transactions do not pile up: the heap stays a small
/// multiple of the live transactions.
#[test]
fn timer_heap_stays_bounded() {
    let mut h = Harness::new();
    for i in 0..2_000u32 {
        let req = request("OPTIONS", &format!("z9hG4bK-{i}"), 1);
        let id = h.layer.send_request(h.now, req.clone(), udp()).unwrap();
        h.feed_response(&response(&req, 200, Some("t")), udp());
        assert!(h.layer.state(id).is_some());
        h.sent();
        h.events();
        h.advance(1);
    }
    // Each finished OPTIONS leaves stale E and F entries behind a live K.
    assert!(
        h.layer.timer_entries() <= 64 + 8 * h.layer.len() + 16,
        "{}",
        h.layer.timer_entries()
    );
    h.advance(60_000);
    assert_eq!(h.layer.len(), 0);
    assert_eq!(h.layer.poll_timeout(), None);
    assert_eq!(h.layer.timer_entries(), 0);
}

#[test]
fn send_request_errors() {
    let mut layer = TransactionLayer::new(Config::default());
    let now = Harness::new().now;
    let no_cookie = request("OPTIONS", "old-branch", 1);
    assert!(matches!(
        layer.send_request(now, no_cookie, udp()),
        Err(SendError::Message(_))
    ));
    let ack = request("ACK", B1, 1);
    assert_eq!(
        layer.send_request(now, ack, udp()),
        Err(SendError::AckIsNotATransaction)
    );
    let id = layer
        .send_request(now, request("OPTIONS", B1, 1), udp())
        .unwrap();
    assert_eq!(
        layer.send_request(now, request("OPTIONS", B1, 2), udp()),
        Err(SendError::DuplicateBranch(id))
    );
    assert!(
        matches!(layer.send_response(now, id, response(&request("OPTIONS", B1, 1), 200, None)),
        Err(SendError::NotServer(i)) if i == id)
    );
    assert!(layer.poll_transmit().is_some());
}

#[test]
fn send_response_errors() {
    let mut h = Harness::new();
    let req = request("OPTIONS", B1, 1);
    let Incoming::New(id) = h.feed_request(&req, udp()) else {
        panic!()
    };
    let mut bad = response(&req, 200, None);
    bad.status_code = rsip::StatusCode::Other(99, "x".into());
    assert_eq!(
        h.layer.send_response(h.now, id, bad),
        Err(SendError::BadStatus(99))
    );
    h.layer
        .send_response(h.now, id, response(&req, 200, None))
        .unwrap();
    h.advance(32_000);
    assert!(matches!(
        h.events().last(),
        Some(TuEvent::Terminated { .. })
    ));
    assert_eq!(
        h.layer.send_response(h.now, id, response(&req, 200, None)),
        Err(SendError::UnknownTransaction(id))
    );
}

#[test]
fn new_branch_is_unique_and_rfc3261() {
    let mut config = Config::default();
    config.set_branch_secret(0x5eed);
    let mut a = TransactionLayer::new(config.clone());
    let mut b = TransactionLayer::new(Config::default());
    let x = a.new_branch();
    let y = a.new_branch();
    assert!(x.starts_with("z9hG4bK") && x.len() > 20);
    assert_ne!(x, y);
    assert_ne!(x, b.new_branch(), "the secret changes the branch");
}

/// At the cap, a BYE inside an existing dialog is still accepted (refusing it would leave
/// the call up for good), up to twice the cap; a new INVITE is refused.
#[test]
fn in_dialog_requests_pass_the_cap_up_to_twice_it() {
    let mut config = Config::default();
    config.set_max_transactions(1);
    let mut h = Harness::with_config(config);
    let Incoming::New(_) = h.feed_request(&request("OPTIONS", "z9hG4bK-1", 1), udp()) else {
        panic!()
    };
    assert!(matches!(
        h.feed_request(&request("INVITE", "z9hG4bK-2", 1), udp()),
        Incoming::Overloaded(_)
    ));
    let bye = request_text("BYE", "z9hG4bK-bye", 2, Some("t1"));
    assert!(
        matches!(h.feed_bytes(bye.as_bytes(), udp()), Incoming::New(_)),
        "an in-dialog BYE is not refused at the cap"
    );
    let bye2 = request_text("BYE", "z9hG4bK-bye2", 3, Some("t2"));
    assert!(
        matches!(
            h.feed_bytes(bye2.as_bytes(), udp()),
            Incoming::Overloaded(_)
        ),
        "twice the cap still bounds state"
    );
}
