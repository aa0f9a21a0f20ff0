//! Inbound calls: trunk → PBX.

// Setup helpers (not #[test] fns) may expect: a panic there is a failed test.
#![allow(clippy::expect_used)]

use std::time::Duration;

use drawbridge_b2bua::{B2buaEvent, Side};

use crate::harness::*;

/// Sets up an inbound call up to the INVITE on the PBX leg; returns it.
pub(crate) fn start_inbound(h: &mut Harness) -> Sent {
    h.trunk_sends(&trunk_invite());
    let sent = h.take();
    assert_eq!(
        sent.len(),
        2,
        "100 to the trunk, INVITE to the PBX: {sent:#?}"
    );
    assert_eq!(sent[0].flow.id.0, TRUNK_FLOW);
    assert_eq!(sent[0].code(), Some(100));
    assert_eq!(sent[1].flow.id.0, PBX_FLOW);
    sent[1].clone()
}

/// Drives an inbound call to Confirmed; returns (INVITE to PBX, 200 to trunk).
pub(crate) fn answered_inbound(h: &mut Harness) -> (Sent, Sent) {
    let invite = start_inbound(h);
    h.pbx_sends(&pbx_response(
        &invite.request(),
        200,
        &pbx_sdp(1, "sendrecv"),
    ));
    let sent = h.take();
    let ok = sent
        .iter()
        .find(|s| s.flow.id.0 == TRUNK_FLOW && s.code() == Some(200))
        .expect("200 relayed to the trunk")
        .clone();
    h.trunk_sends(&ack_for(
        &ok.text(),
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-ack-1",
        4711,
        "",
    ));
    (invite, ok)
}

#[test]
fn invite_is_rebuilt_for_the_pbx_with_its_own_identifiers() {
    let mut h = Harness::new();
    let invite = start_inbound(&mut h);
    let r = invite.request();
    assert_eq!(r.uri.to_string(), "sip:+4930123456@pbx.corp.example");
    let via = invite.header("Via").unwrap();
    assert!(
        via.starts_with(&format!("SIP/2.0/UDP {LAN_HOST}:5060;branch=z9hG4bK")),
        "{via}"
    );
    assert_eq!(invite.text().matches("\r\nVia:").count(), 1, "only our Via");
    assert_eq!(invite.header("Max-Forwards").as_deref(), Some("67"));
    let from = invite.header("From").unwrap();
    assert!(
        from.starts_with(&format!(
            "\"Caller Name\" <sip:+4917012345@{LAN_HOST}>;tag="
        )),
        "{from}"
    );
    assert_eq!(
        invite.header("To").as_deref(),
        Some("<sip:+4930123456@pbx.corp.example>")
    );
    assert_eq!(invite.header("CSeq").as_deref(), Some("1 INVITE"));
    assert_eq!(
        invite.header("Contact").as_deref(),
        Some(&*format!("<sip:{LAN_HOST}:5060>"))
    );
    assert!(invite.header("Record-Route").is_none());
    assert!(invite.header("Route").is_none());
    // The provider's 100rel is not relayed; the one here is ours, for the PBX leg.
    assert_eq!(invite.header("Supported").as_deref(), Some("timer, 100rel"));
    assert_eq!(
        invite.header("Allow").as_deref(),
        Some("INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE")
    );
    assert_eq!(invite.header("Session-Expires").as_deref(), Some("1800"));
    assert_eq!(
        invite.header("P-Asserted-Identity").unwrap(),
        format!("\"Caller Name\" <sip:+4917012345@{LAN_HOST}>")
    );
    // SDP: our LAN media address and port, no ICE.
    let body = invite.body();
    assert!(body.contains(&format!("c=IN IP4 {LAN_MEDIA}")), "{body}");
    assert!(body.contains("m=audio 40002 RTP/AVP 8 0 101"), "{body}");
    assert!(!body.contains("ice-"));
    let media = h.media.lock().unwrap();
    assert_eq!(media.relays.len(), 1);
    assert_eq!(media.relays[0].1, Side::trunk(0));
    assert_eq!(media.relays[0].2, Side::Pbx);
    assert_eq!(media.relays[0].3[0].port, 31000);
    // The media layer learns where the offer's signalling came from (for NAT latching).
    assert_eq!(media.sources[0], trunk_flow().remote);
    drop(media);
    assert!(matches!(
        &h.events[0],
        B2buaEvent::CallStarted { caller, callee, .. } if caller == "+4917012345" && callee == "+4930123456"
    ));
}

