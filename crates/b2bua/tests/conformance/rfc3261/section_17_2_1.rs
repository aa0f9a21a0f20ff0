//! RFC 3261 §17.2.1: INVITE server transaction (Figure 7), with RFC 6026 §7.1 (Accepted).

use drawbridge_b2bua::{Incoming, SendError, TimerKind, TransactionState, TuEvent};
use rsip::{Header, Method};

use crate::harness::*;

fn new_invite(
    h: &mut Harness,
    flow: drawbridge_b2bua::Flow,
) -> (drawbridge_b2bua::TransactionId, rsip::Request) {
    let invite = request("INVITE", B1, 1);
    let Incoming::New(id) = h.feed_request(&invite, flow) else {
        panic!("new transaction")
    };
    let events = h.events();
    assert!(
        matches!(&events[..], [TuEvent::Request { id: r, request, flow: f, cancels: None }]
        if *r == id && request.method == Method::Invite && *f == flow)
    );
    (id, invite)
}

/// The server sends 100 Trying itself if the TU has not answered within 200 ms: it
/// copies Via (all), From, To (no tag), Call-ID and CSeq.
#[test]
fn trying_sent_after_200ms_of_tu_silence() {
    let mut h = Harness::new();
    let (id, invite) = new_invite(&mut h, udp());
    assert!(h.advance(199).is_empty());
    let sent = h.advance(1);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].code(), 100);
    let SipMessage::Response(r) = &sent[0].message else {
        unreachable!()
    };
    assert_eq!(branch_of(&r.headers), B1);
    assert_eq!(header_count(&r.headers, |h| matches!(h, Header::Via(_))), 2);
    assert_eq!(to_tag(&r.headers), None);
    assert_eq!(cseq(&r.headers), (1, Method::Invite));
    assert_eq!(sent[0].flow, udp());
    // A retransmitted INVITE now gets the 100 again, and does not reach the TU.
    assert!(matches!(h.feed_request(&invite, udp()), Incoming::Matched(i) if i == id));
    assert_eq!(h.sent()[0].bytes, sent[0].bytes);
    assert!(h.events().is_empty());
    assert!(h.advance(10_000).is_empty(), "100 Trying is sent once");
}
use rsip::SipMessage;

/// A TU may have the 100 sent at once (`send_trying`): the same 100 the timer would
/// send, once; a retransmitted INVITE gets it again; `send_trying` on anything else fails.
#[test]
fn trying_sent_at_once_when_the_tu_asks() {
    let mut h = Harness::new();
    let (id, invite) = new_invite(&mut h, udp());
    h.layer.send_trying(h.now, id).unwrap();
    let sent = h.sent();
    assert_eq!(sent.iter().map(Sent::code).collect::<Vec<_>>(), [100]);
    let SipMessage::Response(r) = &sent[0].message else {
        unreachable!()
    };
    assert_eq!(branch_of(&r.headers), B1);
    assert_eq!(to_tag(&r.headers), None);
    h.layer.send_trying(h.now, id).unwrap();
    assert!(h.sent().is_empty(), "a second call sends nothing");
    assert!(matches!(h.feed_request(&invite, udp()), Incoming::Matched(i) if i == id));
    assert_eq!(h.sent()[0].bytes, sent[0].bytes);
    assert!(
        h.advance(10_000).is_empty(),
        "the timer sends no second 100"
    );
    let (other, _) = {
        let bye = request("BYE", B2, 2);
        let Incoming::New(b) = h.feed_request(&bye, udp()) else {
            panic!("new transaction")
        };
        (b, bye)
    };
    assert!(matches!(
        h.layer.send_trying(h.now, other),
        Err(SendError::NotServer(_))
    ));
}

/// A TU that answers within 200 ms suppresses the automatic 100.
#[test]
fn tu_provisional_suppresses_trying() {
    let mut h = Harness::new();
    let (id, invite) = new_invite(&mut h, udp());
    h.advance(150);
    h.layer
        .send_response(h.now, id, response(&invite, 180, Some("s1")))
        .unwrap();
    let sent = h.advance(10_000);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].code(), 180);
}

