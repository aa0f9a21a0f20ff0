//! A provider that connects to us and whose connection drops and comes back: the dialogs
//! of the old connection move to the new one (same trunk, same IP, after the old one
//! closed) and nowhere else; without a new connection the calls still end cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers: a panic is a failed test

use drawbridge_b2bua::{B2buaEvent, CallHandle, Flow, Side, TransportKind};

use crate::harness::*;

/// The provider's first and second inbound connection: same IP, other source ports.
const F1: u64 = 31;
const F2: u64 = 32;

fn conn(id: u64, addr: &str) -> Flow {
    Flow::new(id, addr.parse().unwrap(), TransportKind::Tls)
}
fn f1() -> Flow {
    conn(F1, "198.18.7.7:40001")
}
fn f2() -> Flow {
    conn(F2, "198.18.7.7:40002")
}
fn trunk0() -> Side {
    Side::trunk(0)
}

/// A provider-initiated call set up and answered over F1; returns (INVITE to the PBX,
/// 200 to the provider).
fn call_over_f1(h: &mut Harness) -> (Sent, Sent) {
    h.deliver(&trunk_invite(), f1(), trunk0());
    let sent = h.take();
    assert_eq!((sent[0].flow.id.0, sent[0].code()), (F1, Some(100)));
    let invite = sent
        .iter()
        .find(|s| s.flow.id.0 == PBX_FLOW)
        .expect("INVITE to the PBX")
        .clone();
    h.pbx_sends(&pbx_response(
        &invite.request(),
        200,
        &pbx_sdp(1, "sendrecv"),
    ));
    let ok = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == F1 && s.code() == Some(200))
        .expect("200 to the provider on its connection");
    h.deliver(
        &ack_for(
            &ok.text(),
            "SIP/2.0/TLS 198.18.7.7:40001;branch=z9hG4bKprov-ack-1",
            4711,
            "",
        ),
        f1(),
        trunk0(),
    );
    assert!(h.take().is_empty());
    (invite, ok)
}

/// The provider's BYE for the call whose 200 was `ok`.
fn provider_bye(ok: &Sent, branch: &str, cseq: u32) -> String {
    in_dialog_request(
        "BYE",
        &format!("SIP/2.0/TLS 198.18.7.7:40002;branch={branch}"),
        &ok.text(),
        false,
        "",
        cseq,
        "",
    )
}

/// A request from the PBX in the call whose INVITE to the PBX was `invite`.
fn pbx_request(invite: &Sent, method: &str, branch: &str, cseq: u32, body: &str) -> String {
    in_dialog_request(
        method,
        &format!("SIP/2.0/UDP 198.19.5.5:5060;branch={branch}"),
        &invite.text(),
        true,
        "pbx-tag-1",
        cseq,
        body,
    )
}

fn repinned(h: &Harness) -> Vec<(CallHandle, u64, u64)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            B2buaEvent::DialogRepinned { call, old, new, .. } => Some((*call, old.id.0, new.id.0)),
            _ => None,
        })
        .collect()
}

#[test]
fn provider_bye_on_a_new_connection_after_the_old_one_closed_ends_both_legs() {
    let mut h = Harness::new();
    let (_invite, ok) = call_over_f1(&mut h);
    h.flow_closed(F1);
    assert!(h.events.iter().any(|e| matches!(
        e,
        B2buaEvent::ConnectionLost { flow, calls: 1, .. } if flow.id.0 == F1
    )));
    assert_eq!(h.b2bua.closed_flows_pinned(), 1);
    h.deliver(
        &provider_bye(&ok, "z9hG4bKprov-bye-2", 4712),
        f2(),
        trunk0(),
    );
    let sent = h.take();
    assert_eq!(
        (sent[0].flow.id.0, sent[0].code()),
        (F2, Some(200)),
        "answered on the new connection: {sent:#?}"
    );
    assert_eq!(sent[1].flow.id.0, PBX_FLOW);
    assert_eq!(sent[1].method().as_deref(), Some("BYE"));
    assert_eq!(h.b2bua.calls_active(), 0);
    assert_eq!(h.b2bua.counters().dialogs_repinned, 1);
    assert_eq!(h.b2bua.counters().forged_in_dialog, 0);
    let call = repinned(&h)[0].0;
    assert_eq!(repinned(&h), vec![(call, F1, F2)]);
    assert!(
        h.events
            .contains(&B2buaEvent::CallEnded { call, status: 200 })
    );
    assert_eq!(
        h.b2bua.closed_flows_pinned(),
        0,
        "nothing left pinned to F1"
    );
}