#[test]
fn ringing_then_answer_reach_the_trunk_in_order_with_our_sdp() {
    let mut h = Harness::new();
    let invite = start_inbound(&mut h);
    // 180 and 200 arrive back to back: the trunk must see them in that order.
    h.pbx_sends(&pbx_response(&invite.request(), 180, ""));
    h.pbx_sends(&pbx_response(
        &invite.request(),
        200,
        &pbx_sdp(1, "sendrecv"),
    ));
    let sent = h.take();
    let to_trunk: Vec<_> = sent.iter().filter(|s| s.flow.id.0 == TRUNK_FLOW).collect();
    let to_pbx: Vec<_> = sent.iter().filter(|s| s.flow.id.0 == PBX_FLOW).collect();
    assert_eq!(
        to_trunk.iter().map(|s| s.code()).collect::<Vec<_>>(),
        [Some(180), Some(200)]
    );
    let ringing = to_trunk[0];
    let ok = to_trunk[1];
    assert_eq!(ringing.text().lines().next(), Some("SIP/2.0 180 Ringing"));
    // The trunk's own dialog identifiers come back, with one tag of ours.
    assert_eq!(
        ok.header("Call-ID").unwrap(),
        "prov-callid-8f3a@core-sbc-3.provider.internal"
    );
    assert_eq!(ok.header("CSeq").unwrap(), "4711 INVITE");
    let to = ok.header("To").unwrap();
    assert!(
        to.starts_with("<sip:+4930123456@sbc.example.com>;tag="),
        "{to}"
    );
    assert_eq!(to, ringing.header("To").unwrap(), "same tag on 180 and 200");
    assert_eq!(
        ok.text().matches("\r\nVia:").count(),
        2,
        "the trunk's two Vias"
    );
    assert_eq!(
        ok.header("Contact").unwrap(),
        "<sip:sbc.example.com:5061;transport=tls>"
    );
    let body = ok.body();
    assert!(body.contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")), "{body}");
    assert!(body.contains("m=audio 40004 RTP/AVP 8 101"), "{body}");
    // Our ACK to the PBX's 2xx went right away (our INVITE had the offer).
    assert_eq!(to_pbx.len(), 1);
    let ack = to_pbx[0].request();
    assert_eq!(ack.method.to_string(), "ACK");
    assert_eq!(ack.uri.to_string(), "sip:4930@198.19.5.5:5060");
    assert_eq!(
        to_pbx[0].header("Route").as_deref(),
        Some("<sip:198.19.5.5;lr>")
    );
    assert_eq!(to_pbx[0].header("CSeq").as_deref(), Some("1 ACK"));
    assert!(to_pbx[0].header("To").unwrap().ends_with(";tag=pbx-tag-1"));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, B2buaEvent::CallAnswered { .. }))
    );
}

#[test]
fn bye_from_the_trunk_is_answered_and_sent_to_the_pbx() {
    let mut h = Harness::new();
    let (invite, ok) = answered_inbound(&mut h);
    h.take();
    assert_eq!(h.b2bua.calls_active(), 1);
    assert_eq!(h.b2bua.dialogs(), 2);
    h.trunk_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-bye-1",
        &ok.text(),
        false,
        "",
        4712,
        "",
    ));
    let sent = h.take();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!((sent[0].flow.id.0, sent[0].code()), (TRUNK_FLOW, Some(200)));
    assert_eq!(sent[1].flow.id.0, PBX_FLOW);
    assert_eq!(sent[1].method().as_deref(), Some("BYE"));
    assert_eq!(sent[1].header("CSeq").as_deref(), Some("2 BYE"));
    assert_eq!(sent[1].header("Call-ID"), invite.header("Call-ID"));
    assert_eq!(h.b2bua.calls_active(), 0);
    assert_eq!(h.b2bua.dialogs(), 0);
    assert_eq!(h.media.lock().unwrap().released.len(), 1);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, B2buaEvent::CallEnded { status: 200, .. }))
    );
}

