//! The guard on a relayed re-INVITE (Timer C, RFC 3261 §16.6 step 11 / §16.8): a far end
//! that answers a re-INVITE only with provisionals no longer blocks the call's later
//! re-INVITEs (491) for ever, and the requester gets a final response.

#![allow(clippy::unwrap_used)] // helpers: a panic there is a failed test

use std::time::Duration;

use drawbridge_b2bua::B2buaEvent;

use crate::harness::*;
use crate::inbound::answered_inbound;

const GUARD: Duration = Duration::from_secs(180);

/// The trunk's re-INVITE number `cseq` (branch made from it) in the dialog of `ok`.
fn trunk_reinvite(ok: &Sent, cseq: u32) -> String {
    in_dialog_request(
        "INVITE",
        &format!("SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-reinv-{cseq}"),
        &ok.text(),
        false,
        "",
        cseq,
        &provider_sdp().replace("o=ProvMG 998877 1", &format!("o=ProvMG 998877 {cseq}")),
    )
}

/// An answered inbound call whose re-INVITE from the trunk the PBX answered only with
/// 180. Returns (200 to the trunk's INVITE, the re-INVITE relayed to the PBX).
fn stalled_reinvite(h: &mut Harness) -> (Sent, Sent) {
    let (_, ok) = answered_inbound(h);
    h.take();
    h.trunk_sends(&trunk_reinvite(&ok, 4712));
    let reinvite = method_to(&h.take(), PBX_FLOW, "INVITE");
    h.pbx_sends(&pbx_response(&reinvite.request(), 180, ""));
    assert!(
        h.take().is_empty(),
        "a provisional to a re-INVITE is not relayed"
    );
    (ok, reinvite)
}

/// The final responses sent to the trunk.
fn finals(sent: &[Sent]) -> Vec<Sent> {
    sent.iter()
        .filter(|s| s.flow.id.0 == TRUNK_FLOW && s.code().is_some_and(|c| c >= 200))
        .cloned()
        .collect()
}

/// The trunk's re-INVITE `cseq` goes through: relayed to the PBX, 200 back, both ACKed.
fn reinvite_completes(h: &mut Harness, ok: &Sent, cseq: u32) {
    h.trunk_sends(&trunk_reinvite(ok, cseq));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.code() != Some(491)),
        "the re-INVITE slot is still taken: {sent:#?}"
    );
    let reinvite = method_to(&sent, PBX_FLOW, "INVITE");
    h.pbx_sends(&pbx_response(
        &reinvite.request(),
        200,
        &pbx_sdp(3, "sendrecv"),
    ));
    let sent = h.take();
    let ok2 = code_to(&sent, TRUNK_FLOW, 200);
    assert_eq!(
        ok2.header("CSeq").as_deref(),
        Some(format!("{cseq} INVITE").as_str())
    );
    method_to(&sent, PBX_FLOW, "ACK");
    h.trunk_sends(&ack_for(
        &ok2.text(),
        &format!("SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-ack-{cseq}"),
        cseq,
        "",
    ));
}

/// Nothing of the call is left: no call, dialog, transaction, deadline; media released.
fn assert_all_gone(h: &mut Harness) {
    assert_eq!(h.b2bua.calls_active(), 0, "the call is still there");
    assert_eq!(h.b2bua.dialogs(), 0);
    h.advance(Duration::from_secs(64));
    assert_eq!(h.b2bua.transactions(), 0, "a transaction is left");
    assert_eq!(h.b2bua.poll_timeout(), None, "a deadline outlived the call");
    assert_eq!(h.media.lock().unwrap().released.len(), 1, "media kept");
}

