//! RFC 3261 §17.2.3: matching requests to server transactions: branch + sent-by +
//! method (ACK as INVITE); RFC 2543 requests without the magic cookie.

use drawbridge_b2bua::{Incoming, TransactionState, TuEvent};

use crate::harness::*;

/// Same branch, different sent-by: a different transaction.
#[test]
fn sent_by_is_part_of_the_key() {
    let mut h = Harness::new();
    let a = request_text("OPTIONS", B1, 1, None);
    let b = a.replace(
        "Via: SIP/2.0/UDP 198.18.0.1:5060",
        "Via: SIP/2.0/UDP 198.18.0.7:5060",
    );
    let Incoming::New(x) = h.feed_bytes(a.as_bytes(), udp()) else {
        panic!()
    };
    let Incoming::New(y) = h.feed_bytes(b.as_bytes(), udp()) else {
        panic!()
    };
    assert_ne!(x, y);
    assert_eq!(h.events().len(), 2);
}

/// Same branch and sent-by, different method (not ACK/CANCEL): different transactions.
#[test]
fn method_is_part_of_the_key() {
    let mut h = Harness::new();
    let Incoming::New(x) = h.feed_request(&request("OPTIONS", B1, 1), udp()) else {
        panic!()
    };
    let Incoming::New(y) = h.feed_request(&request("INFO", B1, 1), udp()) else {
        panic!()
    };
    assert_ne!(x, y);
}

/// Sent-by host case does not matter (hosts are case-insensitive).
#[test]
fn sent_by_host_case_insensitive() {
    let mut h = Harness::new();
    let a = request_text("OPTIONS", B1, 1, None).replace(
        "SIP/2.0/UDP 198.18.0.1:5060;",
        "SIP/2.0/UDP Host.Example:5060;",
    );
    let b = a.replace("Host.Example", "host.example");
    let Incoming::New(x) = h.feed_bytes(a.as_bytes(), udp()) else {
        panic!()
    };
    assert!(matches!(h.feed_bytes(b.as_bytes(), udp()), Incoming::Matched(y) if y == x));
}

/// RFC 2543 peers (no z9hG4bK): retransmissions still match, and so does the ACK for a
/// non-2xx (same Request-URI, Call-ID, From tag, CSeq number, top Via).
#[test]
fn rfc2543_requests_match_retransmissions_and_ack() {
    let mut h = Harness::new();
    let invite_text = request_text("INVITE", "old-1", 1, None);
    let Incoming::New(id) = h.feed_bytes(invite_text.as_bytes(), udp()) else {
        panic!()
    };
    h.events();
    assert!(matches!(h.feed_bytes(invite_text.as_bytes(), udp()), Incoming::Matched(i) if i == id));
    assert!(h.events().is_empty());
    // Without a branch at all.
    let nobranch = invite_text
        .replace(";branch=old-1", "")
        .replace("CSeq: 1", "CSeq: 2");
    let Incoming::New(id2) = h.feed_bytes(nobranch.as_bytes(), udp()) else {
        panic!()
    };
    assert!(matches!(h.feed_bytes(nobranch.as_bytes(), udp()), Incoming::Matched(i) if i == id2));

    let invite = rsip::Request::try_from(parse(invite_text.as_bytes())).unwrap();
    h.layer
        .send_response(h.now, id, response(&invite, 486, Some("s")))
        .unwrap();
    let ack = request_text("ACK", "old-1", 1, Some("s"));
    assert!(matches!(h.feed_bytes(ack.as_bytes(), udp()), Incoming::Matched(i) if i == id));
    assert_eq!(h.layer.state(id), Some(TransactionState::Confirmed));
    assert!(!h.events().iter().any(|e| matches!(e, TuEvent::Ack { .. })));
}

/// An ACK matching nothing (the ACK for a 2xx, usually) goes to the TU.
#[test]
fn unmatched_ack_goes_to_tu() {
    let mut h = Harness::new();
    let ack = request_text("ACK", B2, 1, Some("s"));
    assert!(matches!(
        h.feed_bytes(ack.as_bytes(), udp()),
        Incoming::PassedUp
    ));
    assert!(matches!(
        h.events()[..],
        [TuEvent::Ack {
            transaction: None,
            ..
        }]
    ));
    assert!(h.layer.is_empty(), "an ACK never creates a transaction");
}