#[test]
fn bye_on_a_second_connection_while_the_first_is_open_is_refused() {
    let mut h = Harness::new();
    let (_invite, ok) = call_over_f1(&mut h);
    // Another connection from the provider's IP while F1 is up: it might be the
    // provider's second connection, but it cannot take over a live one's dialogs.
    h.flow_opened(f2(), trunk0());
    h.deliver(
        &provider_bye(&ok, "z9hG4bKprov-bye-2", 4712),
        f2(),
        trunk0(),
    );
    let sent = h.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!((sent[0].flow.id.0, sent[0].code()), (F2, Some(481)));
    assert_eq!(h.b2bua.calls_active(), 1);
    assert_eq!(h.b2bua.counters().forged_in_dialog, 1);
    assert_eq!(h.b2bua.counters().dialogs_repinned, 0);
    // Once F1 closed, the same BYE on F2 (a new transaction) is the provider's.
    h.flow_closed(F1);
    h.deliver(
        &provider_bye(&ok, "z9hG4bKprov-bye-3", 4713),
        f2(),
        trunk0(),
    );
    let sent = h.take();
    assert_eq!((sent[0].flow.id.0, sent[0].code()), (F2, Some(200)));
    assert_eq!(h.b2bua.calls_active(), 0);
}

#[test]
fn a_new_connection_from_another_ip_or_another_trunk_does_not_take_over() {
    let mut config = config();
    let mut other = config.trunks[0].clone();
    other.name = "other".into();
    other.flow = conn(21, "198.18.9.9:5061");
    config.trunks.push(other);
    let mut h = Harness::with_config(config);
    let (_invite, ok) = call_over_f1(&mut h);
    h.flow_closed(F1);
    // Trunk 0 (its allowlist may span a range) but another IP.
    let other_ip = conn(33, "198.18.7.8:40003");
    h.flow_opened(other_ip, trunk0());
    h.deliver(
        &provider_bye(&ok, "z9hG4bKevil-1", 4712),
        other_ip,
        trunk0(),
    );
    // The provider's IP, but admitted for another trunk.
    let other_trunk = conn(34, "198.18.7.7:40004");
    h.flow_opened(other_trunk, Side::trunk(1));
    h.deliver(
        &provider_bye(&ok, "z9hG4bKevil-2", 4712),
        other_trunk,
        Side::trunk(1),
    );
    // The provider's IP over TCP instead of TLS.
    let tcp = Flow::new(35, "198.18.7.7:40005".parse().unwrap(), TransportKind::Tcp);
    h.deliver(&provider_bye(&ok, "z9hG4bKevil-3", 4712), tcp, trunk0());
    // The PBX side, with the provider's dialog identifiers.
    h.deliver(
        &provider_bye(&ok, "z9hG4bKevil-4", 4712),
        pbx_flow(),
        Side::Pbx,
    );
    let sent = h.take();
    assert_eq!(sent.len(), 4, "{sent:#?}");
    assert!(sent.iter().all(|s| s.code() == Some(481)), "{sent:#?}");
    assert_eq!(h.b2bua.calls_active(), 1);
    assert_eq!(h.b2bua.counters().forged_in_dialog, 4);
    assert!(repinned(&h).is_empty());
    // The real provider still can.
    h.deliver(
        &provider_bye(&ok, "z9hG4bKprov-bye-2", 4712),
        f2(),
        trunk0(),
    );
    assert_eq!(h.take()[0].code(), Some(200));
    assert_eq!(h.b2bua.calls_active(), 0);
}

#[test]
fn our_bye_after_the_reconnect_goes_out_on_the_new_connection_and_the_old_one_is_done() {
    let mut h = Harness::new();
    let (invite, ok) = call_over_f1(&mut h);
    h.flow_closed(F1);
    // The transport reports the new connection before anything arrives on it (the
    // worker owning this call may never see a message on it).
    h.flow_opened(f2(), trunk0());
    assert_eq!(repinned(&h).len(), 1);
    // A late message read from F1 before it closed no longer matches the dialog.
    h.deliver(&provider_bye(&ok, "z9hG4bKprov-late", 4712), f1(), trunk0());
    assert_eq!(h.take()[0].code(), Some(481));
    assert_eq!(h.b2bua.calls_active(), 1);
    h.pbx_sends(&pbx_request(&invite, "BYE", "z9hG4bKpbx-bye-1", 101, ""));
    let sent = h.take();
    assert_eq!((sent[0].flow.id.0, sent[0].code()), (PBX_FLOW, Some(200)));
    let bye = &sent[1];
    assert_eq!(bye.method().as_deref(), Some("BYE"));
    assert_eq!(bye.flow.id.0, F2, "on the provider's new connection");
    assert_eq!(h.b2bua.calls_active(), 0);
    // Its 200 comes back on F2 and completes our BYE (not counted as forged).
    h.deliver(&trunk_response(&bye.request(), 200, "", ""), f2(), trunk0());
    assert_eq!(h.b2bua.counters().forged_in_dialog, 1, "only the late BYE");
    assert_eq!(h.b2bua.counters().stray_responses, 0);
}

