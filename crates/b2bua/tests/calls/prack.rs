//! Reliable provisionals (RFC 3262), terminated per leg: the callee's are PRACKed on its
//! leg; towards the caller they go unreliably, or reliably (our RSeq, retransmitted until
//! the caller's PRACK, which we answer) when the caller requires 100rel.

// Setup helpers (not #[test] fns) may expect: a panic there is a failed test.
#![allow(clippy::expect_used)]

use std::time::Duration;

use drawbridge_b2bua::{B2buaEvent, Side};

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
    let reliable_183 = trunk_reliable(&invite, 183, 7, &provider_sdp());
    h.trunk_sends(&reliable_183);
    let sent = h.take();
    let prack = first_to(&sent, TRUNK_FLOW);
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
    let to_pbx = first_to(&sent, PBX_FLOW);
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
    let ack = first_to(&sent, TRUNK_FLOW);
    assert_eq!(ack.method().as_deref(), Some("ACK"));
    assert_eq!(ack.header("CSeq").as_deref(), Some("1 ACK"));
    let ok = first_to(&sent, PBX_FLOW);
    assert_eq!(ok.code(), Some(200));
    assert_eq!(ok.body(), early_sdp);
    assert_no_leaks(&h);
}

#[test]
fn a_second_reliable_provisional_gets_its_own_prack() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(true));
    let invite = h.take_to(TRUNK_FLOW).remove(0);
    h.trunk_sends(&trunk_reliable(&invite, 180, 1, ""));
    let first: Vec<_> = h
        .take_to(TRUNK_FLOW)
        .into_iter()
        .filter_map(|s| s.header("RAck"))
        .collect();
    h.trunk_sends(&trunk_reliable(&invite, 183, 2, &provider_sdp()));
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
    let invite = method_to(&h.take(), PBX_FLOW, "INVITE");
    assert!(supported(&invite).contains("100rel"));
    let r = pbx_response(&invite.request(), 180, "").replacen(
        "Content-Length: 0",
        "Require: 100rel\r\nRSeq: 4711\r\nContent-Length: 0",
        1,
    );
    h.pbx_sends(&r);
    let sent = h.take();
    let prack = first_to(&sent, PBX_FLOW);
    assert_eq!(prack.method().as_deref(), Some("PRACK"));
    assert_eq!(prack.header("RAck").as_deref(), Some("4711 1 INVITE"));
    assert_eq!(prack.request().uri.to_string(), "sip:4930@198.19.5.5:5060");
    let ringing = code_to(&sent, TRUNK_FLOW, 180);
    assert_eq!(ringing.header("RSeq"), None);
    assert_no_leaks(&h);
}

#[test]
fn a_challenged_prack_is_retried_in_the_dialogs_cseq_space() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(true));
    let invite = h.take_to(TRUNK_FLOW).remove(0);
    h.trunk_sends(&trunk_reliable(&invite, 183, 1, &provider_sdp()));
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
    let ok = code_to(&h.take(), PBX_FLOW, 200);
    h.pbx_sends(&pbx_ack(&ok, "ack-1", ""));
    // The PBX hangs up: the BYE on the trunk leg comes after the retried PRACK's CSeq.
    h.pbx_sends(&pbx_bye(&ok, 32));
    let bye = method_to(&h.take(), TRUNK_FLOW, "BYE");
    assert_eq!(bye.header("CSeq").as_deref(), Some("4 BYE"));
}

// ---- a caller that requires 100rel: our reliable provisionals towards it -------------

/// The provider's INVITE (TLS) with `Require: 100rel`.
pub(crate) fn trunk_invite_requiring_100rel() -> String {
    trunk_invite().replacen(
        "Supported: 100rel, timer, replaces\r\n",
        "Supported: timer, replaces\r\nRequire: 100rel\r\n",
        1,
    )
}

