//! Dialog source pinning: a message naming a dialog of ours from anywhere but that
//! dialog's peer does nothing.

use drawbridge_b2bua::{B2buaEvent, Side};

use crate::harness::*;
use crate::inbound::{answered_inbound, start_inbound};

#[test]
fn forged_bye_with_the_right_call_id_and_tags_from_another_source_is_rejected() {
    let mut h = Harness::new();
    let (_invite, ok) = answered_inbound(&mut h);
    h.take();
    let forged = in_dialog_request(
        "BYE",
        "SIP/2.0/TLS 198.18.66.66:5061;branch=z9hG4bKevil-1",
        &ok.text(),
        false,
        "",
        4712,
        "",
    );
    // Same trunk side but another connection and address.
    h.deliver(&forged, rogue_flow(), Side::trunk(0));
    let sent = h.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(
        sent[0].code(),
        Some(481),
        "indistinguishable from an unknown dialog"
    );
    assert_eq!(sent[0].flow.id.0, 99);
    // From the PBX side with the trunk leg's identifiers.
    h.deliver(
        &forged.replace("z9hG4bKevil-1", "z9hG4bKevil-2"),
        pbx_flow(),
        Side::Pbx,
    );
    assert_eq!(h.take()[0].code(), Some(481));
    assert_eq!(h.b2bua.calls_active(), 1, "call untouched");
    assert_eq!(h.b2bua.counters().forged_in_dialog, 2);
    assert_eq!(
        h.events
            .iter()
            .filter(|e| matches!(e, B2buaEvent::Forged { .. }))
            .count(),
        2
    );
    assert!(
        h.all_bytes_to(PBX_FLOW)
            .lines()
            .all(|l| !l.starts_with("BYE"))
    );
    // The genuine BYE still works.
    h.trunk_sends(
        &forged
            .replace("z9hG4bKevil-1", "z9hG4bKprov-bye-1")
            .replace("198.18.66.66", "198.18.7.7"),
    );
    let sent = h.take();
    assert_eq!(sent[0].code(), Some(200));
    assert_eq!(sent[1].method().as_deref(), Some("BYE"));
    assert_eq!(h.b2bua.calls_active(), 0);
}

#[test]
fn bye_with_a_wrong_from_tag_from_the_right_source_is_rejected() {
    let mut h = Harness::new();
    let (_invite, ok) = answered_inbound(&mut h);
    h.take();
    let bad = in_dialog_request(
        "BYE",
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-bye-x",
        &ok.text(),
        false,
        "",
        4712,
        "",
    )
    .replace("tag=prov-tag-1", "tag=guessed");
    h.trunk_sends(&bad);
    assert_eq!(h.take()[0].code(), Some(481));
    assert_eq!(h.b2bua.calls_active(), 1);
    assert_eq!(h.b2bua.counters().forged_in_dialog, 1);
}

#[test]
fn forged_200_ok_from_another_source_does_not_answer_the_call() {
    let mut h = Harness::new();
    let invite = start_inbound(&mut h);
    // The right branch, Call-ID and tags, but from the trunk side instead of the PBX.
    let forged = pbx_response(&invite.request(), 200, &pbx_sdp(1, "sendrecv"));
    h.deliver(&forged, trunk_flow(), Side::trunk(0));
    let rogue_pbx = drawbridge_b2bua::Flow::new(
        PBX_FLOW,
        "198.19.5.99:5060".parse().unwrap(),
        drawbridge_b2bua::TransportKind::Udp,
    );
    h.deliver(&forged, rogue_pbx, Side::Pbx);
    assert!(h.take().is_empty(), "nothing sent for a forged answer");
    assert_eq!(h.b2bua.counters().forged_in_dialog, 2);
    assert_eq!(h.b2bua.counters().calls_answered, 0);
    // The real answer is still accepted.
    h.pbx_sends(&forged);
    assert!(
        h.take()
            .iter()
            .any(|s| s.flow.id.0 == TRUNK_FLOW && s.code() == Some(200))
    );
}

