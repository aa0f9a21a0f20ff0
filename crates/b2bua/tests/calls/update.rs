//! UPDATE (RFC 3311) with an offer, in the early and the confirmed dialog: relayed to the
//! other leg in that leg's dialog, the SDP rewritten to our media address both ways, the
//! media relay told where each party now wants media.

// Setup helpers (not #[test] fns) may expect: a panic there is a failed test.
#![allow(clippy::expect_used)]

use std::time::Duration;

use drawbridge_b2bua::Side;

use crate::harness::*;
use crate::inbound::answered_inbound;
use crate::outbound::pbx_invite;
use crate::prack::*;

/// An UPDATE from the PBX in the dialog of `on` (a message the core sent it, as the
/// caller on that leg if `core_is_caller`), CSeq `cseq`, carrying `sdp`.
pub(crate) fn pbx_update(on: &Sent, core_is_caller: bool, cseq: u32, sdp: &str) -> String {
    let tag = if core_is_caller { "pbx-tag-1" } else { "" };
    let via = "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-upd-1";
    in_dialog_request("UPDATE", via, &on.text(), core_is_caller, tag, cseq, sdp)
}

/// The PBX's SDP moved to port 14010 (version 2, direction `dir`).
fn moved_pbx_sdp(dir: &str) -> String {
    pbx_sdp(2, dir).replace("m=audio 14000", "m=audio 14010")
}

/// The one message the trunk got since the last take, which must be an UPDATE.
fn relayed_update(h: &mut Harness) -> Sent {
    let update = only_to(&h.take(), TRUNK_FLOW);
    assert_eq!(
        update.method().as_deref(),
        Some("UPDATE"),
        "{}",
        update.text()
    );
    update
}

/// The trunk answers an UPDATE we relayed to it: 200 with its SDP moved to port `port`.
fn trunk_answers_update(h: &mut Harness, update: &Sent, port: u16) -> Sent {
    let sdp = provider_sdp()
        .replace("o=ProvMG 998877 1", "o=ProvMG 998877 2")
        .replace("m=audio 31000", &format!("m=audio {port}"));
    h.trunk_sends(&trunk_response(&update.request(), 200, "", &sdp));
    only_to(&h.take(), PBX_FLOW)
}

#[test]
fn an_update_in_a_confirmed_call_is_relayed_with_the_sdp_rewritten_both_ways() {
    let mut h = Harness::new();
    let (invite, _ok) = answered_inbound(&mut h);
    h.take();
    h.pbx_sends(&pbx_update(&invite, true, 102, &moved_pbx_sdp("sendonly")));
    let update = relayed_update(&mut h);
    assert_eq!(update.header("CSeq").as_deref(), Some("1 UPDATE"));
    assert_eq!(
        update.header("Contact").as_deref(),
        Some("<sip:sbc.example.com:5061;transport=tls>")
    );
    let body = update.body();
    assert!(body.contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")), "{body}");
    assert!(body.contains("a=sendonly"), "{body}");
    assert_eq!(
        h.last_media_port(Side::Pbx),
        Some(14010),
        "the PBX's new port"
    );

    let ok = trunk_answers_update(&mut h, &update, 31010);
    assert_eq!(ok.code(), Some(200));
    assert_eq!(ok.header("CSeq").as_deref(), Some("102 UPDATE"));
    assert!(
        ok.body().contains(&format!("c=IN IP4 {LAN_MEDIA}")),
        "{}",
        ok.text()
    );
    assert_eq!(
        h.last_media_port(Side::trunk(0)),
        Some(31010),
        "the trunk's new port"
    );
    assert_no_leaks(&h);
}

#[test]
fn an_early_update_from_the_caller_goes_in_the_callees_early_dialog() {
    let mut h = Harness::new();
    let invite = start_outbound_reliable(&mut h, true);
    h.trunk_sends(&trunk_reliable(&invite, 183, 1, &provider_sdp()));
    let p = provisionals(&h.take(), PBX_FLOW).remove(0);
    let rack = format!("{} 31 INVITE", rseq(&p));
    h.pbx_sends(&pbx_prack(&p, "prack-1", 32, &rack));
    h.take();
    // O/A is complete on both legs (answer in a reliable 183): the PBX re-offers early.
    h.pbx_sends(&pbx_update(&p, false, 33, &moved_pbx_sdp("sendrecv")));
    let update = relayed_update(&mut h);
    assert!(update.header("To").unwrap().ends_with(";tag=prov-tag-9"));
    assert_eq!(update.header("Call-ID"), invite.header("Call-ID"));
    assert_eq!(
        update.header("Route").as_deref(),
        Some("<sip:core-sbc-3.provider.internal;lr>"),
        "the early dialog's route set"
    );
    assert!(update.body().contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")));
    assert_eq!(h.last_media_port(Side::Pbx), Some(14010));

    let ok = trunk_answers_update(&mut h, &update, 31010);
    assert_eq!(ok.code(), Some(200));
    assert_eq!(ok.header("CSeq").as_deref(), Some("33 UPDATE"));
    assert!(ok.body().contains(&format!("c=IN IP4 {LAN_MEDIA}")));
    assert_eq!(h.last_media_port(Side::trunk(0)), Some(31010));

    // The 2xx repeats the last SDP the PBX got from us (the UPDATE's answer), not the
    // 183's: an older o= version would take the session back.
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", ""));
    let answered = code_to(&h.take(), PBX_FLOW, 200);
    assert_ne!(ok.body(), p.body(), "the UPDATE moved the media");
    assert_eq!(answered.body(), ok.body());
    assert_no_leaks(&h);
}

#[test]
fn an_early_update_after_an_unreliable_provisional_follows_its_record_route() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(true));
    let invite = only_to(&h.take(), TRUNK_FLOW);
    h.trunk_sends(&trunk_response(&invite.request(), 183, "", &provider_sdp()));
    let p = only_to(&h.take(), PBX_FLOW);
    // No offer (a session refresh, say): fine before the offer/answer completes.
    h.pbx_sends(&pbx_update(&p, false, 32, ""));
    let update = relayed_update(&mut h);
    assert!(update.header("To").unwrap().ends_with(";tag=prov-tag-9"));
    assert_eq!(
        update.header("Route").as_deref(),
        Some("<sip:core-sbc-3.provider.internal;lr>"),
        "the early dialog's route set (RFC 3261 §12.1.2)"
    );
}