#[test]
fn bye_from_the_pbx_reaches_the_trunk_in_the_trunks_dialog() {
    let mut h = Harness::new();
    let (invite, ok) = answered_inbound(&mut h);
    h.take();
    h.pbx_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-1",
        &invite.text(),
        true,
        "pbx-tag-1",
        101,
        "",
    ));
    let sent = h.take();
    assert_eq!((sent[0].flow.id.0, sent[0].code()), (PBX_FLOW, Some(200)));
    let bye = &sent[1];
    assert_eq!(bye.flow.id.0, TRUNK_FLOW);
    let r = bye.request();
    assert_eq!(r.method.to_string(), "BYE");
    // The trunk's Contact (rsip re-spells `transport=TLS` on the start line; URI
    // parameter values are case-insensitive, RFC 3261 §19.1.4).
    assert!(
        bye.text()
            .lines()
            .next()
            .unwrap()
            .eq_ignore_ascii_case("BYE sip:+4917012345@198.18.7.7:5061;transport=tls SIP/2.0"),
        "{}",
        bye.text()
    );
    // The trunk's Record-Route, in order, as our route set on its leg (RFC 3261 §12.1.1).
    let routes: Vec<_> = bye
        .text()
        .lines()
        .filter(|l| l.starts_with("Route:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        routes,
        [
            "Route: <sip:198.18.7.7:5061;transport=tls;lr;ftag=prov-tag-1>",
            "Route: <sip:core-sbc-3.provider.internal;lr>",
        ]
    );
    // Our From on the trunk leg is the To of the trunk's INVITE, with our tag.
    assert_eq!(bye.header("From"), ok.header("To"));
    assert_eq!(
        bye.header("To").unwrap(),
        "\"Caller Name\" <sip:+4917012345@sip.provider.example>;tag=prov-tag-1"
    );
    assert_eq!(
        bye.header("Call-ID").unwrap(),
        "prov-callid-8f3a@core-sbc-3.provider.internal"
    );
    assert_eq!(h.b2bua.calls_active(), 0);
}

#[test]
fn failure_from_the_pbx_is_relayed_with_a_canonical_reason() {
    let mut h = Harness::new();
    let invite = start_inbound(&mut h);
    h.pbx_sends(&pbx_response(&invite.request(), 486, ""));
    let sent = h.take();
    let busy = sent.iter().find(|s| s.flow.id.0 == TRUNK_FLOW).unwrap();
    assert_eq!(busy.text().lines().next(), Some("SIP/2.0 486 Busy Here"));
    assert!(busy.header("To").unwrap().contains(";tag="));
    // The transaction layer ACKed the PBX's 486 on its own (hop by hop).
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == PBX_FLOW && s.method().as_deref() == Some("ACK"))
    );
    assert_eq!(h.b2bua.calls_active(), 0);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, B2buaEvent::CallEnded { status: 486, .. }))
    );
}

#[test]
fn redirect_and_challenge_from_the_pbx_are_mapped() {
    for (code, expect) in [(302, 480), (407, 403), (503, 503)] {
        let mut h = Harness::new();
        let invite = start_inbound(&mut h);
        h.pbx_sends(&pbx_response(&invite.request(), code, ""));
        let sent = h.take_to(TRUNK_FLOW);
        assert_eq!(sent[0].code(), Some(expect), "{code}");
    }
}

#[test]
fn cancel_before_any_provisional_waits_for_one_then_cancels_the_pbx_leg() {
    let mut h = Harness::new();
    let invite = start_inbound(&mut h);
    h.trunk_sends(
        "CANCEL sip:+4930123456@sbc.example.com:5061;transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-inv-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller Name\" <sip:+4917012345@sip.provider.example>;tag=prov-tag-1\r\n\
         To: <sip:+4930123456@sbc.example.com>\r\n\
         Call-ID: prov-callid-8f3a@core-sbc-3.provider.internal\r\n\
         CSeq: 4711 CANCEL\r\n\
         Content-Length: 0\r\n\r\n",
    );
    let sent = h.take();
    let codes: Vec<_> = sent.iter().map(|s| (s.flow.id.0, s.code())).collect();
    assert_eq!(codes, [(TRUNK_FLOW, Some(200)), (TRUNK_FLOW, Some(487))]);
    assert!(sent[1].header("CSeq").unwrap().ends_with("INVITE"));
    // RFC 3261 §9.1: no CANCEL before a provisional; it goes out when the 180 arrives.
    h.pbx_sends(&pbx_response(&invite.request(), 180, ""));
    let sent = h.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].method().as_deref(), Some("CANCEL"));
    assert_eq!(sent[0].flow.id.0, PBX_FLOW);
    assert_eq!(
        sent[0].header("Via"),
        invite.header("Via"),
        "same branch as the INVITE"
    );
    h.pbx_sends(&pbx_response(&sent[0].request(), 200, ""));
    h.pbx_sends(&pbx_response(&invite.request(), 487, ""));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.flow.id.0 == PBX_FLOW),
        "nothing more to the trunk"
    );
    assert_eq!(h.b2bua.calls_active(), 0);
    assert_eq!(h.media.lock().unwrap().released.len(), 1);
}

