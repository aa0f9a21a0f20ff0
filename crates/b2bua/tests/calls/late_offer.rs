//! Late offer with 100rel (RFC 3262 §5): a caller requiring 100rel sends an INVITE
//! without SDP; the callee's reliable 18x carries the offer, which reaches the caller in
//! our reliable provisional; the caller answers in its PRACK, and that answer rides on
//! our PRACK to the callee. Early media without an offer in the INVITE.

// Setup helpers (not #[test] fns) may expect: a panic there is a failed test.
#![allow(clippy::expect_used)]

use std::time::Duration;

use drawbridge_b2bua::{B2buaEvent, Side};

use crate::harness::*;
use crate::prack::*;
use crate::update::pbx_update;

/// An offerless outbound call from a PBX requiring 100rel, up to the callee's offer in
/// a reliable 183: returns (INVITE to the trunk, the 183 the PBX got).
fn late_offer_in_183(h: &mut Harness) -> (Sent, Sent) {
    let invite = start_outbound_reliable(h, false);
    assert!(invite.body().is_empty());
    assert!(
        invite
            .header("Supported")
            .unwrap_or_default()
            .contains("100rel"),
        "the callee may send its offer reliably: {}",
        invite.text()
    );
    h.trunk_sends(&trunk_reliable(&invite, 183, 1, &provider_sdp()));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.flow.id.0 != TRUNK_FLOW),
        "our PRACK waits for the caller's answer: {sent:#?}"
    );
    let p = provisionals(&sent, PBX_FLOW).remove(0);
    (invite, p)
}

/// The PBX's PRACK of `p` answering its offer.
fn pbx_answers(p: &Sent, cseq: u32) -> String {
    let rack = format!("{} 31 INVITE", rseq(p));
    prack_with(
        Side::Pbx,
        p,
        &format!("prack-{cseq}"),
        cseq,
        &rack,
        &pbx_sdp(1, "sendrecv"),
    )
}

#[test]
fn a_reliable_late_offer_reaches_the_caller_and_its_prack_answer_reaches_the_callee() {
    let mut h = Harness::new();
    let (invite, p) = late_offer_in_183(&mut h);
    assert_eq!(p.code(), Some(183));
    let offer = p.body();
    assert!(
        offer.contains(&format!("c=IN IP4 {LAN_MEDIA}")),
        "{}",
        p.text()
    );
    assert_eq!(h.last_media_port(Side::trunk(0)), Some(31000));
    assert_eq!(h.last_media_port(Side::Pbx), None, "no answer yet");

    h.pbx_sends(&pbx_answers(&p, 32));
    let sent = h.take();
    let ok = first_to(&sent, PBX_FLOW);
    assert_eq!(
        (ok.code(), ok.header("CSeq").as_deref()),
        (Some(200), Some("32 PRACK"))
    );
    assert!(ok.body().is_empty());
    let prack = first_to(&sent, TRUNK_FLOW);
    assert_eq!(prack.method().as_deref(), Some("PRACK"), "{}", prack.text());
    assert_eq!(prack.header("RAck").as_deref(), Some("1 1 INVITE"));
    assert!(
        prack.body().contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")),
        "the answer, rewritten: {}",
        prack.text()
    );
    assert_eq!(
        h.last_media_port(Side::Pbx),
        Some(14000),
        "the caller's media"
    );

    // A retransmitted 183 changes nothing.
    h.trunk_sends(&trunk_reliable(&invite, 183, 1, &provider_sdp()));
    assert!(h.take().is_empty());
    h.trunk_sends(&trunk_response(&prack.request(), 200, "", ""));
    assert!(
        h.take().is_empty(),
        "the PRACK's 200 stays on the trunk leg"
    );

    // The 2xx (repeating the SDP) is ACKed at once without SDP; the caller's 2xx has none.
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", &provider_sdp()));
    let sent = h.take();
    let ack = first_to(&sent, TRUNK_FLOW);
    assert_eq!(ack.method().as_deref(), Some("ACK"));
    assert!(
        ack.body().is_empty(),
        "offer/answer is done: {}",
        ack.text()
    );
    let ok = code_to(&sent, PBX_FLOW, 200);
    assert!(
        ok.body().is_empty(),
        "no new offer in the 2xx: {}",
        ok.text()
    );
    h.pbx_sends(&pbx_ack(&ok, "ack-1", ""));
    assert!(h.take().is_empty(), "the ACK stays on the PBX leg");

    assert_no_leaks(&h);
    h.pbx_sends(&pbx_bye(&ok, 33));
    let bye = method_to(&h.take(), TRUNK_FLOW, "BYE");
    h.trunk_sends(&trunk_response(&bye.request(), 200, "", ""));
    assert_eq!(h.media.lock().unwrap().released.len(), 1);
    assert_nothing_left(&mut h);
}