#[test]
fn a_reinvite_answered_only_with_180_is_cancelled_after_180_s_and_gets_487() {
    let mut h = Harness::new();
    let (_, reinvite) = stalled_reinvite(&mut h);
    h.advance(GUARD - Duration::from_secs(1));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.method().as_deref() != Some("CANCEL")) && finals(&sent).is_empty(),
        "nothing before the guard: {sent:#?}"
    );
    h.advance(Duration::from_secs(2));
    let sent = h.take();
    // RFC 3261 §9.1: the CANCEL names the relayed INVITE's transaction.
    let cancel = method_to(&sent, PBX_FLOW, "CANCEL");
    assert!(
        sent.iter()
            .filter(|s| s.flow.id.0 == PBX_FLOW)
            .all(|s| s.method().as_deref() == Some("CANCEL")),
        "only the CANCEL (and its retransmissions over UDP): {sent:#?}"
    );
    let r = reinvite.request();
    assert_eq!(cancel.request().uri, r.uri, "same Request-URI");
    assert_eq!(cancel.header("Via"), reinvite.header("Via"), "same branch");
    for h in ["Call-ID", "From", "To"] {
        assert_eq!(cancel.header(h), reinvite.header(h), "{h}");
    }
    let n = reinvite.header("CSeq").unwrap();
    let n = n.strip_suffix(" INVITE").unwrap();
    assert_eq!(cancel.header("CSeq"), Some(format!("{n} CANCEL")));
    // The trunk's re-INVITE gets its final: 487, not 408 (which would end the dialog,
    // RFC 3261 §12.2.1.2).
    let f = finals(&sent);
    assert_eq!(f.len(), 1, "{sent:#?}");
    assert_eq!(f[0].code(), Some(487));
    assert_eq!(f[0].header("CSeq").as_deref(), Some("4712 INVITE"));
    // The PBX honours the CANCEL: its 487 is ACKed by the transaction layer and not
    // relayed (the trunk has its answer).
    h.pbx_sends(&pbx_response(&cancel.request(), 200, ""));
    h.pbx_sends(&pbx_response(&r, 487, ""));
    let sent = h.take();
    let ack = only_to(&sent, PBX_FLOW);
    assert_eq!(ack.method().as_deref(), Some("ACK"));
    assert_eq!(ack.header("Via"), reinvite.header("Via"), "non-2xx ACK");
    assert!(
        sent.iter().all(|s| s.flow.id.0 != TRUNK_FLOW),
        "the late 487 is not relayed: {sent:#?}"
    );
    assert_eq!(
        h.b2bua.calls_active(),
        1,
        "a failed re-INVITE keeps the call"
    );
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, B2buaEvent::CallEnded { .. }))
    );
}

#[test]
fn after_the_guard_the_next_reinvite_is_relayed_and_completes() {
    let mut h = Harness::new();
    let (ok, _) = stalled_reinvite(&mut h);
    // Without the guard the slot stays taken: a re-INVITE now gets 491.
    h.trunk_sends(&trunk_reinvite(&ok, 4713));
    assert_eq!(finals(&h.take())[0].code(), Some(491));
    h.advance(GUARD);
    h.take();
    reinvite_completes(&mut h, &ok, 4714);
    // And the one after that (the slot is freed by the ACK as usual).
    reinvite_completes(&mut h, &ok, 4715);
    assert_eq!(h.b2bua.calls_active(), 1);
}

#[test]
fn the_call_stays_up_after_the_guard_and_a_bye_leaves_nothing() {
    let mut h = Harness::new();
    let (ok, reinvite) = stalled_reinvite(&mut h);
    h.advance(GUARD);
    let cancel = method_to(&h.take(), PBX_FLOW, "CANCEL");
    h.pbx_sends(&pbx_response(&cancel.request(), 200, ""));
    h.pbx_sends(&pbx_response(&reinvite.request(), 487, ""));
    reinvite_completes(&mut h, &ok, 4713);
    // Media still flows between the legs: a BYE from the PBX ends the call normally.
    h.take();
    h.pbx_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-1",
        &reinvite.text(),
        true,
        "pbx-tag-1",
        102,
        "",
    ));
    let sent = h.take();
    code_to(&sent, PBX_FLOW, 200);
    let bye = method_to(&sent, TRUNK_FLOW, "BYE");
    h.trunk_sends(&trunk_response(&bye.request(), 200, "", ""));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, B2buaEvent::CallEnded { status: 200, .. }))
    );
    assert_all_gone(&mut h);
}