#[test]
fn answer_racing_a_cancel_is_acked_and_hung_up() {
    let mut h = Harness::new();
    let invite = start_inbound(&mut h);
    h.pbx_sends(&pbx_response(&invite.request(), 180, ""));
    h.take();
    h.trunk_sends(
        "CANCEL sip:+4930123456@sbc.example.com:5061;transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-inv-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller Name\" <sip:+4917012345@sip.provider.example>;tag=prov-tag-1\r\n\
         To: <sip:+4930123456@sbc.example.com>\r\n\
         Call-ID: prov-callid-8f3a@core-sbc-3.provider.internal\r\n\
         CSeq: 4711 CANCEL\r\n\
         Content-Length: 0\r\n\r\n",
    );
    let sent = h.take();
    assert_eq!(
        sent.iter()
            .filter(|s| s.method().as_deref() == Some("CANCEL"))
            .count(),
        1
    );
    // The PBX answered before it saw the CANCEL.
    h.pbx_sends(&pbx_response(
        &invite.request(),
        200,
        &pbx_sdp(1, "sendrecv"),
    ));
    let sent = h.take();
    let methods: Vec<_> = sent.iter().map(|s| (s.flow.id.0, s.method())).collect();
    assert_eq!(
        methods,
        [
            (PBX_FLOW, Some("ACK".into())),
            (PBX_FLOW, Some("BYE".into()))
        ]
    );
    assert_eq!(h.b2bua.calls_active(), 0);
}

#[test]
fn no_final_response_from_the_pbx_gives_408_after_timer_b() {
    let mut h = Harness::new();
    start_inbound(&mut h);
    h.advance(Duration::from_secs(31));
    assert!(h.take_to(TRUNK_FLOW).is_empty());
    h.advance(Duration::from_secs(2));
    let sent = h.take_to(TRUNK_FLOW);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].code(), Some(408));
    assert_eq!(h.b2bua.calls_active(), 0);
}

#[test]
fn unanswered_ringing_call_is_cancelled_at_the_ring_timeout() {
    let mut cfg = config();
    cfg.ring_timeout = Duration::from_secs(60);
    let mut h = Harness::with_config(cfg);
    let invite = start_inbound(&mut h);
    h.pbx_sends(&pbx_response(&invite.request(), 180, ""));
    h.take();
    h.advance(Duration::from_secs(59));
    assert!(h.take_to(TRUNK_FLOW).is_empty());
    h.advance(Duration::from_secs(2));
    let sent = h.take();
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == TRUNK_FLOW && s.code() == Some(480))
    );
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == PBX_FLOW && s.method().as_deref() == Some("CANCEL"))
    );
}

