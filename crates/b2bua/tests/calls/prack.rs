//! Reliable provisionals (RFC 3262), terminated per leg: the callee's are PRACKed on its
//! leg and relayed unreliably to the caller.

// Setup helpers (not #[test] fns) may expect: a panic there is a failed test.
#![allow(clippy::expect_used)]

use crate::harness::*;
use crate::outbound::pbx_invite;

fn supported(s: &Sent) -> String {
    s.header("Supported").unwrap_or_default()
}

#[test]
fn outbound_reliable_183_is_pracked_on_the_trunk_and_relayed_unreliably() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(true));
    let invite = h
        .take_to(TRUNK_FLOW)
        .into_iter()
        .next()
        .expect("INVITE to the trunk");
    assert!(supported(&invite).contains("100rel"), "{}", invite.text());
    assert!(supported(&invite).contains("timer"));
    let reliable_183 = trunk_response(
        &invite.request(),
        183,
        "Require: 100rel\r\nRSeq: 7\r\n",
        &provider_sdp(),
    );
    h.trunk_sends(&reliable_183);
    let sent = h.take();
    let prack = sent
        .iter()
        .find(|s| s.flow.id.0 == TRUNK_FLOW)
        .expect("PRACK to the trunk");
    assert_eq!(prack.method().as_deref(), Some("PRACK"), "{}", prack.text());
    assert_eq!(prack.header("RAck").as_deref(), Some("7 1 INVITE"));
    assert_eq!(prack.header("CSeq").as_deref(), Some("2 PRACK"));
    assert_eq!(prack.header("Call-ID"), invite.header("Call-ID"));
    assert!(prack.header("To").unwrap().ends_with(";tag=prov-tag-9"));
    assert!(
        // rsip spells the transport parameter in capitals; its value is case-insensitive.
        prack
            .text()
            .to_ascii_lowercase()
            .starts_with("prack sip:+4917012345@198.18.7.7:5061;transport=tls sip/2.0\r\n"),
        "to the Contact of the 183: {}",
        prack.text()
    );
    assert_eq!(
        prack.header("Route").as_deref(),
        Some("<sip:core-sbc-3.provider.internal;lr>"),
        "the early dialog's route set"
    );
    let to_pbx = sent
        .iter()
        .find(|s| s.flow.id.0 == PBX_FLOW)
        .expect("183 to the PBX");
    assert_eq!(to_pbx.code(), Some(183));
    assert_eq!(to_pbx.header("RSeq"), None, "unreliable towards the PBX");
    assert!(
        !to_pbx
            .header("Require")
            .unwrap_or_default()
            .contains("100rel")
    );
    let early_sdp = to_pbx.body();
    assert!(
        early_sdp.contains(&format!("c=IN IP4 {LAN_MEDIA}")),
        "{early_sdp}"
    );

    // A retransmission of the same reliable 183: neither PRACKed nor relayed again.
    h.trunk_sends(&reliable_183);
    assert!(h.take().is_empty());
    h.trunk_sends(&trunk_response(&prack.request(), 200, "", ""));
    assert!(
        h.take().is_empty(),
        "the PRACK's 200 stays on the trunk leg"
    );

    // The 2xx carries no SDP (the answer was in the reliable 183): the PBX's 200 repeats it.
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", ""));
    let sent = h.take();
    let ack = sent
        .iter()
        .find(|s| s.flow.id.0 == TRUNK_FLOW)
        .expect("ACK to the trunk");
    assert_eq!(ack.method().as_deref(), Some("ACK"));
    assert_eq!(ack.header("CSeq").as_deref(), Some("1 ACK"));
    let ok = sent
        .iter()
        .find(|s| s.flow.id.0 == PBX_FLOW)
        .expect("200 to the PBX");
    assert_eq!(ok.code(), Some(200));
    assert_eq!(ok.body(), early_sdp);
    let all = h.all_bytes_to(PBX_FLOW);
    for secret in PROVIDER_SECRETS {
        assert!(!all.contains(secret), "{secret:?} leaked to the PBX");
    }
}

