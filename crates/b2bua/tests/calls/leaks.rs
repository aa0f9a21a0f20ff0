//! Leak tests: every byte sent to one side, checked for every identifier of the other.

use crate::harness::*;
use crate::inbound::answered_inbound;
use crate::outbound::answered_outbound;

fn assert_clean(bytes: &str, secrets: &[&str], what: &str) {
    assert!(!bytes.is_empty(), "nothing was sent to the {what}");
    for s in secrets {
        assert!(
            !bytes.to_ascii_lowercase().contains(&s.to_ascii_lowercase()),
            "`{s}` leaked to the {what}:\n{bytes}"
        );
    }
}

#[test]
fn inbound_call_leaks_nothing_either_way() {
    let mut h = Harness::new();
    let (invite, ok) = answered_inbound(&mut h);
    // 180 with early-media-less ringing already passed; add a re-INVITE from the trunk,
    // an INFO, then a BYE from the PBX.
    h.trunk_sends(&in_dialog_request(
        "INVITE",
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-reinv-1\r\nUser-Agent: ProviderSwitch/9.1\r\nX-Provider-Trace: trace-9a9a",
        &ok.text(),
        false,
        "",
        4712,
        &provider_sdp().replace("o=ProvMG 998877 1", "o=ProvMG 998877 2"),
    ));
    let reinv = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == PBX_FLOW)
        .unwrap();
    h.pbx_sends(&pbx_response(
        &reinv.request(),
        200,
        &pbx_sdp(2, "sendrecv"),
    ));
    let ok2 = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == TRUNK_FLOW && s.code() == Some(200))
        .unwrap();
    h.trunk_sends(&ack_for(
        &ok2.text(),
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-ack-2",
        4712,
        "",
    ));
    h.pbx_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-1\r\nUser-Agent: Asterisk PBX 18.1",
        &invite.text(),
        true,
        "pbx-tag-1",
        102,
        "",
    ));
    assert_eq!(h.b2bua.calls_active(), 0);
    let to_pbx = h.all_bytes_to(PBX_FLOW);
    let to_trunk = h.all_bytes_to(TRUNK_FLOW);
    assert_clean(&to_pbx, PROVIDER_SECRETS, "PBX");
    assert_clean(&to_trunk, PBX_SECRETS, "trunk");
    // Our LAN address never goes out; our public name never goes in.
    assert!(!to_trunk.contains(LAN_HOST) && !to_trunk.contains(LAN_MEDIA));
    assert!(!to_pbx.contains(PUBLIC_HOST) && !to_pbx.contains(PUBLIC_MEDIA));
}

#[test]
fn outbound_call_with_auth_leaks_nothing_either_way() {
    let mut h = Harness::new();
    let (inv, ok) = answered_outbound(&mut h, true);
    h.pbx_sends(&ack_for(
        &ok.text(),
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-ack-1",
        31,
        "",
    ));
    // Hold from the PBX, then BYE from the trunk.
    h.pbx_sends(&in_dialog_request(
        "INVITE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-reinv-1\r\nUser-Agent: Asterisk PBX 18.1\r\nContact: <sip:201@198.19.5.5:5060>",
        &ok.text(),
        false,
        "",
        32,
        &pbx_sdp(2, "sendonly"),
    ));
    let reinv = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == TRUNK_FLOW)
        .unwrap();
    h.trunk_sends(&trunk_response(&reinv.request(), 200, "", &provider_sdp()));
    let ok2 = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == PBX_FLOW && s.code() == Some(200))
        .unwrap();
    h.pbx_sends(&ack_for(
        &ok2.text(),
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-ack-2",
        32,
        "",
    ));
    h.trunk_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-bye-1",
        &inv.text(),
        true,
        "prov-tag-9",
        900,
        "",
    ));
    assert_eq!(h.b2bua.calls_active(), 0, "{:#?}", h.take());
    let to_pbx = h.all_bytes_to(PBX_FLOW);
    let to_trunk = h.all_bytes_to(TRUNK_FLOW);
    // On this call the PBX's own identifiers go back to the PBX, so check cross only.
    let provider: Vec<&str> = PROVIDER_SECRETS
        .iter()
        .copied()
        .filter(|s| !["sbc.example.com", "5061"].contains(s))
        .collect();
    assert_clean(&to_pbx, &provider, "PBX");
    assert!(!to_pbx.contains("prov-tag-9") && !to_pbx.contains("n0nce42"));
    assert_clean(&to_trunk, PBX_SECRETS, "trunk");
    assert!(
        !to_trunk.contains("Alice Office")
            || to_trunk.contains("\"Alice Office\" <sip:201@sbc.example.com>")
    );
}