#[test]
fn reinvite_hold_from_the_pbx_is_relayed_with_a_rewritten_sdp() {
    let mut h = Harness::new();
    let (invite, _ok) = answered_inbound(&mut h);
    h.take();
    h.pbx_sends(&in_dialog_request(
        "INVITE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-reinv-1",
        &invite.text(),
        true,
        "pbx-tag-1",
        102,
        &pbx_sdp(2, "sendonly"),
    ));
    let sent = h.take();
    let reinvite = sent
        .iter()
        .find(|s| s.flow.id.0 == TRUNK_FLOW)
        .expect("relayed")
        .clone();
    assert_eq!(reinvite.method().as_deref(), Some("INVITE"));
    assert_eq!(
        reinvite.header("CSeq").as_deref(),
        Some("1 INVITE"),
        "our CSeq space on the trunk leg"
    );
    let body = reinvite.body();
    assert!(body.contains("a=sendonly"), "{body}");
    assert!(body.contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")));
    assert!(
        body.contains("m=audio 40004 "),
        "same port as before: {body}"
    );
    let o1: Vec<_> = _ok
        .body()
        .lines()
        .filter(|l| l.starts_with("o="))
        .map(str::to_owned)
        .collect();
    let o2: Vec<_> = body
        .lines()
        .filter(|l| l.starts_with("o="))
        .map(str::to_owned)
        .collect();
    let (v1, v2) = (
        o1[0].split(' ').nth(2).unwrap().to_owned(),
        o2[0].split(' ').nth(2).unwrap().to_owned(),
    );
    assert_eq!(
        o1[0].split(' ').nth(1),
        o2[0].split(' ').nth(1),
        "same session id"
    );
    assert_eq!(
        v2.parse::<u64>().unwrap(),
        v1.parse::<u64>().unwrap() + 1,
        "version bumped"
    );
    // The trunk answers; the PBX gets the 200 with our LAN SDP; both sides ACKed.
    h.trunk_sends(&trunk_response(
        &reinvite.request(),
        200,
        "",
        &provider_sdp().replace("a=sendrecv", "a=recvonly"),
    ));
    let sent = h.take();
    let ack = sent.iter().find(|s| s.flow.id.0 == TRUNK_FLOW).unwrap();
    assert_eq!(ack.method().as_deref(), Some("ACK"));
    let ok = sent.iter().find(|s| s.flow.id.0 == PBX_FLOW).unwrap();
    assert_eq!(ok.code(), Some(200));
    assert_eq!(ok.header("CSeq").as_deref(), Some("102 INVITE"));
    assert!(ok.body().contains("a=recvonly"));
    assert!(ok.body().contains(&format!("c=IN IP4 {LAN_MEDIA}")));
    // The PBX's ACK ends the 2xx retransmissions.
    h.pbx_sends(&in_dialog_request(
        "ACK",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-ack-2",
        &invite.text(),
        true,
        "pbx-tag-1",
        102,
        "",
    ));
    h.advance(Duration::from_secs(40));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.code() != Some(200)),
        "no 2xx retransmission after ACK: {sent:#?}"
    );
    assert_eq!(h.b2bua.calls_active(), 1);
}

#[test]
fn a_second_reinvite_while_one_is_pending_gets_491() {
    let mut h = Harness::new();
    let (invite, ok) = answered_inbound(&mut h);
    h.take();
    h.pbx_sends(&in_dialog_request(
        "INVITE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-reinv-1",
        &invite.text(),
        true,
        "pbx-tag-1",
        102,
        &pbx_sdp(2, "sendonly"),
    ));
    h.trunk_sends(&in_dialog_request(
        "INVITE",
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-reinv-9",
        &ok.text(),
        false,
        "",
        4712,
        &provider_sdp(),
    ));
    let sent = h.take_to(TRUNK_FLOW);
    assert!(sent.iter().any(|s| s.code() == Some(491)), "{sent:#?}");
}

#[test]
fn out_of_dialog_options_is_answered_locally() {
    let mut h = Harness::new();
    h.trunk_sends(
        "OPTIONS sip:sbc.example.com:5061 SIP/2.0\r\n\
         Via: SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-opt-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:ping@sip.provider.example>;tag=o1\r\n\
         To: <sip:sbc.example.com>\r\n\
         Call-ID: opt-1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
    );
    let sent = h.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].code(), Some(200));
    assert!(sent[0].header("Allow").unwrap().contains("INVITE"));
    assert!(h.all_bytes_to(PBX_FLOW).is_empty());
}

/// The PBX retransmits its 2xx (our ACK was lost): the ACK goes again, the same one, and
/// nothing reaches the trunk, whose dialog is already confirmed.
#[test]
fn a_retransmitted_2xx_from_the_pbx_is_acked_again() {
    let mut h = Harness::new();
    let (invite, _ok) = answered_inbound(&mut h);
    let first_ack = h
        .all_bytes_to(PBX_FLOW)
        .split("ACK sip:")
        .nth(1)
        .map(|rest| format!("ACK sip:{}", rest.split("\r\n\r\n").next().unwrap_or("")))
        .expect("the PBX's 2xx was ACKed");
    h.take();
    h.pbx_sends(&pbx_response(
        &invite.request(),
        200,
        &pbx_sdp(1, "sendrecv"),
    ));
    let sent = h.take();
    assert_eq!(sent.len(), 1, "only the ACK: {sent:#?}");
    let ack = only_to(&sent, PBX_FLOW);
    assert_eq!(ack.method().as_deref(), Some("ACK"));
    assert!(
        ack.text().starts_with(&first_ack),
        "the same ACK again:\n{}\nvs\n{first_ack}",
        ack.text()
    );
    assert_eq!(h.b2bua.calls_active(), 1);
}