#[test]
fn a_response_to_our_request_on_the_new_connection_is_accepted() {
    let mut h = Harness::new();
    let (invite, _ok) = call_over_f1(&mut h);
    h.pbx_sends(&pbx_request(
        &invite,
        "INVITE",
        "z9hG4bKpbx-reinv-1",
        102,
        &pbx_sdp(2, "sendonly"),
    ));
    let reinvite = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == F1)
        .expect("re-INVITE to the provider on F1");
    // F1 dies before the provider answers; it answers on a new connection (RFC 3261
    // §18.2.2: a server whose connection is gone connects to the sent-by).
    h.flow_closed(F1);
    h.deliver(
        &trunk_response(&reinvite.request(), 200, "", &provider_sdp()),
        f2(),
        trunk0(),
    );
    let sent = h.take();
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == F2 && s.method().as_deref() == Some("ACK")),
        "ACK on the new connection: {sent:#?}"
    );
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == PBX_FLOW && s.code() == Some(200)),
        "answer relayed to the PBX: {sent:#?}"
    );
    assert_eq!(h.b2bua.counters().forged_in_dialog, 0);
}

#[test]
fn cancel_on_a_new_connection_answers_the_invite_there() {
    let mut h = Harness::new();
    h.deliver(&trunk_invite(), f1(), trunk0());
    let invite = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == PBX_FLOW)
        .unwrap();
    h.pbx_sends(&pbx_response(&invite.request(), 180, ""));
    h.take();
    h.flow_closed(F1);
    let cancel = "CANCEL sip:+4930123456@sbc.example.com:5061;transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-inv-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller Name\" <sip:+4917012345@sip.provider.example>;tag=prov-tag-1\r\n\
         To: <sip:+4930123456@sbc.example.com>\r\n\
         Call-ID: prov-callid-8f3a@core-sbc-3.provider.internal\r\n\
         CSeq: 4711 CANCEL\r\n\
         Content-Length: 0\r\n\r\n";
    h.deliver(cancel, f2(), trunk0());
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.flow.id.0 != F1),
        "nothing on the closed connection: {sent:#?}"
    );
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == F2 && s.code() == Some(200))
    );
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == F2 && s.code() == Some(487)),
        "the INVITE's 487 on the new connection: {sent:#?}"
    );
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == PBX_FLOW && s.method().as_deref() == Some("CANCEL"))
    );
}

#[test]
fn without_a_reconnect_our_requests_go_over_the_trunk_connection() {
    let mut h = Harness::new();
    let (invite, _ok) = call_over_f1(&mut h);
    h.flow_closed(F1);
    h.pbx_sends(&pbx_request(&invite, "BYE", "z9hG4bKpbx-bye-1", 101, ""));
    let sent = h.take();
    assert_eq!((sent[0].flow.id.0, sent[0].code()), (PBX_FLOW, Some(200)));
    assert_eq!(sent[1].method().as_deref(), Some("BYE"));
    assert_eq!(
        sent[1].flow.id.0, TRUNK_FLOW,
        "our own connection to the provider's configured host"
    );
    assert_eq!(h.b2bua.calls_active(), 0);
    // The answer comes back on that connection and is accepted.
    h.trunk_sends(&trunk_response(&sent[1].request(), 200, "", ""));
    assert_eq!(h.b2bua.counters().forged_in_dialog, 0);
    assert_eq!(h.b2bua.counters().stray_responses, 0);
}

#[test]
fn with_no_connection_at_all_a_relayed_request_fails_and_ends_the_call() {
    let mut h = Harness::new();
    let (invite, _ok) = call_over_f1(&mut h);
    h.flow_closed(F1);
    h.flow_closed(TRUNK_FLOW);
    h.pbx_sends(&pbx_request(&invite, "INFO", "z9hG4bKpbx-info-1", 102, ""));
    let sent = h.take();
    let to_pbx: Vec<_> = sent.iter().filter(|s| s.flow.id.0 == PBX_FLOW).collect();
    assert_eq!(to_pbx[0].code(), Some(408), "{sent:#?}");
    assert_eq!(to_pbx[1].method().as_deref(), Some("BYE"), "{sent:#?}");
    assert_eq!(h.b2bua.calls_active(), 0);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, B2buaEvent::CallEnded { status: 200, .. }))
    );
    // The PBX's answer to our BYE completes it; nothing lingers.
    let bye = to_pbx[1].request();
    h.pbx_sends(&pbx_response(&bye, 200, ""));
    h.advance(std::time::Duration::from_secs(64));
    assert_eq!(h.b2bua.transactions(), 0);
    assert_eq!(h.b2bua.dialogs(), 0);
    // Another connection closing forgets F1: no dialog is pinned to it any more.
    h.flow_closed(77);
    assert_eq!(h.b2bua.closed_flows_pinned(), 0);
}