/// The PBX's INVITE (UDP) with `Require: 100rel`.
pub(crate) fn pbx_invite_requiring_100rel(offer: bool) -> String {
    pbx_invite(offer).replacen(
        "Supported: replaces, timer\r\n",
        "Supported: replaces, timer, 100rel\r\nRequire: 100rel\r\n",
        1,
    )
}

/// The trunk's reliable provisional `code` (RSeq `n`) to `invite`, with `sdp`.
pub(crate) fn trunk_reliable(invite: &Sent, code: u16, n: u32, sdp: &str) -> String {
    trunk_response(
        &invite.request(),
        code,
        &format!("Require: 100rel\r\nRSeq: {n}\r\n"),
        sdp,
    )
}

/// The PBX's ACK (CSeq 31, branch `branch`) for `resp`, a final response to its INVITE.
pub(crate) fn pbx_ack(resp: &Sent, branch: &str, sdp: &str) -> String {
    let via = format!("SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-{branch}");
    ack_for(&resp.text(), &via, 31, sdp)
}

/// The PBX's BYE (CSeq `cseq`) for the outbound call `ok` answered.
pub(crate) fn pbx_bye(ok: &Sent, cseq: u32) -> String {
    in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-1",
        &ok.text(),
        false,
        "",
        cseq,
        "",
    )
}

/// The trunk completes our CANCEL of `invite`: 200 to the CANCEL, 487 to the INVITE.
pub(crate) fn trunk_cancelled(h: &mut Harness, cancel: &Sent, invite: &Sent) {
    h.trunk_sends(&trunk_response(&cancel.request(), 200, "", ""));
    h.trunk_sends(&trunk_response(&invite.request(), 487, "", ""));
}

/// The RSeq of a reliable provisional we sent, checking it is one.
pub(crate) fn rseq(s: &Sent) -> u32 {
    assert!(
        s.header("Require").unwrap_or_default().contains("100rel"),
        "not reliable: {}",
        s.text()
    );
    s.header("RSeq")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no RSeq: {}", s.text()))
}

/// A PRACK from the PBX for `prov` (a provisional we sent it), with RAck `rack`.
pub(crate) fn pbx_prack(prov: &Sent, branch: &str, cseq: u32, rack: &str) -> String {
    prack_with(Side::Pbx, prov, branch, cseq, rack, "")
}

/// A PRACK from the provider for `prov`, with RAck `rack`.
pub(crate) fn trunk_prack(prov: &Sent, branch: &str, cseq: u32, rack: &str) -> String {
    prack_with(Side::trunk(0), prov, branch, cseq, rack, "")
}

/// A PRACK from `from` (the PBX or the provider) for `prov`, with RAck `rack`, carrying
/// `sdp` (an answer, or an offer).
pub(crate) fn prack_with(
    from: Side,
    prov: &Sent,
    branch: &str,
    cseq: u32,
    rack: &str,
    sdp: &str,
) -> String {
    let via = if from.is_pbx() {
        format!("SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-{branch}\r\nRAck: {rack}")
    } else {
        format!("SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-{branch}\r\nRAck: {rack}")
    };
    in_dialog_request("PRACK", &via, &prov.text(), false, "", cseq, sdp)
}

/// Outbound call from a PBX requiring 100rel, up to the INVITE on the trunk.
pub(crate) fn start_outbound_reliable(h: &mut Harness, offer: bool) -> Sent {
    h.pbx_sends(&pbx_invite_requiring_100rel(offer));
    let sent = h.take();
    assert_eq!(sent[0].code(), Some(100), "not refused: {}", sent[0].text());
    let invite = sent
        .into_iter()
        .find(|s| s.flow.id.0 == TRUNK_FLOW)
        .expect("INVITE to the trunk");
    assert!(
        !invite
            .header("Require")
            .unwrap_or_default()
            .contains("100rel"),
        "the caller's 100rel is terminated here, not relayed"
    );
    invite
}

pub(crate) fn provisionals(sent: &[Sent], flow: u64) -> Vec<Sent> {
    sent.iter()
        .filter(|s| s.flow.id.0 == flow && s.code().is_some_and(|c| (101..200).contains(&c)))
        .cloned()
        .collect()
}