/// Proceeding: an INVITE retransmission gets the most recent provisional; before any
/// provisional it is absorbed. The TU never sees it.
#[test]
fn retransmitted_invite_gets_last_provisional() {
    let mut h = Harness::new();
    let (id, invite) = new_invite(&mut h, udp());
    assert!(matches!(h.feed_request(&invite, udp()), Incoming::Matched(i) if i == id));
    assert!(h.sent().is_empty());
    h.layer
        .send_response(h.now, id, response(&invite, 180, Some("s1")))
        .unwrap();
    h.layer
        .send_response(h.now, id, response(&invite, 183, Some("s1")))
        .unwrap();
    assert_eq!(
        h.sent().iter().map(Sent::code).collect::<Vec<_>>(),
        [180, 183]
    );
    h.feed_request(&invite, udp());
    let again = h.sent();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].code(), 183);
    assert!(h.events().is_empty());
    assert_eq!(h.layer.state(id), Some(TransactionState::Proceeding));
}

/// Proceeding --300-699--> Completed: Timer G retransmits the final (T1 doubling, capped
/// at T2) until Timer H (64*T1) reports a timeout to the TU.
#[test]
fn completed_timer_g_until_timer_h_timeout() {
    let mut h = Harness::new();
    let (id, invite) = new_invite(&mut h, udp());
    h.layer
        .send_response(h.now, id, response(&invite, 486, Some("s1")))
        .unwrap();
    let first = h.sent();
    assert_eq!(first[0].code(), 486);
    assert_eq!(h.layer.state(id), Some(TransactionState::Completed));
    let (sent, events) = h.advance_with_events(31_999);
    assert_eq!(
        times(&sent),
        [
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert!(sent.iter().all(|s| s.bytes == first[0].bytes));
    assert!(events.is_empty());
    let (sent, events) = h.advance_with_events(1);
    assert!(sent.is_empty());
    assert!(
        matches!(events[..], [TuEvent::Timeout { id: a, timer: TimerKind::H }, TuEvent::Terminated { id: b }]
        if a == id && b == id)
    );
}

/// Completed: an INVITE retransmission gets the final again; the TU may not send more.
#[test]
fn completed_resends_final_on_retransmission() {
    let mut h = Harness::new();
    let (id, invite) = new_invite(&mut h, udp());
    h.layer
        .send_response(h.now, id, response(&invite, 404, Some("s1")))
        .unwrap();
    let first = h.sent();
    h.feed_request(&invite, udp());
    assert_eq!(h.sent()[0].bytes, first[0].bytes);
    assert!(h.events().is_empty());
    assert_eq!(
        h.layer
            .send_response(h.now, id, response(&invite, 500, Some("s1"))),
        Err(SendError::AfterFinal { id, status: 500 })
    );
    assert!(h.sent().is_empty());
}

/// Completed --ACK--> Confirmed: the ACK (same branch) is absorbed, Timer G stops, ACK
/// retransmissions are absorbed, Timer I (T4) ends the transaction.
#[test]
fn ack_for_non_2xx_absorbed_completed_to_confirmed() {
    let mut h = Harness::new();
    let (id, invite) = new_invite(&mut h, udp());
    h.layer
        .send_response(h.now, id, response(&invite, 486, Some("s1")))
        .unwrap();
    h.sent();
    h.advance(700); // one retransmission at 500
    let ack = request_text("ACK", B1, 1, Some("s1"));
    assert!(matches!(h.feed_bytes(ack.as_bytes(), udp()), Incoming::Matched(i) if i == id));
    assert!(
        h.events().is_empty(),
        "ACK for a non-2xx never reaches the TU"
    );
    assert_eq!(h.layer.state(id), Some(TransactionState::Confirmed));
    h.feed_bytes(ack.as_bytes(), udp());
    assert!(h.events().is_empty());
    h.feed_request(&invite, udp());
    assert!(
        h.sent().is_empty(),
        "Confirmed absorbs INVITE retransmissions too"
    );
    let (sent, events) = h.advance_with_events(4_999);
    assert!(sent.is_empty(), "Timer G stopped");
    assert!(events.is_empty());
    let (_, events) = h.advance_with_events(1);
    assert!(matches!(events[..], [TuEvent::Terminated { id: t }] if t == id));
}

/// Reliable transport: no Timer G; Timer I is zero (Confirmed ends at once); H still runs.
#[test]
fn reliable_no_timer_g_and_timer_i_zero() {
    let mut h = Harness::new();
    let (id, invite) = new_invite(&mut h, tcp());
    h.layer
        .send_response(h.now, id, response(&invite, 486, Some("s1")))
        .unwrap();
    assert_eq!(h.sent().len(), 1);
    assert!(h.advance(20_000).is_empty());
    let ack = request_text("ACK", B1, 1, Some("s1"));
    h.feed_bytes(ack.as_bytes(), tcp());
    assert!(matches!(h.events()[..], [TuEvent::Terminated { id: t }] if t == id));

    let mut h = Harness::new();
    let (id, invite) = new_invite(&mut h, tcp());
    h.layer
        .send_response(h.now, id, response(&invite, 486, Some("s1")))
        .unwrap();
    let (_, events) = h.advance_with_events(32_000);
    assert!(matches!(
        events[..],
        [
            TuEvent::Timeout {
                timer: TimerKind::H,
                ..
            },
            TuEvent::Terminated { .. }
        ]
    ));
}

/// RFC 6026 §7.1: Proceeding --2xx--> Accepted. INVITE retransmissions are absorbed (the
/// TU, not the transaction, retransmits the 2xx); the TU's 2xx retransmissions pass; the
/// ACK for the 2xx (own branch) goes to the TU; Timer L (64*T1) ends it.
#[test]
fn two_xx_accepted_until_timer_l() {
    let mut h = Harness::new();
    let (id, invite) = new_invite(&mut h, udp());
    let ok = response(&invite, 200, Some("s1"));
    h.layer.send_response(h.now, id, ok.clone()).unwrap();
    let first = h.sent();
    assert_eq!(first[0].code(), 200);
    assert_eq!(h.layer.state(id), Some(TransactionState::Accepted));

    h.feed_request(&invite, udp());
    assert!(
        h.sent().is_empty(),
        "INVITE retransmission absorbed in Accepted"
    );
    assert!(h.events().is_empty());
    assert!(
        h.advance(2_000).is_empty(),
        "the transaction does not retransmit 2xx"
    );

    h.layer.send_response(h.now, id, ok).unwrap();
    assert_eq!(h.sent()[0].bytes, first[0].bytes);
    assert!(matches!(
        h.layer
            .send_response(h.now, id, response(&invite, 486, Some("s1"))),
        Err(SendError::AfterFinal { status: 486, .. })
    ));

    let ack = request_text("ACK", "z9hG4bK-ack-for-2xx", 1, Some("s1"));
    assert!(matches!(
        h.feed_bytes(ack.as_bytes(), udp()),
        Incoming::PassedUp
    ));
    assert!(
        matches!(&h.events()[..], [TuEvent::Ack { request, transaction: None, .. }]
        if request.method == Method::Ack)
    );
    // A peer that reuses the INVITE branch for the 2xx ACK: still the TU's.
    let ack_same = request_text("ACK", B1, 1, Some("s1"));
    assert!(matches!(h.feed_bytes(ack_same.as_bytes(), udp()), Incoming::Matched(i) if i == id));
    assert!(matches!(h.events()[..], [TuEvent::Ack { transaction: Some(t), .. }] if t == id));

    let (_, events) = h.advance_with_events(29_999); // L armed at 0 -> 32 000
    assert!(events.is_empty());
    let (_, events) = h.advance_with_events(1);
    assert!(matches!(events[..], [TuEvent::Terminated { id: t }] if t == id));
}

/// A transport error on the response: the TU is told, the transaction ends.
#[test]
fn transport_error_terminates() {
    let mut h = Harness::new();
    let (id, invite) = new_invite(&mut h, udp());
    h.layer
        .send_response(h.now, id, response(&invite, 486, Some("s1")))
        .unwrap();
    h.layer.handle_transport_error(h.now, id);
    assert!(matches!(
        h.events()[..],
        [TuEvent::TransportError { .. }, TuEvent::Terminated { .. }]
    ));
    h.sent();
    assert!(h.advance(40_000).is_empty());
}
