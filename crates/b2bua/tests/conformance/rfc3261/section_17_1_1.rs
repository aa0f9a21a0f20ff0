//! RFC 3261 §17.1.1: INVITE client transaction (Figure 5), with RFC 6026 §7.2 (Accepted).

use drawbridge_b2bua::{TimerKind, TransactionState, TuEvent};
use rsip::{Header, Method};

use crate::harness::*;

/// §17.1.1.2: Timer A fires at T1, 2*T1, 4*T1 … (no cap for INVITE) until Timer B
/// (64*T1 = 32 s) ends the transaction with a timeout.
#[test]
fn calling_timer_a_doubles_until_timer_b() {
    let mut h = Harness::new();
    let invite = request("INVITE", B1, 1);
    let id = h.layer.send_request(h.now, invite, udp()).unwrap();
    let first = h.sent();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].request().method, Method::Invite);
    assert_eq!(branch_of(&first[0].request().headers), B1);

    let (sent, events) = h.advance_with_events(31_999);
    assert_eq!(times(&sent), [500, 1500, 3500, 7500, 15500, 31500]);
    assert!(
        sent.iter().all(|s| s.bytes == first[0].bytes),
        "retransmissions are identical"
    );
    assert!(events.is_empty());
    assert_eq!(h.layer.state(id), Some(TransactionState::Calling));

    let (sent, events) = h.advance_with_events(1);
    assert!(sent.is_empty());
    assert!(matches!(events[..], [
        TuEvent::Timeout { id: a, timer: TimerKind::B },
        TuEvent::Terminated { id: b },
    ] if a == id && b == id));
    assert_eq!(h.layer.state(id), None);
    assert_eq!(h.layer.poll_timeout(), None);
}

/// §17.1.1.2: on a reliable transport Timer A is not started; Timer B still runs.
#[test]
fn reliable_transport_no_timer_a() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(h.now, request("INVITE", B1, 1), tcp())
        .unwrap();
    assert_eq!(h.sent().len(), 1);
    let (sent, events) = h.advance_with_events(32_000);
    assert!(sent.is_empty());
    assert!(matches!(
        events[0],
        TuEvent::Timeout {
            timer: TimerKind::B,
            ..
        }
    ));
    assert_eq!(h.layer.state(id), None);
}

/// Calling --1xx--> Proceeding: the response goes up, retransmissions stop, and Timer B no
/// longer applies (Figure 5 has no timer in Proceeding).
#[test]
fn calling_provisional_to_proceeding() {
    let mut h = Harness::new();
    let invite = request("INVITE", B1, 1);
    let id = h.layer.send_request(h.now, invite.clone(), udp()).unwrap();
    h.sent();
    h.advance(600); // one retransmission at 500
    h.feed_response(&response(&invite, 180, Some("b1")), udp());
    let events = h.events();
    assert!(
        matches!(&events[..], [TuEvent::Response { id: r, response }]
        if *r == id && response.status_code.code() == 180)
    );
    assert_eq!(h.layer.state(id), Some(TransactionState::Proceeding));
    // Proceeding --1xx--> Proceeding, passed up again.
    h.feed_response(&response(&invite, 183, Some("b1")), udp());
    assert_eq!(h.events().len(), 1);
    let (sent, events) = h.advance_with_events(60_000);
    assert!(sent.is_empty(), "no retransmission in Proceeding");
    assert!(events.is_empty(), "no Timer B in Proceeding");
    assert_eq!(h.layer.state(id), Some(TransactionState::Proceeding));
}

/// Calling/Proceeding --300-699--> Completed: the transaction sends the ACK itself
/// (§17.1.1.3): same Request-URI, Call-ID, From, CSeq number, one Via with the INVITE's
/// branch, the Route set, and the To of the response (with its tag).
#[test]
fn non_2xx_final_generates_ack_with_same_branch_and_to_tag() {
    for provisional_first in [false, true] {
        let mut h = Harness::new();
        let invite = request("INVITE", B1, 7);
        let id = h.layer.send_request(h.now, invite.clone(), udp()).unwrap();
        h.sent();
        if provisional_first {
            h.feed_response(&response(&invite, 180, Some("callee")), udp());
        }
        h.feed_response(&response(&invite, 486, Some("callee")), udp());
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        let ack = sent[0].request();
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.uri, invite.uri);
        assert_eq!(branch_of(&ack.headers), B1);
        assert_eq!(
            header_count(&ack.headers, |h| matches!(h, Header::Via(_))),
            1
        );
        assert_eq!(to_tag(&ack.headers).as_deref(), Some("callee"));
        assert_eq!(cseq(&ack.headers), (7, Method::Ack));
        assert_eq!(
            header_count(&ack.headers, |h| matches!(h, Header::Route(_))),
            1
        );
        assert!(sent[0].text().contains("Call-ID: call-1@198.18.0.1\r\n"));
        assert!(
            sent[0]
                .text()
                .contains("From: <sip:alice@198.18.0.1>;tag=a1\r\n")
        );
        assert!(!sent[0].text().contains("Contact:"));

        let events = h.events();
        assert!(
            matches!(events.last(), Some(TuEvent::Response { response, .. })
            if response.status_code.code() == 486)
        );
        assert_eq!(h.layer.state(id), Some(TransactionState::Completed));

        // Completed: a retransmitted final gets the same ACK, the TU hears nothing.
        h.feed_response(&response(&invite, 486, Some("callee")), udp());
        let again = h.sent();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].bytes, sent[0].bytes);
        assert!(h.events().is_empty());

        // Timer D: 32 s on UDP.
        let (sent, events) = h.advance_with_events(31_999);
        assert!(sent.is_empty() && events.is_empty());
        let (_, events) = h.advance_with_events(1);
        assert!(matches!(events[..], [TuEvent::Terminated { id: t }] if t == id));
    }
}

