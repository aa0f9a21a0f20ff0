//! RFC 3261 §9.2: a CANCEL is matched to the INVITE server transaction it cancels (same
//! branch and sent-by), and is its own non-INVITE server transaction.

use drawbridge_b2bua::{Incoming, TransactionKind, TuEvent};
use rsip::Method;

use crate::harness::*;

#[test]
fn cancel_names_the_invite_server_transaction() {
    let mut h = Harness::new();
    let invite = request("INVITE", B1, 1);
    let Incoming::New(inv) = h.feed_request(&invite, udp()) else {
        panic!()
    };
    h.events();
    h.layer
        .send_response(h.now, inv, response(&invite, 180, Some("s")))
        .unwrap();
    h.sent();

    let cancel = request("CANCEL", B1, 1);
    let Incoming::New(can) = h.feed_request(&cancel, udp()) else {
        panic!()
    };
    assert_ne!(can, inv);
    assert_eq!(h.layer.kind(can), Some(TransactionKind::NonInviteServer));
    let events = h.events();
    assert!(
        matches!(&events[..], [TuEvent::Request { id, request, cancels: Some(c), .. }]
        if *id == can && *c == inv && request.method == Method::Cancel)
    );

    // The TU answers 200 to the CANCEL and 487 to the INVITE, in that order on the wire.
    h.layer
        .send_response(h.now, can, response(&cancel, 200, Some("s")))
        .unwrap();
    h.layer
        .send_response(h.now, inv, response(&invite, 487, Some("s")))
        .unwrap();
    let sent = h.sent();
    assert_eq!(sent.iter().map(Sent::code).collect::<Vec<_>>(), [200, 487]);
    assert_eq!(
        cseq(&match &sent[0].message {
            rsip::SipMessage::Response(r) => r.headers.clone(),
            _ => unreachable!(),
        }),
        (1, Method::Cancel)
    );

    // A CANCEL retransmission gets the 200 again and is not a new request.
    assert!(matches!(h.feed_request(&cancel, udp()), Incoming::Matched(c) if c == can));
    assert_eq!(h.sent()[0].code(), 200);
}

#[test]
fn cancel_for_unknown_invite_has_no_target() {
    let mut h = Harness::new();
    let Incoming::New(_) = h.feed_request(&request("CANCEL", B2, 1), udp()) else {
        panic!()
    };
    assert!(matches!(
        h.events()[..],
        [TuEvent::Request { cancels: None, .. }]
    ));
}

/// §9.1: the CANCEL the TU builds with `cancel_for` carries the INVITE's branch and CSeq
/// number, one Via, the Route set, and no body; the layer runs it as its own client
/// transaction next to the INVITE's.
#[test]
fn cancel_for_builds_rfc_9_1_cancel() {
    let mut h = Harness::new();
    let invite = request("INVITE", B1, 42);
    let inv = h.layer.send_request(h.now, invite.clone(), udp()).unwrap();
    h.feed_response(&response(&invite, 180, Some("t")), udp());
    let cancel = drawbridge_b2bua::cancel_for(&invite);
    let can = h.layer.send_request(h.now, cancel, udp()).unwrap();
    let sent = h.sent();
    let wire = sent.last().unwrap().request();
    assert_eq!(wire.method, Method::Cancel);
    assert_eq!(wire.uri, invite.uri);
    assert_eq!(branch_of(&wire.headers), B1);
    assert_eq!(cseq(&wire.headers), (42, Method::Cancel));
    assert_eq!(
        header_count(&wire.headers, |h| matches!(h, rsip::Header::Via(_))),
        1
    );
    assert_eq!(
        header_count(&wire.headers, |h| matches!(h, rsip::Header::Route(_))),
        1
    );
    assert_eq!(to_tag(&wire.headers), None);
    assert!(wire.body.is_empty());
    assert_ne!(inv, can);
}