#[test]
fn a_callee_that_ignores_the_cancel_too_is_given_up_and_nothing_is_left() {
    let mut h = Harness::new();
    let (ok, _) = stalled_reinvite(&mut h);
    h.advance(GUARD);
    method_to(&h.take(), PBX_FLOW, "CANCEL");
    let transactions = h.b2bua.transactions();
    // 64*T1 later the cancelled copy is abandoned (RFC 3261 §9.1).
    h.advance(Duration::from_secs(33));
    assert!(h.b2bua.transactions() < transactions);
    reinvite_completes(&mut h, &ok, 4713);
    h.trunk_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-bye-1",
        &ok.text(),
        false,
        "",
        4714,
        "",
    ));
    let bye = method_to(&h.take(), PBX_FLOW, "BYE");
    h.pbx_sends(&pbx_response(&bye.request(), 200, ""));
    assert_all_gone(&mut h);
}

#[test]
fn a_late_2xx_to_the_cancelled_reinvite_is_acked_and_ends_the_call() {
    let mut h = Harness::new();
    let (_, reinvite) = stalled_reinvite(&mut h);
    h.advance(GUARD);
    let sent = h.take();
    let cancel = method_to(&sent, PBX_FLOW, "CANCEL");
    assert_eq!(finals(&sent)[0].code(), Some(487));
    h.pbx_sends(&pbx_response(&cancel.request(), 200, ""));
    // The 2xx crossed the CANCEL: the PBX now runs the new session, the trunk (told
    // 487) the old one.
    let relays_before = h.media.lock().unwrap().relays.len();
    h.pbx_sends(&pbx_response(
        &reinvite.request(),
        200,
        &pbx_sdp(2, "recvonly"),
    ));
    let sent = h.take();
    let to_pbx: Vec<_> = sent.iter().filter(|s| s.flow.id.0 == PBX_FLOW).collect();
    assert_eq!(
        to_pbx.iter().map(|s| s.method()).collect::<Vec<_>>(),
        [Some("ACK".to_owned()), Some("BYE".to_owned())],
        "{sent:#?}"
    );
    // The 2xx's ACK: end to end, the INVITE's CSeq number, a new branch.
    let (ack, n) = (to_pbx[0], reinvite.header("CSeq").unwrap());
    assert_eq!(
        ack.header("CSeq"),
        Some(n.replace("INVITE", "ACK")),
        "{}",
        ack.text()
    );
    assert_ne!(ack.header("Via"), reinvite.header("Via"));
    assert_eq!(ack.header("Call-ID"), reinvite.header("Call-ID"));
    // Nothing of the 2xx reaches the trunk or the media anchor: the call is ended
    // visibly instead (BYE on both legs) rather than left with the two ends
    // disagreeing on the session.
    assert_eq!(h.media.lock().unwrap().relays.len(), relays_before);
    let to_trunk: Vec<_> = sent.iter().filter(|s| s.flow.id.0 == TRUNK_FLOW).collect();
    assert_eq!(to_trunk.len(), 1, "{to_trunk:#?}");
    assert_eq!(to_trunk[0].method().as_deref(), Some("BYE"));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, B2buaEvent::CallEnded { status: 200, .. }))
    );
    // A retransmission of the 2xx changes nothing.
    h.pbx_sends(&pbx_response(
        &reinvite.request(),
        200,
        &pbx_sdp(2, "recvonly"),
    ));
    let sent = h.take();
    assert!(sent.iter().all(|s| s.flow.id.0 != TRUNK_FLOW), "{sent:#?}");
    let bye_b = to_pbx[1].request();
    let bye_a = to_trunk[0].request();
    h.pbx_sends(&pbx_response(&bye_b, 200, ""));
    h.trunk_sends(&trunk_response(&bye_a, 200, "", ""));
    assert_all_gone(&mut h);
}