#[test]
fn a_relayed_request_that_times_out_on_the_trunk_connection_ends_the_call() {
    let mut h = Harness::new();
    let (invite, _ok) = call_over_f1(&mut h);
    h.flow_closed(F1);
    h.pbx_sends(&pbx_request(&invite, "INFO", "z9hG4bKpbx-info-1", 102, ""));
    let sent = h.take();
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == TRUNK_FLOW && s.method().as_deref() == Some("INFO"))
    );
    // The provider's proxy never answers: Timer F.
    h.advance(std::time::Duration::from_secs(33));
    let sent = h.take();
    let to_pbx: Vec<_> = sent.iter().filter(|s| s.flow.id.0 == PBX_FLOW).collect();
    assert_eq!(to_pbx[0].code(), Some(408), "{sent:#?}");
    assert_eq!(to_pbx[1].method().as_deref(), Some("BYE"), "{sent:#?}");
    assert_eq!(h.b2bua.calls_active(), 0);
}

#[test]
fn a_provider_that_reconnects_with_several_calls_gets_all_of_them_moved() {
    let mut h = Harness::new();
    let (_i1, ok1) = call_over_f1(&mut h);
    // A second call on the same connection.
    let second = trunk_invite()
        .replace("prov-callid-8f3a", "prov-callid-second")
        .replace("z9hG4bKprov-inv-1", "z9hG4bKprov-inv-2")
        .replace("prov-tag-1", "prov-tag-2");
    h.deliver(&second, f1(), trunk0());
    let inv2 = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == PBX_FLOW)
        .unwrap();
    h.pbx_sends(&pbx_response(&inv2.request(), 200, &pbx_sdp(1, "sendrecv")));
    let ok2 = h
        .take()
        .into_iter()
        .find(|s| s.code() == Some(200))
        .unwrap();
    h.flow_closed(F1);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, B2buaEvent::ConnectionLost { calls: 2, .. }))
    );
    // The first message on the new connection moves both.
    h.deliver(
        &provider_bye(&ok1, "z9hG4bKprov-bye-1", 4712),
        f2(),
        trunk0(),
    );
    assert_eq!(repinned(&h).len(), 2);
    assert_eq!(h.b2bua.counters().dialogs_repinned, 2);
    h.deliver(
        &provider_bye(&ok2, "z9hG4bKprov-bye-2", 4712),
        f2(),
        trunk0(),
    );
    assert_eq!(h.b2bua.calls_active(), 0);
    assert_eq!(h.b2bua.counters().forged_in_dialog, 0);
}

#[test]
fn our_own_trunk_connection_closing_fails_one_request_and_the_reconnect_moves_the_call() {
    // Outbound call: the trunk leg rides on our connection to the provider.
    let mut h = Harness::new();
    let (_invite, ok_to_pbx) = crate::outbound::answered_outbound(&mut h, false);
    let pbx_in_dialog = |method: &str, branch: &str, cseq: u32| {
        in_dialog_request(
            method,
            &format!("SIP/2.0/UDP 198.19.5.5:5060;branch={branch}"),
            &ok_to_pbx.text(),
            false,
            "",
            cseq,
            "",
        )
    };
    h.pbx_sends(&ack_for(
        &ok_to_pbx.text(),
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-ack",
        31,
        "",
    ));
    h.take();
    h.flow_closed(TRUNK_FLOW);
    h.pbx_sends(&pbx_in_dialog("INFO", "z9hG4bKpbx-info-1", 32));
    let sent = h.take_to(PBX_FLOW);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].code(), Some(408), "only the request failed");
    assert_eq!(
        h.b2bua.calls_active(),
        1,
        "the runtime reconnects our connection"
    );
    assert_eq!(h.b2bua.closed_flows_pinned(), 1);
    let fresh = conn(40, "198.18.7.7:5061");
    h.set_trunk_flow(fresh);
    h.take();
    assert_eq!(h.b2bua.closed_flows_pinned(), 0, "moved by set_trunk_flow");
    h.pbx_sends(&pbx_in_dialog("BYE", "z9hG4bKpbx-bye-1", 33));
    let sent = h.take();
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == 40 && s.method().as_deref() == Some("BYE")),
        "BYE over the new connection: {sent:#?}"
    );
    assert_eq!(h.b2bua.calls_active(), 0);
}