/// The handle of the harness's first call.
pub(crate) fn started_call(h: &Harness) -> drawbridge_b2bua::CallHandle {
    let Some(B2buaEvent::CallStarted { call, .. }) = h.events.first() else {
        panic!("no call started: {:?}", h.events)
    };
    *call
}

/// Nothing of the call is left in the core: no call, dialog, transaction or deadline.
pub(crate) fn assert_nothing_left(h: &mut Harness) {
    assert_eq!(h.b2bua.calls_active(), 0);
    assert_eq!(h.b2bua.dialogs(), 0);
    // Completed server and client transactions go with their timers (D, J, K at most
    // 64*T1 on UDP).
    h.advance(Duration::from_secs(64));
    assert_eq!(h.b2bua.transactions(), 0);
    assert_eq!(h.b2bua.poll_timeout(), None, "a deadline outlived the call");
}

#[test]
fn inbound_caller_requiring_100rel_gets_reliable_provisionals_and_a_held_2xx() {
    let mut h = Harness::new();
    h.trunk_sends(&trunk_invite_requiring_100rel());
    let sent = h.take();
    assert_eq!(sent[0].code(), Some(100), "accepted, not 420");
    let invite = first_to(&sent, PBX_FLOW);
    assert!(
        !invite
            .header("Require")
            .unwrap_or_default()
            .contains("100rel")
    );

    // An unreliable 180 from the PBX goes to the provider reliably.
    h.pbx_sends(&pbx_response(&invite.request(), 180, ""));
    let ringing = h.take_to(TRUNK_FLOW);
    assert_eq!(ringing.len(), 1, "{ringing:#?}");
    assert_eq!(ringing[0].code(), Some(180));
    let first = rseq(&ringing[0]);
    assert!(
        (1..=1 << 30).contains(&first),
        "RFC 3262 §7.1 range: {first}"
    );
    assert!(ringing[0].body().is_empty());

    // TLS: no retransmission while waiting for the PRACK.
    h.advance(Duration::from_secs(20));
    assert!(h.take_to(TRUNK_FLOW).is_empty(), "retransmitted over TLS");

    h.trunk_sends(&trunk_prack(
        &ringing[0],
        "prack-1",
        4712,
        &format!("{first} 4711 INVITE"),
    ));
    let sent = h.take();
    assert_eq!(sent.len(), 1, "the PRACK stays on the trunk leg: {sent:#?}");
    assert_eq!(sent[0].flow.id.0, TRUNK_FLOW);
    assert_eq!(sent[0].code(), Some(200));
    assert_eq!(sent[0].header("CSeq").as_deref(), Some("4712 PRACK"));

    // A 183 with SDP: the answer, in the next reliable provisional.
    h.pbx_sends(&pbx_response(
        &invite.request(),
        183,
        &pbx_sdp(1, "sendrecv"),
    ));
    let progress = h.take_to(TRUNK_FLOW);
    assert_eq!(progress.len(), 1);
    assert_eq!(rseq(&progress[0]), first + 1);
    let answer = progress[0].body();
    assert!(
        answer.contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")),
        "{answer}"
    );

    // The PBX answers before the provider PRACKed: the 200 waits (RFC 3262 §3).
    h.pbx_sends(&pbx_response(
        &invite.request(),
        200,
        &pbx_sdp(1, "sendrecv"),
    ));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.flow.id.0 == PBX_FLOW),
        "held: {sent:#?}"
    );
    assert!(sent.iter().any(|s| s.method().as_deref() == Some("ACK")));

    h.trunk_sends(&trunk_prack(
        &progress[0],
        "prack-2",
        4713,
        &format!("{} 4711 INVITE", first + 1),
    ));
    let sent = h.take_to(TRUNK_FLOW);
    let codes: Vec<_> = sent
        .iter()
        .map(|s| (s.code(), s.header("CSeq").unwrap_or_default()))
        .collect();
    assert_eq!(
        codes,
        [
            (Some(200), "4713 PRACK".to_owned()),
            (Some(200), "4711 INVITE".to_owned())
        ]
    );
    assert_eq!(
        sent[1].body(),
        answer,
        "the 2xx repeats the answer as it was"
    );
    assert_eq!(sent[1].header("RSeq"), None);

    h.trunk_sends(&ack_for(
        &sent[1].text(),
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-ack-1",
        4711,
        "",
    ));
    // The ACK (CSeq 4711, below the PRACKs') matched: no hang-up at 64*T1.
    h.advance(Duration::from_secs(40));
    assert!(h.take().is_empty());
    assert_eq!(h.b2bua.calls_active(), 1);
    h.pbx_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-1",
        &invite.text(),
        true,
        "pbx-tag-1",
        102,
        "",
    ));
    let bye = method_to(&h.take(), TRUNK_FLOW, "BYE");
    h.trunk_sends(&trunk_response(&bye.request(), 200, "", ""));
    assert!(
        !h.all_bytes_to(PBX_FLOW).contains("PRACK"),
        "nothing of the provider's PRACKs reached the PBX"
    );
    assert_no_leaks(&h);
    assert_nothing_left(&mut h);
}