#[test]
fn a_reinvite_answered_in_time_leaves_no_guard_behind() {
    let mut h = Harness::new();
    let (_, ok) = answered_inbound(&mut h);
    h.take();
    h.trunk_sends(&trunk_reinvite(&ok, 4712));
    let reinvite = method_to(&h.take(), PBX_FLOW, "INVITE");
    h.pbx_sends(&pbx_response(&reinvite.request(), 180, ""));
    h.advance(Duration::from_secs(60));
    h.pbx_sends(&pbx_response(
        &reinvite.request(),
        200,
        &pbx_sdp(2, "sendrecv"),
    ));
    let ok2 = code_to(&h.take(), TRUNK_FLOW, 200);
    h.trunk_sends(&ack_for(
        &ok2.text(),
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-ack-4712",
        4712,
        "",
    ));
    // The transactions' own timers end within 64*T1; then nothing is due any more (the
    // guard's deadline, 120 s ahead, went with the final response).
    h.advance(Duration::from_secs(33));
    assert!(h.take().is_empty());
    assert_eq!(
        h.b2bua.poll_timeout(),
        None,
        "a deadline is left after the final response"
    );
    h.advance(GUARD * 2);
    let sent = h.take();
    assert!(sent.is_empty(), "{sent:#?}");
    assert_eq!(h.b2bua.poll_timeout(), None);
    assert_eq!(h.b2bua.calls_active(), 1);
    reinvite_completes(&mut h, &ok, 4713);
}

/// A relayed request whose transaction fails (no response at all: Timer B) gets 408;
/// the record of the request is gone with the answer, yet a retransmission of the
/// request is still absorbed (the server transaction repeats the 408, nothing is
/// relayed again).
#[test]
fn a_reinvite_without_any_response_gets_408_and_its_retransmission_is_absorbed() {
    let mut h = Harness::new();
    let (_, ok) = answered_inbound(&mut h);
    h.take();
    h.trunk_sends(&trunk_reinvite(&ok, 4712));
    method_to(&h.take(), PBX_FLOW, "INVITE");
    h.advance(Duration::from_secs(33));
    let sent = h.take();
    let f = finals(&sent);
    assert_eq!(f.len(), 1, "{sent:#?}");
    assert_eq!(f[0].code(), Some(408));
    h.trunk_sends(&trunk_reinvite(&ok, 4712));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.flow.id.0 != PBX_FLOW),
        "relayed again: {sent:#?}"
    );
    assert_eq!(finals(&sent).first().and_then(Sent::code), Some(408));
    // No guard is pending for the failed one (only the 408's Timer H, 64*T1).
    h.advance(Duration::from_secs(64));
    h.take();
    assert_eq!(
        h.b2bua.poll_timeout(),
        None,
        "a deadline outlived the failure"
    );
    // The slot is free.
    reinvite_completes(&mut h, &ok, 4713);
    assert_eq!(h.b2bua.calls_active(), 1);
}

/// Only the failure of the relayed re-INVITE frees the re-INVITE slot: an INFO relayed
/// meanwhile that times out must not let a second re-INVITE cross the pending one.
#[test]
fn a_failed_info_does_not_free_the_reinvite_slot() {
    let mut h = Harness::new();
    let (ok, _) = stalled_reinvite(&mut h);
    h.trunk_sends(&in_dialog_request(
        "INFO",
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-info-1",
        &ok.text(),
        false,
        "",
        4713,
        "",
    ));
    method_to(&h.take(), PBX_FLOW, "INFO");
    h.advance(Duration::from_secs(33));
    let sent = h.take();
    let f = finals(&sent);
    assert_eq!(f.len(), 1, "{sent:#?}");
    assert_eq!(f[0].header("CSeq").as_deref(), Some("4713 INFO"));
    assert_eq!(f[0].code(), Some(408));
    h.trunk_sends(&trunk_reinvite(&ok, 4714));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.flow.id.0 != PBX_FLOW),
        "crossed the pending re-INVITE: {sent:#?}"
    );
    assert_eq!(finals(&sent)[0].code(), Some(491));
}

/// A lone 100 is a provisional too (RFC 3261 §9.1): it allows the CANCEL.
#[test]
fn a_reinvite_answered_only_with_100_is_cancelled_too() {
    let mut h = Harness::new();
    let (_, ok) = answered_inbound(&mut h);
    h.take();
    h.trunk_sends(&trunk_reinvite(&ok, 4712));
    let reinvite = method_to(&h.take(), PBX_FLOW, "INVITE");
    h.pbx_sends(&pbx_response(&reinvite.request(), 100, ""));
    h.advance(GUARD);
    let sent = h.take();
    let cancel = method_to(&sent, PBX_FLOW, "CANCEL");
    assert_eq!(cancel.header("Via"), reinvite.header("Via"));
    assert_eq!(finals(&sent)[0].code(), Some(487));
}