#[test]
fn a_caller_that_never_answers_the_late_offer_fails_the_call_after_64_t1() {
    let mut h = Harness::new();
    let (invite, _) = late_offer_in_183(&mut h);
    h.advance(Duration::from_secs(32));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.method().as_deref() != Some("PRACK")),
        "no PRACK without the answer: {sent:#?}"
    );
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == PBX_FLOW && s.code() == Some(500)),
        "{sent:#?}"
    );
    let cancel = first_to(&sent, TRUNK_FLOW);
    assert_eq!(cancel.method().as_deref(), Some("CANCEL"));
    trunk_cancelled(&mut h, &cancel, &invite);
    assert_eq!(h.media.lock().unwrap().released.len(), 1);
    assert_nothing_left(&mut h);
}

#[test]
fn a_prack_without_an_answer_to_the_late_offer_gets_488_and_fails_the_call() {
    let mut h = Harness::new();
    let (invite, p) = late_offer_in_183(&mut h);
    h.pbx_sends(&pbx_prack(
        &p,
        "prack-1",
        32,
        &format!("{} 31 INVITE", rseq(&p)),
    ));
    let sent = h.take();
    let to_pbx: Vec<_> = sent
        .iter()
        .filter(|s| s.flow.id.0 == PBX_FLOW)
        .map(|s| (s.code(), s.header("CSeq").unwrap_or_default()))
        .collect();
    assert_eq!(
        to_pbx,
        [
            (Some(488), "32 PRACK".to_owned()),
            (Some(488), "31 INVITE".to_owned())
        ]
    );
    let to_trunk: Vec<_> = sent
        .iter()
        .filter(|s| s.flow.id.0 == TRUNK_FLOW)
        .map(|s| s.method())
        .collect();
    assert_eq!(to_trunk, [Some("CANCEL".to_owned())], "{sent:#?}");
    assert!(h.events.contains(&B2buaEvent::CallEnded {
        call: started_call(&h),
        status: 488
    }));
    let cancel = first_to(&sent, TRUNK_FLOW);
    trunk_cancelled(&mut h, &cancel, &invite);
    h.pbx_sends(&pbx_ack(&sent[1], "inv-1", ""));
    assert_nothing_left(&mut h);
}

#[test]
fn an_update_with_an_offer_is_refused_while_the_late_offer_is_unanswered() {
    let mut h = Harness::new();
    let (invite, p) = late_offer_in_183(&mut h);
    h.pbx_sends(&pbx_update(&p, false, 32, &pbx_sdp(1, "sendrecv")));
    let sent = h.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].code(), Some(491), "the caller holds our offer");
    h.trunk_sends(&in_dialog_request(
        "UPDATE",
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-upd-1",
        &invite.text(),
        true,
        "prov-tag-9",
        2,
        &provider_sdp(),
    ));
    let sent = h.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].code(), Some(500), "the callee awaits our answer");
    assert!(sent[0].header("Retry-After").is_some());
    // The exchange goes on.
    h.pbx_sends(&pbx_answers(&p, 33));
    assert!(
        h.take_to(TRUNK_FLOW)
            .iter()
            .any(|s| s.method().as_deref() == Some("PRACK") && !s.body().is_empty())
    );
}

#[test]
fn a_callee_answering_before_our_prack_is_held_until_the_callers_answer() {
    let mut h = Harness::new();
    let (invite, p) = late_offer_in_183(&mut h);
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", &provider_sdp()));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.flow.id.0 != PBX_FLOW),
        "no 2xx before the PRACK: {sent:#?}"
    );
    h.pbx_sends(&pbx_answers(&p, 32));
    let sent = h.take();
    let to_pbx: Vec<_> = sent
        .iter()
        .filter(|s| s.flow.id.0 == PBX_FLOW)
        .map(|s| (s.code(), s.header("CSeq").unwrap_or_default(), s.body()))
        .collect();
    assert_eq!(
        to_pbx,
        [
            (Some(200), "32 PRACK".to_owned(), String::new()),
            (Some(200), "31 INVITE".to_owned(), String::new())
        ]
    );
    let prack = sent
        .iter()
        .find(|s| s.method().as_deref() == Some("PRACK"))
        .expect("PRACK with the answer to the trunk");
    assert!(prack.body().contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")));
}

