//! Regressions found by the `calls` fuzz target (fuzz/regressions/calls/ holds the
//! scripts): calls that never ended, leaving a call slot, a transaction and its media
//! behind for good.

#![allow(clippy::unwrap_used)] // helpers: a panic there is a failed test

use std::time::Duration;

use crate::harness::*;
use crate::inbound::{answered_inbound, start_inbound};

/// The provider's CANCEL of `trunk_invite()`.
fn trunk_cancel() -> &'static str {
    "CANCEL sip:+4930123456@sbc.example.com:5061;transport=tls SIP/2.0\r\n\
     Via: SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-inv-1;rport\r\n\
     Max-Forwards: 70\r\n\
     From: \"Caller Name\" <sip:+4917012345@sip.provider.example>;tag=prov-tag-1\r\n\
     To: <sip:+4930123456@sbc.example.com>\r\n\
     Call-ID: prov-callid-8f3a@core-sbc-3.provider.internal\r\n\
     CSeq: 4711 CANCEL\r\n\
     Content-Length: 0\r\n\r\n"
}

/// Nothing of the call is left: no call, dialog, transaction, deadline; media released.
fn assert_all_gone(h: &mut Harness) {
    assert_eq!(h.b2bua.calls_active(), 0, "the call is still there");
    assert_eq!(h.b2bua.dialogs(), 0);
    h.advance(Duration::from_secs(64));
    assert_eq!(h.b2bua.transactions(), 0, "a transaction is left");
    assert_eq!(h.b2bua.poll_timeout(), None, "a deadline outlived the call");
    assert_eq!(
        h.media.lock().unwrap().released.len(),
        1,
        "media not released"
    );
}

/// Found as: INVITE, 100 from the PBX, drawbridge hangs up. A 100 is a provisional
/// (RFC 3261 §9.1), and after it the INVITE has no Timer B: a CANCEL waiting for an 18x
/// that never came kept the call in `Cancelling` for ever.
#[test]
fn a_cancel_goes_out_after_a_lone_100_and_the_call_ends() {
    let mut h = Harness::new();
    let invite = start_inbound(&mut h);
    h.pbx_sends(&pbx_response(&invite.request(), 100, ""));
    assert!(h.take().is_empty(), "a 100 is not relayed");
    h.trunk_sends(trunk_cancel());
    let sent = h.take_to(PBX_FLOW);
    assert_eq!(
        sent.iter().map(|s| s.method()).collect::<Vec<_>>(),
        [Some("CANCEL".to_owned())],
        "the CANCEL goes at once: {sent:#?}"
    );
    // The PBX answers the CANCEL and sends its 487: the call ends there.
    h.pbx_sends(&pbx_response(&sent[0].request(), 200, ""));
    h.pbx_sends(&pbx_response(&invite.request(), 487, ""));
    assert_all_gone(&mut h);
}

/// Found as: INVITE, 180, CANCEL, and the callee never sends a final response. The
/// INVITE client transaction sat in Proceeding (no timer there) and the call in
/// `Cancelling`, a call slot lost per ignored CANCEL. RFC 3261 §9.1: after 64*T1 the
/// INVITE is considered cancelled.
#[test]
fn a_callee_ignoring_a_cancel_does_not_hold_the_call_for_ever() {
    let mut h = Harness::new();
    let invite = start_inbound(&mut h);
    h.pbx_sends(&pbx_response(&invite.request(), 180, ""));
    h.take();
    h.trunk_sends(trunk_cancel());
    let cancel = h
        .take_to(PBX_FLOW)
        .into_iter()
        .find(|s| s.method().as_deref() == Some("CANCEL"))
        .expect("CANCEL to the PBX");
    h.pbx_sends(&pbx_response(&cancel.request(), 200, ""));
    // No 487, ever.
    h.advance(Duration::from_secs(31));
    assert_eq!(h.b2bua.calls_active(), 1, "not before 64*T1");
    h.advance(Duration::from_secs(2));
    assert_eq!(h.b2bua.calls_active(), 0, "given up 64*T1 after the CANCEL");
    assert!(
        h.take_to(TRUNK_FLOW).is_empty(),
        "the caller already had its 487"
    );
    assert_all_gone(&mut h);
}