/// With a T1 above 2.8 s, Timer B (64*T1) outlasts the guard: a re-INVITE with no
/// response at all is abandoned, not cancelled (no CANCEL before a provisional, RFC
/// 3261 §9.1), and the requester still gets its 487 at the guard.
#[test]
fn without_any_provisional_the_guard_abandons_the_reinvite_without_a_cancel() {
    let mut config = config();
    let mut timers = drawbridge_b2bua::Timers::default();
    timers
        .set_t1(Duration::from_secs(4))
        .set_t2(Duration::from_secs(8));
    config.transactions.set_timers(timers);
    let mut h = Harness::with_config(config);
    let (_, ok) = answered_inbound(&mut h);
    h.take();
    h.trunk_sends(&trunk_reinvite(&ok, 4712));
    method_to(&h.take(), PBX_FLOW, "INVITE");
    h.advance(GUARD - Duration::from_secs(1));
    let sent = h.take();
    assert!(finals(&sent).is_empty(), "{sent:#?}");
    assert!(
        sent.iter()
            .any(|s| s.flow.id.0 == PBX_FLOW && s.method().as_deref() == Some("INVITE")),
        "Timer A still retransmits"
    );
    h.advance(Duration::from_secs(1));
    let sent = h.take();
    assert_eq!(finals(&sent)[0].code(), Some(487));
    assert!(
        sent.iter().all(|s| s.flow.id.0 != PBX_FLOW),
        "no CANCEL without a provisional: {sent:#?}"
    );
    // Abandoned: no retransmission any more, nothing when Timer B would have fired.
    h.advance(Duration::from_secs(120));
    let sent = h.take();
    assert!(sent.iter().all(|s| s.flow.id.0 != PBX_FLOW), "{sent:#?}");
    reinvite_completes(&mut h, &ok, 4713);
    assert_eq!(h.b2bua.calls_active(), 1);
}

/// The call ends while the cancelled copy still waits for its final response: the
/// copy's give-up went with the call, so the end abandons it (nothing is left).
#[test]
fn a_call_ended_while_its_cancelled_reinvite_waits_leaves_nothing() {
    let mut h = Harness::new();
    let (ok, _) = stalled_reinvite(&mut h);
    h.advance(GUARD);
    method_to(&h.take(), PBX_FLOW, "CANCEL");
    h.trunk_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-bye-1",
        &ok.text(),
        false,
        "",
        4713,
        "",
    ));
    let sent = h.take();
    code_to(&sent, TRUNK_FLOW, 200);
    assert_eq!(
        finals(&sent).len(),
        1,
        "the re-INVITE had its 487 already: {sent:#?}"
    );
    let bye = method_to(&sent, PBX_FLOW, "BYE");
    h.pbx_sends(&pbx_response(&bye.request(), 200, ""));
    assert_all_gone(&mut h);
}