#[test]
fn an_early_update_from_the_callee_reaches_the_caller_in_its_dialog() {
    let mut h = Harness::new();
    h.trunk_sends(&trunk_invite_requiring_100rel());
    let invite = only_to(&h.take(), PBX_FLOW);
    h.pbx_sends(&pbx_response(
        &invite.request(),
        183,
        &pbx_sdp(1, "sendrecv"),
    ));
    let p = only_to(&h.take(), TRUNK_FLOW);
    let rack = format!("{} 4711 INVITE", rseq(&p));
    h.trunk_sends(&trunk_prack(&p, "prack-1", 4712, &rack));
    h.take();
    h.pbx_sends(&pbx_update(&invite, true, 101, &moved_pbx_sdp("sendonly")));
    let update = relayed_update(&mut h);
    assert_eq!(
        update.request().uri.to_string().to_ascii_lowercase(),
        "sip:+4917012345@198.18.7.7:5061;transport=tls",
        "to the caller's Contact"
    );
    assert!(update.header("From").unwrap().contains(&our_tag(&p)));
    assert!(update.header("To").unwrap().ends_with(";tag=prov-tag-1"));
    assert!(update.body().contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")));
    assert!(update.body().contains("a=sendonly"));
    assert_eq!(h.last_media_port(Side::Pbx), Some(14010));

    h.trunk_sends(&trunk_response(
        &update.request(),
        200,
        "",
        &provider_sdp()
            .replace("o=ProvMG 998877 1", "o=ProvMG 998877 2")
            .replace("a=sendrecv", "a=recvonly"),
    ));
    let ok = only_to(&h.take(), PBX_FLOW);
    assert_eq!(ok.code(), Some(200));
    assert_eq!(ok.header("CSeq").as_deref(), Some("101 UPDATE"));
    assert!(ok.body().contains(&format!("c=IN IP4 {LAN_MEDIA}")));
    assert!(ok.body().contains("a=recvonly"));
    assert_no_leaks(&h);
}

/// Our tag on the caller's leg, from a provisional we sent it.
fn our_tag(p: &Sent) -> String {
    let to = p.header("To").expect("To");
    to.split(";tag=").nth(1).expect("our tag").to_owned()
}

/// Found by fuzzing: an UPDATE answered by the far end after its call ended left the
/// requester's transaction unanswered, and kept for ever.
#[test]
fn an_update_answered_after_its_call_ended_still_gets_a_final_response() {
    let mut h = Harness::new();
    let (invite, _ok) = answered_inbound(&mut h);
    h.take();
    h.pbx_sends(&pbx_update(&invite, true, 102, &moved_pbx_sdp("sendonly")));
    let update = relayed_update(&mut h);
    h.pbx_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-1",
        &invite.text(),
        true,
        "pbx-tag-1",
        103,
        "",
    ));
    h.take();
    assert_eq!(h.b2bua.calls_active(), 0);
    h.trunk_sends(&trunk_response(&update.request(), 200, "", &provider_sdp()));
    let sent = h.take();
    let answer = code_to(&sent, PBX_FLOW, 487);
    assert_eq!(answer.header("CSeq").as_deref(), Some("102 UPDATE"));
    h.advance(Duration::from_secs(600));
    assert_eq!(h.b2bua.transactions(), 0, "nothing waits for ever");
}