/// Timer D is zero on reliable transports: Completed ends at once.
#[test]
fn reliable_timer_d_is_zero() {
    let mut h = Harness::new();
    let invite = request("INVITE", B1, 1);
    let id = h.layer.send_request(h.now, invite.clone(), tcp()).unwrap();
    h.sent();
    h.feed_response(&response(&invite, 603, Some("x")), tcp());
    assert_eq!(h.sent()[0].request().method, Method::Ack);
    let events = h.events();
    assert!(
        matches!(events[..], [TuEvent::Response { .. }, TuEvent::Terminated { id: t }] if t == id)
    );
    assert_eq!(h.layer.state(id), None);
}

/// RFC 6026 §7.2: a 2xx moves to Accepted (no ACK from the transaction: the TU sends it
/// end-to-end); 2xx retransmissions go up to the TU until Timer M (64*T1).
#[test]
fn two_xx_accepted_passes_retransmissions_until_timer_m() {
    let mut h = Harness::new();
    let invite = request("INVITE", B1, 1);
    let id = h.layer.send_request(h.now, invite.clone(), udp()).unwrap();
    h.sent();
    h.advance(100);
    let ok = response(&invite, 200, Some("callee"));
    h.feed_response(&ok, udp());
    assert!(h.sent().is_empty(), "the transaction never ACKs a 2xx");
    assert_eq!(h.events().len(), 1);
    assert_eq!(h.layer.state(id), Some(TransactionState::Accepted));

    let (sent, _) = h.advance_with_events(1_000);
    assert!(sent.is_empty(), "Timer A stopped");
    h.feed_response(&ok, udp());
    assert!(
        matches!(&h.events()[..], [TuEvent::Response { id: r, response }]
        if *r == id && response.status_code.code() == 200)
    );
    // A late provisional or a non-2xx is not passed up in Accepted.
    h.feed_response(&response(&invite, 180, Some("callee")), udp());
    assert!(h.events().is_empty());

    let (_, events) = h.advance_with_events(30_999); // M armed at 100 ms -> 32 100 ms
    assert!(events.is_empty());
    let (_, events) = h.advance_with_events(1);
    assert!(matches!(events[..], [TuEvent::Terminated { id: t }] if t == id));
    // After Accepted, a 2xx retransmission is stray: the TU (dialog) handles it.
    h.feed_response(&ok, udp());
    assert!(matches!(h.events()[..], [TuEvent::StrayResponse { .. }]));
}

/// Proceeding --2xx--> Accepted.
#[test]
fn proceeding_2xx_to_accepted() {
    let mut h = Harness::new();
    let invite = request("INVITE", B1, 1);
    let id = h.layer.send_request(h.now, invite.clone(), udp()).unwrap();
    h.feed_response(&response(&invite, 180, Some("t")), udp());
    h.feed_response(&response(&invite, 200, Some("t")), udp());
    assert_eq!(h.layer.state(id), Some(TransactionState::Accepted));
    assert_eq!(h.events().len(), 2);
}

/// §17.1.4: a transport error terminates the transaction and informs the TU.
#[test]
fn transport_error_terminates() {
    let mut h = Harness::new();
    let id = h
        .layer
        .send_request(h.now, request("INVITE", B1, 1), udp())
        .unwrap();
    let t = h.layer.poll_transmit().unwrap();
    assert_eq!(t.transaction, Some(id));
    h.layer.handle_transport_error(h.now, id);
    let events = h.events();
    assert!(
        matches!(events[..], [TuEvent::TransportError { id: a }, TuEvent::Terminated { id: b }]
        if a == id && b == id)
    );
    assert!(
        h.advance(40_000).is_empty(),
        "no retransmission after the error"
    );
}