#[test]
fn outbound_reliable_provisionals_are_retransmitted_at_t1_doubling_on_udp() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, true);
    let t0 = h.take().len(); // nothing pending
    assert_eq!(t0, 0);
    let base = (h.now - h.start).as_millis() as u64;
    h.trunk_sends(&trunk_response(&invite.request(), 183, "", &provider_sdp()));
    let first = h.take_to(PBX_FLOW);
    assert_eq!(first.len(), 1);
    let n = rseq(&first[0]);
    assert!(first[0].body().contains(&format!("c=IN IP4 {LAN_MEDIA}")));
    h.advance(Duration::from_millis(8000));
    let again = h.take_to(PBX_FLOW);
    let at: Vec<_> = again.iter().map(|s| s.at_ms - base).collect();
    assert_eq!(at, [500, 1500, 3500, 7500], "T1, 2T1, 4T1, 8T1");
    assert!(
        again.iter().all(|s| s.bytes == first[0].bytes),
        "same bytes"
    );

    h.pbx_sends(&pbx_prack(
        &first[0],
        "prack-1",
        32,
        &format!("{n} 31 INVITE"),
    ));
    let sent = h.take();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(
        (sent[0].flow.id.0, sent[0].code()),
        (PBX_FLOW, Some(200)),
        "answered locally, nothing to the trunk"
    );
    h.advance(Duration::from_secs(30));
    assert!(provisionals(&h.take(), PBX_FLOW).is_empty(), "stopped");
}

#[test]
fn no_prack_in_64_t1_fails_the_call_and_leaves_nothing_behind() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, true);
    h.trunk_sends(&trunk_response(&invite.request(), 180, "", ""));
    assert_eq!(provisionals(&h.take(), PBX_FLOW).len(), 1);
    h.advance(Duration::from_millis(31_999));
    let sent = h.take();
    // Retransmitted at 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s.
    assert_eq!(provisionals(&sent, PBX_FLOW).len(), 6, "{sent:#?}");
    assert!(sent.iter().all(|s| s.code() != Some(500)));
    h.advance(Duration::from_millis(1));
    let sent = h.take();
    let failed = sent
        .iter()
        .find(|s| s.flow.id.0 == PBX_FLOW && s.code().is_some_and(|c| c >= 200))
        .expect("final response to the PBX");
    assert_eq!(failed.code(), Some(500), "a 5xx (RFC 3262 §3)");
    let cancel = first_to(&sent, TRUNK_FLOW);
    assert_eq!(cancel.method().as_deref(), Some("CANCEL"));
    assert!(h.events.contains(&B2buaEvent::CallEnded {
        call: started_call(&h),
        status: 500
    }));
    trunk_cancelled(&mut h, &cancel, &invite);
    h.pbx_sends(&pbx_ack(failed, "inv-1", ""));
    assert_eq!(h.media.lock().unwrap().released.len(), 1);
    assert_nothing_left(&mut h);
}

