//! RFC 3261 §17.1.3: matching responses to client transactions (top Via branch + CSeq
//! method); what matches nothing is the TU's to judge.

use drawbridge_b2bua::{Incoming, TransactionState, TuEvent};
use drawbridge_sip::{Limits, parse_message};

use crate::harness::*;

#[test]
fn response_with_other_branch_is_stray() {
    let mut h = Harness::new();
    let invite = request("INVITE", B1, 1);
    let id = h.layer.send_request(h.now, invite, udp()).unwrap();
    let other = request("INVITE", B2, 1);
    let r = h.feed_response(&response(&other, 180, Some("t")), udp());
    assert!(matches!(r, Incoming::PassedUp));
    assert!(matches!(&h.events()[..], [TuEvent::StrayResponse { flow, .. }] if *flow == udp()));
    assert_eq!(h.layer.state(id), Some(TransactionState::Calling));
}

/// A CANCEL shares its INVITE's branch (§9.1): the CSeq method tells their responses apart.
#[test]
fn cseq_method_separates_invite_and_cancel() {
    let mut h = Harness::new();
    let invite = request("INVITE", B1, 1);
    let inv = h.layer.send_request(h.now, invite.clone(), udp()).unwrap();
    let cancel = request("CANCEL", B1, 1);
    let can = h.layer.send_request(h.now, cancel.clone(), udp()).unwrap();
    assert_ne!(inv, can);
    assert!(
        matches!(h.feed_response(&response(&cancel, 200, Some("t")), udp()), Incoming::Matched(i) if i == can)
    );
    assert_eq!(h.layer.state(inv), Some(TransactionState::Calling));
    assert!(
        matches!(h.feed_response(&response(&invite, 487, Some("t")), udp()), Incoming::Matched(i) if i == inv)
    );
    assert_eq!(h.layer.state(inv), Some(TransactionState::Completed));
}

#[test]
fn response_without_branch_is_stray() {
    let mut h = Harness::new();
    h.layer
        .send_request(h.now, request("INVITE", B1, 1), udp())
        .unwrap();
    let text = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 198.18.0.1:5060\r\n\
                From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: c\r\n\
                CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let msg = parse_message(text.as_bytes(), &Limits::default()).unwrap();
    let r = h.layer.handle_incoming(h.now, msg, udp()).unwrap();
    assert!(matches!(r, Incoming::PassedUp));
    assert!(matches!(h.events()[..], [TuEvent::StrayResponse { .. }]));
}