#[test]
fn a_late_offer_queued_behind_a_ringing_goes_after_its_prack() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, false);
    h.trunk_sends(&trunk_reliable(&invite, 180, 1, ""));
    let sent = h.take();
    let prack1 = first_to(&sent, TRUNK_FLOW);
    assert_eq!(prack1.header("RAck").as_deref(), Some("1 1 INVITE"));
    assert!(prack1.body().is_empty());
    let ringing = provisionals(&sent, PBX_FLOW).remove(0);
    h.trunk_sends(&trunk_reliable(&invite, 183, 2, &provider_sdp()));
    let sent = h.take();
    assert!(
        provisionals(&sent, PBX_FLOW).is_empty(),
        "queued: {sent:#?}"
    );
    assert!(sent.iter().all(|s| s.flow.id.0 != TRUNK_FLOW));
    h.pbx_sends(&pbx_prack(
        &ringing,
        "prack-1",
        32,
        &format!("{} 31 INVITE", rseq(&ringing)),
    ));
    let p = provisionals(&h.take(), PBX_FLOW).remove(0);
    assert!(p.body().contains(&format!("c=IN IP4 {LAN_MEDIA}")));
    h.pbx_sends(&pbx_answers(&p, 33));
    let prack2 = method_to(&h.take(), TRUNK_FLOW, "PRACK");
    assert_eq!(prack2.header("RAck").as_deref(), Some("2 1 INVITE"));
    assert!(prack2.body().contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")));
}

#[test]
fn an_unsent_late_offer_falls_back_to_the_offer_in_the_2xx() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, false);
    h.trunk_sends(&trunk_reliable(&invite, 180, 1, ""));
    h.trunk_sends(&trunk_reliable(&invite, 183, 2, &provider_sdp()));
    h.take();
    // The callee answers without waiting for our PRACK of its 183 (RFC 3262 §3 says it
    // must): the 183 never reached the caller, whose 2xx gets the offer instead.
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", &provider_sdp()));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.method().as_deref() != Some("ACK")),
        "the ACK waits for the caller's answer: {sent:#?}"
    );
    let ok = code_to(&sent, PBX_FLOW, 200);
    assert!(ok.body().contains(&format!("c=IN IP4 {LAN_MEDIA}")));
    h.pbx_sends(&pbx_ack(&ok, "ack-1", &pbx_sdp(1, "sendrecv")));
    let ack = h.take_to(TRUNK_FLOW).remove(0);
    assert_eq!(ack.method().as_deref(), Some("ACK"));
    assert!(ack.body().contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")));
}

#[test]
fn another_fork_is_ignored_while_the_late_offer_awaits_its_answer() {
    let mut h = Harness::new();
    let (invite, p) = late_offer_in_183(&mut h);
    let fork2 =
        trunk_reliable(&invite, 183, 1, &provider_sdp()).replace("prov-tag-9", "prov-tag-fork2");
    h.trunk_sends(&fork2);
    h.trunk_sends(&trunk_reliable(&invite, 180, 2, "").replace("prov-tag-9", "prov-tag-fork2"));
    assert!(h.take().is_empty(), "neither PRACKed nor relayed");
    h.pbx_sends(&pbx_answers(&p, 32));
    let prack = method_to(&h.take(), TRUNK_FLOW, "PRACK");
    assert!(
        prack.header("To").unwrap().ends_with(";tag=prov-tag-9"),
        "the answer goes to the fork that offered: {}",
        prack.text()
    );
    assert_eq!(prack.header("RAck").as_deref(), Some("1 1 INVITE"));
    assert_eq!(
        prack.header("Route").as_deref(),
        Some("<sip:core-sbc-3.provider.internal;lr>")
    );
}

#[test]
fn inbound_the_pbxs_reliable_offer_reaches_the_provider_and_its_prack_answer_the_pbx() {
    let mut h = Harness::new();
    let with_sdp = trunk_invite_requiring_100rel();
    let head = with_sdp
        .split("Content-Type: application/sdp")
        .next()
        .expect("INVITE head");
    h.trunk_sends(&format!("{head}Content-Length: 0\r\n\r\n"));
    let invite = method_to(&h.take(), PBX_FLOW, "INVITE");
    assert!(invite.body().is_empty());
    assert!(
        invite
            .header("Supported")
            .unwrap_or_default()
            .contains("100rel")
    );
    h.pbx_sends(
        &pbx_response(&invite.request(), 183, &pbx_sdp(1, "sendrecv")).replacen(
            "Content-Type",
            "Require: 100rel\r\nRSeq: 9\r\nContent-Type",
            1,
        ),
    );
    let p = only_to(&h.take(), TRUNK_FLOW);
    assert!(
        p.body().contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")),
        "{}",
        p.text()
    );
    let rack = format!("{} 4711 INVITE", rseq(&p));
    h.trunk_sends(&prack_with(
        Side::trunk(0),
        &p,
        "prack-1",
        4712,
        &rack,
        &provider_sdp(),
    ));
    let sent = h.take();
    assert_eq!(
        code_to(&sent, TRUNK_FLOW, 200).header("CSeq").as_deref(),
        Some("4712 PRACK")
    );
    let prack = method_to(&sent, PBX_FLOW, "PRACK");
    assert_eq!(prack.header("RAck").as_deref(), Some("9 1 INVITE"));
    assert!(
        prack.body().contains(&format!("c=IN IP4 {LAN_MEDIA}")),
        "{}",
        prack.text()
    );
    assert_eq!(h.last_media_port(Side::trunk(0)), Some(31000));
    assert_no_leaks(&h);
}