#[test]
fn an_answer_held_for_a_prack_that_never_comes_is_hung_up() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, true);
    h.trunk_sends(&trunk_response(&invite.request(), 183, "", &provider_sdp()));
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", &provider_sdp()));
    let sent = h.take();
    assert!(provisionals(&sent, PBX_FLOW).len() == 1);
    assert!(
        sent.iter()
            .all(|s| !(s.flow.id.0 == PBX_FLOW && s.code() == Some(200))),
        "no 2xx before the PRACK"
    );
    h.advance(Duration::from_secs(32));
    let sent = h.take();
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == PBX_FLOW && s.code() == Some(500)),
        "{sent:#?}"
    );
    let bye = method_to(&sent, TRUNK_FLOW, "BYE");
    h.trunk_sends(&trunk_response(&bye.request(), 200, "", ""));
    assert_nothing_left(&mut h);
}

#[test]
fn a_prack_from_another_source_is_ignored() {
    let mut h = Harness::new();
    h.trunk_sends(&trunk_invite_requiring_100rel());
    let invite = h.take_to(PBX_FLOW).remove(0);
    h.pbx_sends(&pbx_response(&invite.request(), 180, ""));
    let ringing = h.take_to(TRUNK_FLOW).remove(0);
    let rack = format!("{} 4711 INVITE", rseq(&ringing));
    let forged_before = h.b2bua.counters().forged_in_dialog;
    h.deliver(
        &trunk_prack(&ringing, "forged-1", 4712, &rack),
        rogue_flow(),
        Side::trunk(0),
    );
    let sent = h.take();
    assert!(
        sent.iter()
            .all(|s| s.flow.id.0 == 99 && s.code() == Some(481)),
        "{sent:#?}"
    );
    assert_eq!(h.b2bua.counters().forged_in_dialog, forged_before + 1);
    // The real one still matches: the forged one acknowledged nothing.
    h.trunk_sends(&trunk_prack(&ringing, "prack-1", 4712, &rack));
    let sent = h.take_to(TRUNK_FLOW);
    assert_eq!(sent[0].code(), Some(200), "{}", sent[0].text());
}

#[test]
fn a_prack_with_an_unknown_rack_gets_481_and_retransmissions_go_on() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, true);
    h.trunk_sends(&trunk_response(&invite.request(), 180, "", ""));
    let ringing = provisionals(&h.take(), PBX_FLOW).remove(0);
    let n = rseq(&ringing);
    for (i, rack) in [
        format!("{} 31 INVITE", n + 1),
        format!("{n} 30 INVITE"),
        format!("{n} 31 UPDATE"),
        "garbage".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        let cseq = 32 + i as u32;
        h.pbx_sends(&pbx_prack(&ringing, &format!("bad-{i}"), cseq, rack));
        let sent = h.take();
        assert_eq!(sent.len(), 1, "{rack}: {sent:#?}");
        assert_eq!(sent[0].code(), Some(481), "{rack}");
    }
    h.advance(Duration::from_millis(500));
    assert_eq!(provisionals(&h.take(), PBX_FLOW).len(), 1, "still chased");
    h.pbx_sends(&pbx_prack(&ringing, "good", 40, &format!("{n} 31 INVITE")));
    assert_eq!(h.take()[0].code(), Some(200));
    // The same RSeq again (a new transaction, not a retransmission): nothing pending.
    h.pbx_sends(&pbx_prack(&ringing, "late", 41, &format!("{n} 31 INVITE")));
    assert_eq!(h.take()[0].code(), Some(481));
}