#[test]
fn a_second_reliable_provisional_gets_its_own_prack() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(true));
    let invite = h.take_to(TRUNK_FLOW).remove(0);
    h.trunk_sends(&trunk_response(
        &invite.request(),
        180,
        "Require: 100rel\r\nRSeq: 1\r\n",
        "",
    ));
    let first: Vec<_> = h
        .take_to(TRUNK_FLOW)
        .into_iter()
        .filter_map(|s| s.header("RAck"))
        .collect();
    h.trunk_sends(&trunk_response(
        &invite.request(),
        183,
        "Require: 100rel\r\nRSeq: 2\r\n",
        &provider_sdp(),
    ));
    let second = h.take_to(TRUNK_FLOW);
    assert_eq!(first, vec!["1 1 INVITE".to_owned()]);
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].header("RAck").as_deref(), Some("2 1 INVITE"));
    assert_eq!(second[0].header("CSeq").as_deref(), Some("3 PRACK"));
}

#[test]
fn without_an_offer_100rel_is_not_offered_and_unreliable_provisionals_get_no_prack() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(false));
    let invite = h.take_to(TRUNK_FLOW).remove(0);
    assert!(!supported(&invite).contains("100rel"), "{}", invite.text());
    h.trunk_sends(&trunk_response(&invite.request(), 180, "", ""));
    assert!(
        h.take_to(TRUNK_FLOW).is_empty(),
        "no PRACK for an unreliable 180"
    );
}

#[test]
fn inbound_reliable_180_from_the_pbx_is_pracked_on_the_lan() {
    let mut h = Harness::new();
    h.trunk_sends(&trunk_invite());
    let invite = h
        .take_to(PBX_FLOW)
        .into_iter()
        .find(|s| s.method().as_deref() == Some("INVITE"))
        .expect("INVITE to the PBX");
    assert!(supported(&invite).contains("100rel"));
    let r = pbx_response(&invite.request(), 180, "").replacen(
        "Content-Length: 0",
        "Require: 100rel\r\nRSeq: 4711\r\nContent-Length: 0",
        1,
    );
    h.pbx_sends(&r);
    let sent = h.take();
    let prack = sent
        .iter()
        .find(|s| s.flow.id.0 == PBX_FLOW)
        .expect("PRACK to the PBX");
    assert_eq!(prack.method().as_deref(), Some("PRACK"));
    assert_eq!(prack.header("RAck").as_deref(), Some("4711 1 INVITE"));
    assert_eq!(prack.request().uri.to_string(), "sip:4930@198.19.5.5:5060");
    let ringing = sent
        .iter()
        .find(|s| s.flow.id.0 == TRUNK_FLOW && s.code() == Some(180))
        .expect("180 to the trunk");
    assert_eq!(ringing.header("RSeq"), None);
    let all = h.all_bytes_to(TRUNK_FLOW);
    for secret in PBX_SECRETS {
        assert!(!all.contains(secret), "{secret:?} leaked to the trunk");
    }
}

#[test]
fn a_challenged_prack_is_retried_in_the_dialogs_cseq_space() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(true));
    let invite = h.take_to(TRUNK_FLOW).remove(0);
    h.trunk_sends(&trunk_response(
        &invite.request(),
        183,
        "Require: 100rel\r\nRSeq: 1\r\n",
        &provider_sdp(),
    ));
    let prack = h.take_to(TRUNK_FLOW).remove(0);
    assert_eq!(prack.header("CSeq").as_deref(), Some("2 PRACK"));
    h.trunk_sends(&trunk_response(
        &prack.request(),
        407,
        "Proxy-Authenticate: Digest realm=\"sip.provider.example\", nonce=\"pn\"\r\n",
        "",
    ));
    let retry = h.take_to(TRUNK_FLOW).remove(0);
    assert_eq!(retry.method().as_deref(), Some("PRACK"));
    assert_eq!(retry.header("CSeq").as_deref(), Some("3 PRACK"));
    assert!(retry.header("Proxy-Authorization").is_some());
    h.trunk_sends(&trunk_response(&retry.request(), 200, "", ""));
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", ""));
    let ok = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == PBX_FLOW && s.code() == Some(200))
        .expect("200 to the PBX");
    h.pbx_sends(&ack_for(
        &ok.text(),
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-ack-1",
        31,
        "",
    ));
    // The PBX hangs up: the BYE on the trunk leg comes after the retried PRACK's CSeq.
    h.pbx_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-1",
        &ok.text(),
        false,
        "",
        32,
        "",
    ));
    let bye = h
        .take_to(TRUNK_FLOW)
        .into_iter()
        .find(|s| s.method().as_deref() == Some("BYE"))
        .expect("BYE to the trunk");
    assert_eq!(bye.header("CSeq").as_deref(), Some("4 BYE"));
}