/// Found as: a caller requiring 100rel, a reliable 183 with SDP to it, the PBX's 200
/// held for the caller's PRACK, then a BYE from the PBX. The core sent a BYE to the
/// caller (who had no dialog yet: it never got the 2xx) and left the caller's INVITE
/// without a final response, its server transaction alive for ever. Now the caller's
/// INVITE gets 487.
#[test]
fn a_bye_from_the_callee_while_its_2xx_waits_for_a_prack_answers_the_caller() {
    let mut h = Harness::new();
    h.trunk_sends(&trunk_invite().replacen(
        "Supported: 100rel, timer, replaces\r\n",
        "Supported: timer, replaces\r\nRequire: 100rel\r\n",
        1,
    ));
    let invite = h.take_to(PBX_FLOW).pop().expect("INVITE to the PBX");
    h.pbx_sends(&pbx_response(
        &invite.request(),
        183,
        &pbx_sdp(1, "sendrecv"),
    ));
    let prov = h.take_to(TRUNK_FLOW);
    assert!(
        prov.iter()
            .any(|s| s.code() == Some(183) && s.header("RSeq").is_some()),
        "reliable 183 to the caller: {prov:#?}"
    );
    h.pbx_sends(&pbx_response(
        &invite.request(),
        200,
        &pbx_sdp(1, "sendrecv"),
    ));
    assert!(
        h.take_to(TRUNK_FLOW).iter().all(|s| s.code() != Some(200)),
        "the 2xx is held until the PRACK"
    );
    h.pbx_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-1",
        &invite.text(),
        true,
        "pbx-tag-1",
        102,
        "",
    ));
    let sent = h.take();
    let to_pbx: Vec<_> = sent.iter().filter(|s| s.flow.id.0 == PBX_FLOW).collect();
    assert_eq!(to_pbx.len(), 1, "{sent:#?}");
    assert_eq!(to_pbx[0].code(), Some(200), "the PBX's BYE is answered");
    let to_trunk: Vec<_> = sent.iter().filter(|s| s.flow.id.0 == TRUNK_FLOW).collect();
    assert_eq!(to_trunk.len(), 1, "{sent:#?}");
    assert_eq!(
        to_trunk[0].code(),
        Some(487),
        "the caller's INVITE gets its final"
    );
    assert!(to_trunk[0].header("CSeq").unwrap().ends_with("INVITE"));
    assert_all_gone(&mut h);
}

/// Found as: an answered call, a re-INVITE from the trunk relayed to the PBX, a 180 from
/// the PBX to it and then the PBX's BYE. The call ended but the trunk's re-INVITE never
/// got a final response and the re-INVITE to the PBX stayed in Proceeding: two
/// transactions kept for ever. Now the re-INVITE gets 487 (RFC 3261 §15.1.2) and the
/// relayed copy is dropped.
#[test]
fn a_reinvite_pending_when_the_call_ends_gets_487_and_nothing_is_left() {
    let mut h = Harness::new();
    let (_, ok) = answered_inbound(&mut h);
    h.take();
    h.trunk_sends(&in_dialog_request(
        "INVITE",
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-reinv-1",
        &ok.text(),
        false,
        "",
        4712,
        &provider_sdp().replace("o=ProvMG 998877 1", "o=ProvMG 998877 2"),
    ));
    let reinvite = h
        .take_to(PBX_FLOW)
        .into_iter()
        .find(|s| s.method().as_deref() == Some("INVITE"))
        .expect("re-INVITE relayed to the PBX");
    h.pbx_sends(&pbx_response(&reinvite.request(), 180, ""));
    h.pbx_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-1",
        &reinvite.text(),
        true,
        "pbx-tag-1",
        102,
        "",
    ));
    let to_trunk = h.take_to(TRUNK_FLOW);
    assert!(
        to_trunk
            .iter()
            .any(|s| s.method().as_deref() == Some("BYE")),
        "BYE relayed: {to_trunk:#?}"
    );
    let final_to_reinvite = to_trunk
        .iter()
        .find(|s| s.code().is_some_and(|c| c >= 200))
        .expect("the trunk's re-INVITE gets a final response");
    assert_eq!(final_to_reinvite.code(), Some(487));
    assert_eq!(
        final_to_reinvite.header("CSeq").as_deref(),
        Some("4712 INVITE")
    );
    assert_all_gone(&mut h);
}

/// Follows from the first fix (a 100 now releases a pending CANCEL): a 100 to the first
/// INVITE, then a 407, must not let a CANCEL go for the re-sent INVITE before that one
/// has had a provisional of its own (RFC 3261 §9.1).
#[test]
fn a_cancel_after_a_challenge_waits_for_the_new_invites_provisional() {
    let mut h = Harness::new();
    h.pbx_sends(&crate::outbound::pbx_invite(true));
    let invite = h.take_to(TRUNK_FLOW).pop().expect("INVITE to the trunk");
    h.trunk_sends(&trunk_response(&invite.request(), 100, "", ""));
    h.trunk_sends(&trunk_response(
        &invite.request(),
        407,
        "Proxy-Authenticate: Digest realm=\"sip.provider.example\", nonce=\"n1\"\r\n",
        "",
    ));
    let retry = h
        .take_to(TRUNK_FLOW)
        .into_iter()
        .find(|s| s.method().as_deref() == Some("INVITE"))
        .expect("INVITE re-sent with credentials");
    h.pbx_sends(
        "CANCEL sip:004930999@198.19.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-inv-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice Office\" <sip:201@pbx.corp.example>;tag=pbx-tag-from\r\n\
         To: <sip:004930999@198.19.0.1>\r\n\
         Call-ID: pbx-callid-77@pbx01.corp.example\r\n\
         CSeq: 31 CANCEL\r\n\
         Content-Length: 0\r\n\r\n",
    );
    assert!(
        h.take_to(TRUNK_FLOW)
            .iter()
            .all(|s| s.method().as_deref() != Some("CANCEL")),
        "no CANCEL before the new INVITE's provisional"
    );
    h.trunk_sends(&trunk_response(&retry.request(), 100, "", ""));
    let sent = h.take_to(TRUNK_FLOW);
    let cancel = sent
        .iter()
        .find(|s| s.method().as_deref() == Some("CANCEL"))
        .expect("CANCEL once the new INVITE had its 100");
    assert_eq!(
        cancel.header("Via"),
        retry.header("Via"),
        "the new INVITE's branch"
    );
}