#[test]
fn two_provisionals_in_a_row_are_queued_until_the_first_is_pracked() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, true);
    h.trunk_sends(&trunk_response(&invite.request(), 180, "", ""));
    h.trunk_sends(&trunk_response(&invite.request(), 183, "", &provider_sdp()));
    let sent = provisionals(&h.take(), PBX_FLOW);
    assert_eq!(sent.len(), 1, "one unacknowledged at a time: {sent:#?}");
    assert_eq!(sent[0].code(), Some(180));
    let n = rseq(&sent[0]);
    h.pbx_sends(&pbx_prack(
        &sent[0],
        "prack-1",
        32,
        &format!("{n} 31 INVITE"),
    ));
    let sent = h.take_to(PBX_FLOW);
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[0].code(), Some(200));
    assert_eq!(sent[1].code(), Some(183));
    assert_eq!(rseq(&sent[1]), n + 1);
    assert!(sent[1].body().contains(&format!("c=IN IP4 {LAN_MEDIA}")));
    // A 2xx after the PRACK of the 183 goes at once, with the same answer.
    h.pbx_sends(&pbx_prack(
        &sent[1],
        "prack-2",
        33,
        &format!("{} 31 INVITE", n + 1),
    ));
    assert_eq!(h.take()[0].code(), Some(200));
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", &provider_sdp()));
    let ok = code_to(&h.take(), PBX_FLOW, 200);
    assert_eq!(ok.body(), sent[1].body());
    // UDP: the 2xx is retransmitted until the ACK, whose CSeq is the INVITE's.
    h.advance(Duration::from_millis(500));
    assert_eq!(h.take_to(PBX_FLOW).len(), 1, "2xx retransmitted");
    h.pbx_sends(&pbx_ack(&ok, "ack-1", ""));
    h.advance(Duration::from_secs(40));
    assert!(h.take().is_empty(), "no retransmission, no BYE");
    assert_eq!(h.b2bua.calls_active(), 1);
}

#[test]
fn hanging_up_while_the_answer_waits_for_a_prack_ends_both_legs() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, true);
    h.trunk_sends(&trunk_response(&invite.request(), 183, "", &provider_sdp()));
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", &provider_sdp()));
    h.take();
    let call = started_call(&h);
    assert!(h.hang_up(call));
    let sent = h.take();
    let codes: Vec<_> = sent
        .iter()
        .map(|s| (s.flow.id.0, s.code(), s.method()))
        .collect();
    assert_eq!(
        codes,
        [
            (PBX_FLOW, Some(480), None),
            (TRUNK_FLOW, None, Some("BYE".to_owned()))
        ]
    );
    h.trunk_sends(&trunk_response(&sent[1].request(), 200, "", ""));
    h.pbx_sends(&pbx_ack(&sent[0], "inv-1", ""));
    assert_nothing_left(&mut h);
}

#[test]
fn a_2xx_while_the_answer_is_still_queued_carries_it_and_goes_at_once() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, true);
    h.trunk_sends(&trunk_response(&invite.request(), 180, "", ""));
    h.trunk_sends(&trunk_response(&invite.request(), 183, "", &provider_sdp()));
    assert_eq!(provisionals(&h.take(), PBX_FLOW).len(), 1, "the 183 waits");
    // The pending 180 has no SDP: the 2xx need not wait (RFC 3262 §3), and the 183 that
    // never went out is dropped; its answer is in the 2xx.
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", &provider_sdp()));
    let sent = h.take_to(PBX_FLOW);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].code(), Some(200));
    assert!(sent[0].body().contains(&format!("c=IN IP4 {LAN_MEDIA}")));
    h.pbx_sends(&pbx_ack(&sent[0], "ack-1", ""));
    h.advance(Duration::from_secs(40));
    assert!(
        h.take_to(PBX_FLOW).is_empty(),
        "neither the 180 nor the 183"
    );
}