/// The CANCEL of `invite` (RFC 3261 §9.1: same Request-URI, top Via, Call-ID, From, To and
/// CSeq number), as its sender writes it.
fn cancel_of(invite: &str) -> String {
    let head = invite.split("\r\n\r\n").next().unwrap();
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap().replacen("INVITE ", "CANCEL ", 1);
    let mut out = format!("{start}\r\n");
    let mut via_seen = false;
    for l in lines {
        let name = l
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" if !via_seen => via_seen = true,
            "from" | "to" | "call-id" | "max-forwards" => {}
            "cseq" => {
                out.push_str(&l.replace("INVITE", "CANCEL"));
                out.push_str("\r\n");
                continue;
            }
            _ => continue,
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

#[test]
fn a_cancelled_reinvite_is_cancelled_towards_the_far_end_and_its_487_relayed() {
    let mut h = Harness::new();
    let (ok, reinvite) = stalled_reinvite(&mut h);
    h.trunk_sends(&cancel_of(&trunk_reinvite(&ok, 4712)));
    let sent = h.take();
    let to_trunk = code_to(&sent, TRUNK_FLOW, 200);
    assert_eq!(to_trunk.header("CSeq").as_deref(), Some("4712 CANCEL"));
    let cancel = method_to(&sent, PBX_FLOW, "CANCEL");
    assert_eq!(cancel.header("Via"), reinvite.header("Via"), "same branch");
    assert!(
        finals(&sent).iter().all(|s| s.code() == Some(200)),
        "{sent:#?}"
    );
    // The PBX's 487 is the answer the trunk gets, and the PBX gets its ACK.
    h.pbx_sends(&pbx_response(&cancel.request(), 200, ""));
    h.pbx_sends(&pbx_response(&reinvite.request(), 487, ""));
    let sent = h.take();
    let f = finals(&sent);
    assert_eq!(f.len(), 1, "{sent:#?}");
    assert_eq!(f[0].code(), Some(487));
    assert_eq!(f[0].header("CSeq").as_deref(), Some("4712 INVITE"));
    assert_eq!(
        method_to(&sent, PBX_FLOW, "ACK").header("Via"),
        reinvite.header("Via")
    );
    assert_eq!(
        h.b2bua.calls_active(),
        1,
        "a cancelled re-INVITE keeps the call"
    );
    // The slot is free, and the guard does not fire later.
    reinvite_completes(&mut h, &ok, 4713);
    h.take();
    h.advance(GUARD + Duration::from_secs(1));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.method().as_deref() != Some("CANCEL")),
        "{sent:#?}"
    );
}

#[test]
fn a_cancel_before_any_provisional_goes_out_with_the_first_one() {
    let mut h = Harness::new();
    let (_, ok) = answered_inbound(&mut h);
    h.take();
    h.trunk_sends(&trunk_reinvite(&ok, 4712));
    let reinvite = method_to(&h.take(), PBX_FLOW, "INVITE");
    h.trunk_sends(&cancel_of(&trunk_reinvite(&ok, 4712)));
    let sent = h.take();
    code_to(&sent, TRUNK_FLOW, 200);
    assert!(
        sent.iter().all(|s| s.flow.id.0 != PBX_FLOW),
        "RFC 3261 §9.1: no CANCEL before a provisional: {sent:#?}"
    );
    h.pbx_sends(&pbx_response(&reinvite.request(), 100, ""));
    let cancel = method_to(&h.take(), PBX_FLOW, "CANCEL");
    assert_eq!(cancel.header("Via"), reinvite.header("Via"));
}

#[test]
fn a_reinvite_is_cancelled_only_by_the_leg_that_sent_it() {
    let mut h = Harness::new();
    let (ok, _) = stalled_reinvite(&mut h);
    // The PBX side copies the trunk's CANCEL (same Via, so it matches the transaction).
    h.pbx_sends(&cancel_of(&trunk_reinvite(&ok, 4712)));
    let sent = h.take();
    assert_eq!(code_to(&sent, PBX_FLOW, 481).code(), Some(481));
    assert!(
        sent.iter().all(|s| s.method().as_deref() != Some("CANCEL")),
        "nothing cancelled: {sent:#?}"
    );
    assert!(
        finals(&sent).is_empty(),
        "the trunk's re-INVITE is still pending"
    );
}

/// The trunk's re-INVITE `cseq` moving its media to port 31010.
fn trunk_reinvite_moving_media(ok: &Sent, cseq: u32) -> String {
    trunk_reinvite(ok, cseq).replace("m=audio 31000", "m=audio 31010")
}