#[test]
fn forged_cancel_from_another_source_does_not_end_the_call() {
    let mut h = Harness::new();
    let invite = start_inbound(&mut h);
    let cancel = "CANCEL sip:+4930123456@sbc.example.com:5061;transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-inv-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller Name\" <sip:+4917012345@sip.provider.example>;tag=prov-tag-1\r\n\
         To: <sip:+4930123456@sbc.example.com>\r\n\
         Call-ID: prov-callid-8f3a@core-sbc-3.provider.internal\r\n\
         CSeq: 4711 CANCEL\r\n\
         Content-Length: 0\r\n\r\n";
    h.deliver(cancel, rogue_flow(), Side::trunk(0));
    let sent = h.take();
    assert!(sent.iter().all(|s| s.code() != Some(487)), "{sent:#?}");
    h.pbx_sends(&pbx_response(&invite.request(), 180, ""));
    let sent = h.take();
    assert!(sent.iter().all(|s| s.method().as_deref() != Some("CANCEL")));
    assert!(sent.iter().any(|s| s.code() == Some(180)));
}

#[test]
fn forged_ack_does_not_stop_2xx_retransmissions() {
    // Outbound call: the PBX (UDP) is the caller, so the core retransmits its 2xx.
    let mut h = Harness::new();
    let (_, ok_to_pbx) = crate::outbound::answered_outbound(&mut h, false);
    let ack = ack_for(
        &ok_to_pbx.text(),
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-ack",
        31,
        "",
    );
    let rogue = drawbridge_b2bua::Flow::new(
        PBX_FLOW,
        "198.19.5.99:5060".parse().unwrap(),
        drawbridge_b2bua::TransportKind::Udp,
    );
    h.deliver(&ack, rogue, Side::Pbx);
    assert_eq!(h.b2bua.counters().forged_in_dialog, 1);
    h.advance(std::time::Duration::from_millis(600));
    assert!(
        h.take_to(PBX_FLOW).iter().any(|s| s.code() == Some(200)),
        "still retransmitting"
    );
}

#[test]
fn a_replaced_trunk_connection_carries_the_calls_pinned_to_the_old_one() {
    use drawbridge_b2bua::{Flow, TransportKind};
    let mut h = Harness::new();
    let (_invite, ok) = answered_inbound(&mut h);
    h.take();
    // Our TLS connection to the trunk dropped and a new one is up (same provider address,
    // a new connection id).
    let renewed = Flow::new(21, trunk_flow().remote, TransportKind::Tls);
    h.set_trunk_flow(renewed);
    h.take();
    let bye = in_dialog_request(
        "BYE",
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-bye-9",
        &ok.text(),
        false,
        "",
        4712,
        "",
    );
    // The old connection is gone: a message claiming it no longer matches…
    h.deliver(&bye, rogue_flow(), Side::trunk(0));
    assert_eq!(
        h.take()[0].code(),
        Some(481),
        "another source is still refused"
    );
    // …while the provider's BYE on the new connection ends the call.
    h.deliver(
        &bye.replace("prov-bye-9", "prov-bye-10"),
        renewed,
        Side::trunk(0),
    );
    let sent = h.take();
    assert_eq!(sent[0].code(), Some(200), "{sent:#?}");
    assert_eq!(sent[0].flow.id.0, 21, "answered on the new connection");
    assert_eq!(sent[1].method().as_deref(), Some("BYE"));
    assert_eq!(h.b2bua.counters().forged_in_dialog, 1);
}

#[test]
fn our_bye_after_a_trunk_reconnect_goes_over_the_new_connection() {
    use drawbridge_b2bua::{Flow, TransportKind};
    let mut h = Harness::new();
    let (invite, _ok) = answered_inbound(&mut h);
    h.take();
    let renewed = Flow::new(22, trunk_flow().remote, TransportKind::Tls);
    h.set_trunk_flow(renewed);
    h.take();
    h.pbx_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-7",
        &invite.text(),
        true,
        "pbx-tag-1",
        101,
        "",
    ));
    let bye = h
        .take()
        .into_iter()
        .find(|s| s.method().as_deref() == Some("BYE"))
        .expect("BYE to the provider");
    assert_eq!(bye.flow.id.0, 22, "not on the dead connection");
}