#[test]
fn a_full_queue_drops_provisionals_without_sdp() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, true);
    for _ in 0..8 {
        h.trunk_sends(&trunk_response(&invite.request(), 180, "", ""));
    }
    h.trunk_sends(&trunk_response(&invite.request(), 183, "", &provider_sdp()));
    let mut prov = provisionals(&h.take(), PBX_FLOW);
    let mut got = Vec::new();
    for i in 0..10 {
        let Some(p) = prov.pop() else { break };
        got.push((p.code(), !p.body().is_empty()));
        let rack = format!("{} 31 INVITE", rseq(&p));
        h.pbx_sends(&pbx_prack(&p, &format!("p{i}"), 32 + i, &rack));
        prov = provisionals(&h.take(), PBX_FLOW);
    }
    // One sent, four queued; the 183's SDP replaced the newest queued 180.
    assert_eq!(
        got,
        [
            (Some(180), false),
            (Some(180), false),
            (Some(180), false),
            (Some(180), false),
            (Some(183), true)
        ]
    );
}

#[test]
fn cancel_while_a_reliable_provisional_is_pending_stops_its_retransmissions() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, true);
    h.trunk_sends(&trunk_response(&invite.request(), 180, "", ""));
    assert_eq!(provisionals(&h.take(), PBX_FLOW).len(), 1);
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
    let sent = h.take();
    let to_pbx: Vec<_> = sent
        .iter()
        .filter(|s| s.flow.id.0 == PBX_FLOW)
        .map(|s| s.code())
        .collect();
    assert_eq!(to_pbx, [Some(200), Some(487)]);
    let cancel = first_to(&sent, TRUNK_FLOW);
    h.advance(Duration::from_secs(5));
    assert!(provisionals(&h.take(), PBX_FLOW).is_empty(), "no more 180s");
    trunk_cancelled(&mut h, &cancel, &invite);
    h.pbx_sends(&pbx_ack(&sent[1], "inv-1", ""));
    assert_nothing_left(&mut h);
}

#[test]
fn late_offer_reliable_provisionals_carry_no_sdp_and_the_2xx_the_offer() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, false);
    h.trunk_sends(&trunk_response(&invite.request(), 183, "", &provider_sdp()));
    let p = provisionals(&h.take(), PBX_FLOW).remove(0);
    assert_eq!(p.code(), Some(183));
    assert!(
        p.body().is_empty(),
        "an offer in a reliable 183: {}",
        p.text()
    );
    // Not PRACKed yet, but it has no SDP: the 2xx (with the offer) need not wait.
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", &provider_sdp()));
    let ok = code_to(&h.take(), PBX_FLOW, 200);
    assert!(ok.body().contains(&format!("c=IN IP4 {LAN_MEDIA}")));
    // The provisional is no longer chased once the final went out.
    h.advance(Duration::from_secs(40));
    assert!(provisionals(&h.take(), PBX_FLOW).is_empty());
}

#[test]
fn other_required_extensions_still_get_420() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(true).replacen(
        "Supported: replaces, timer\r\n",
        "Require: 100rel, foo\r\n",
        1,
    ));
    let sent = h.take();
    let refused = sent
        .iter()
        .find(|s| s.code() == Some(420))
        .expect("420 to the PBX");
    assert_eq!(refused.header("Unsupported").as_deref(), Some("foo"));
    assert_eq!(h.b2bua.calls_active(), 0);
}

#[test]
fn an_offer_in_a_prack_is_refused_but_the_provisional_is_acknowledged() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, true);
    h.trunk_sends(&trunk_response(&invite.request(), 183, "", &provider_sdp()));
    let p = provisionals(&h.take(), PBX_FLOW).remove(0);
    let rack = format!("{} 31 INVITE", rseq(&p));
    h.pbx_sends(&prack_with(
        Side::Pbx,
        &p,
        "prack-sdp",
        32,
        &rack,
        &pbx_sdp(2, "sendrecv"),
    ));
    let sent = h.take();
    assert_eq!(sent.len(), 1, "nothing to the trunk: {sent:#?}");
    assert_eq!(sent[0].code(), Some(488));
    h.advance(Duration::from_secs(5));
    assert!(provisionals(&h.take(), PBX_FLOW).is_empty(), "acknowledged");
}