/// A re-INVITE that fails leaves the session as it was (RFC 3261 §14.1): the relay,
/// re-pointed at the offer when it was relayed, goes back to the requester's old media.
#[test]
fn a_failed_reinvite_puts_the_relay_back_on_the_old_media() {
    let mut h = Harness::new();
    let (_, ok) = answered_inbound(&mut h);
    h.take();
    let trunk = drawbridge_b2bua::Side::trunk(0);
    assert_eq!(h.last_media_port(trunk), Some(31000));
    h.trunk_sends(&trunk_reinvite_moving_media(&ok, 4712));
    let reinvite = method_to(&h.take(), PBX_FLOW, "INVITE");
    assert_eq!(
        h.last_media_port(trunk),
        Some(31010),
        "the offer re-points the relay"
    );
    h.pbx_sends(&pbx_response(&reinvite.request(), 488, ""));
    let sent = h.take();
    assert_eq!(finals(&sent)[0].code(), Some(488));
    assert_eq!(
        h.last_media_port(trunk),
        Some(31000),
        "back to the old media"
    );
    // A re-INVITE that succeeds keeps the new media.
    h.trunk_sends(&trunk_reinvite_moving_media(&ok, 4713));
    let reinvite = method_to(&h.take(), PBX_FLOW, "INVITE");
    h.pbx_sends(&pbx_response(
        &reinvite.request(),
        200,
        &pbx_sdp(3, "sendrecv"),
    ));
    h.take();
    assert_eq!(h.last_media_port(trunk), Some(31010));
}

#[test]
fn a_reinvite_cancelled_by_the_guard_puts_the_relay_back_too() {
    let mut h = Harness::new();
    let (_, ok) = answered_inbound(&mut h);
    h.take();
    let trunk = drawbridge_b2bua::Side::trunk(0);
    h.trunk_sends(&trunk_reinvite_moving_media(&ok, 4712));
    let reinvite = method_to(&h.take(), PBX_FLOW, "INVITE");
    h.pbx_sends(&pbx_response(&reinvite.request(), 180, ""));
    h.advance(GUARD + Duration::from_secs(1));
    assert_eq!(finals(&h.take())[0].code(), Some(487));
    assert_eq!(h.last_media_port(trunk), Some(31000));
}

/// A 2xx to a relayed re-INVITE whose answer drawbridge cannot relay (no SDP it can
/// read): the far end, ACKed as every 2xx must be, now runs a session the requester never
/// hears of, while the requester (told 488) keeps the old one. The call is ended on both
/// legs rather than left with the two ends disagreeing; nothing is left behind.
#[test]
fn a_2xx_to_a_reinvite_with_an_unusable_answer_ends_the_call_on_both_legs() {
    let mut h = Harness::new();
    let (_, ok) = answered_inbound(&mut h);
    h.take();
    h.trunk_sends(&trunk_reinvite(&ok, 4712));
    let reinvite = method_to(&h.take(), PBX_FLOW, "INVITE");
    h.pbx_sends(&pbx_response(
        &reinvite.request(),
        200,
        "v=0\r\nthis is no session\r\n",
    ));
    let sent = h.take();
    let to_pbx: Vec<_> = sent.iter().filter(|s| s.flow.id.0 == PBX_FLOW).collect();
    assert_eq!(
        to_pbx.iter().map(|s| s.method()).collect::<Vec<_>>(),
        [Some("ACK".to_owned()), Some("BYE".to_owned())],
        "{sent:#?}"
    );
    let to_trunk: Vec<_> = sent.iter().filter(|s| s.flow.id.0 == TRUNK_FLOW).collect();
    assert_eq!(to_trunk.len(), 2, "{to_trunk:#?}");
    assert_eq!(to_trunk[0].code(), Some(488), "{}", to_trunk[0].text());
    assert_eq!(
        to_trunk[0].header("CSeq").as_deref(),
        Some("4712 INVITE"),
        "the 488 answers the re-INVITE"
    );
    assert_eq!(to_trunk[1].method().as_deref(), Some("BYE"));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, B2buaEvent::CallEnded { status: 488, .. })),
        "{:?}",
        h.events
    );
    // The trunk ACKs the 488 (hop by hop), both BYEs are answered: nothing is left.
    h.trunk_sends(&ack_for(
        &to_trunk[0].text(),
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-reinv-4712",
        4712,
        "",
    ));
    let (bye_b, bye_a) = (to_pbx[1].request(), to_trunk[1].request());
    h.pbx_sends(&pbx_response(&bye_b, 200, ""));
    h.trunk_sends(&trunk_response(&bye_a, 200, "", ""));
    assert!(
        h.take().iter().all(|s| s.code() != Some(488)),
        "the ACK of the 488 is absorbed"
    );
    assert_all_gone(&mut h);
}
