//! A provider on IPv6 and `tel:` URIs: the SIP layer now parses bracketed IPv6 references
//! and `tel:` (vendored rsip, see `vendor/rsip/PATCHES.md`); the B2BUA must route them and
//! keep every IPv6 address of the provider off the PBX leg.

// Setup helpers may expect: a panic there is a failed test.
#![allow(clippy::expect_used)]

use drawbridge_b2bua::{Flow, Side, TransportKind};

use crate::harness::*;

const V6_TRUNK: &str = "2001:db8:7::7";

fn v6_trunk_flow() -> Flow {
    Flow::new(
        TRUNK_FLOW,
        format!("[{V6_TRUNK}]:5061")
            .parse()
            .expect("an IPv6 socket address"),
        TransportKind::Tls,
    )
}

/// The provider's INVITE with IPv6 Via, Record-Route, Contact and From host; `ruri` and
/// `from_uri` let the tel: test reuse it.
fn v6_invite(ruri: &str, from_uri: &str) -> String {
    with_body(
        &format!(
            "INVITE {ruri} SIP/2.0\r\n\
             Via: SIP/2.0/TLS [{V6_TRUNK}]:5061;branch=z9hG4bKprov6-inv-1;rport\r\n\
             Via: SIP/2.0/UDP [2001:db8:7::99];branch=z9hG4bKcore6-1;received=[2001:db8:7::98]\r\n\
             Record-Route: <sip:[{V6_TRUNK}]:5061;transport=tls;lr>\r\n\
             Max-Forwards: 68\r\n\
             From: \"Caller Name\" <{from_uri}>;tag=prov6-tag-1\r\n\
             To: <sip:+4930123456@sbc.example.com>\r\n\
             Call-ID: prov6-callid-1@[2001:db8:7::99]\r\n\
             CSeq: 4711 INVITE\r\n\
             Contact: <sip:+4917012345@[{V6_TRUNK}]:5061;transport=tls>;+sip.instance=\"<urn:uuid:prov6>\"\r\n"
        ),
        &provider_sdp(),
    )
}

fn trunk6_sends(h: &mut Harness, text: &str) {
    h.deliver(text, v6_trunk_flow(), Side::trunk(0));
}

fn harness() -> Harness {
    let mut config = config();
    config.trunks[0].flow = v6_trunk_flow();
    Harness::with_config(config)
}

#[test]
fn ipv6_provider_call_is_rewritten_and_nothing_of_it_leaks() {
    let mut h = harness();
    trunk6_sends(
        &mut h,
        &v6_invite(
            "sip:+4930123456@sbc.example.com:5061;transport=tls",
            &format!("sip:+4917012345@[{V6_TRUNK}]"),
        ),
    );
    let invite = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == PBX_FLOW)
        .expect("INVITE to the PBX");
    assert_eq!(
        invite.header("Contact").as_deref(),
        Some(&*format!("<sip:{LAN_HOST}:5060>"))
    );
    assert_eq!(invite.text().matches("\r\nVia:").count(), 1, "only our Via");
    h.pbx_sends(&pbx_response(
        &invite.request(),
        200,
        &pbx_sdp(1, "sendrecv"),
    ));
    let ok = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == TRUNK_FLOW && s.code() == Some(200))
        .expect("200 to the trunk");
    // The trunk gets its own Vias back (brackets intact) and our Contact.
    let text = ok.text();
    assert!(
        text.contains(&format!(
            "Via: SIP/2.0/TLS [{V6_TRUNK}]:5061;branch=z9hG4bKprov6-inv-1"
        )),
        "{text}"
    );
    assert!(
        ok.header("Contact").unwrap().contains(PUBLIC_HOST),
        "{text}"
    );
    trunk6_sends(
        &mut h,
        &ack_for(
            &text,
            &format!("SIP/2.0/TLS [{V6_TRUNK}]:5061;branch=z9hG4bKprov6-ack-1"),
            4711,
            "",
        ),
    );
    // A BYE from the PBX goes to the provider's IPv6 Contact, via its IPv6 Record-Route.
    h.pbx_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-1",
        &invite.text(),
        true,
        "pbx-tag-1",
        102,
        "",
    ));
    let bye = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == TRUNK_FLOW && s.method().as_deref() == Some("BYE"))
        .expect("BYE to the trunk");
    let bye_text = bye.text();
    // (rsip re-spells the typed Request-URI's transport in upper case)
    assert!(
        bye_text.to_ascii_lowercase().starts_with(&format!(
            "bye sip:+4917012345@[{V6_TRUNK}]:5061;transport=tls sip/2.0\r\n"
        )),
        "{bye_text}"
    );
    assert_eq!(
        bye.header("Route").as_deref(),
        Some(&*format!("<sip:[{V6_TRUNK}]:5061;transport=tls;lr>"))
    );
    // Nothing of the provider's IPv6 addresses reaches the PBX.
    let to_pbx = h.all_bytes_to(PBX_FLOW);
    for secret in ["2001:db8", "[", "prov6", "urn:uuid"] {
        assert!(!to_pbx.contains(secret), "`{secret}` leaked:\n{to_pbx}");
    }
}

#[test]
fn tel_uris_from_the_provider_reach_the_pbx_as_sip() {
    let mut h = harness();
    trunk6_sends(
        &mut h,
        &v6_invite("tel:+49-30-123456", "tel:+4917012345;phone-context=+49"),
    );
    let invite = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == PBX_FLOW)
        .expect("INVITE to the PBX (a tel: Request-URI is routed by its number)");
    assert!(
        invite
            .text()
            .starts_with("INVITE sip:+4930123456@pbx.corp.example SIP/2.0\r\n"),
        "{}",
        invite.text()
    );
    let from = invite.header("From").unwrap();
    assert!(
        from.starts_with(&format!(
            "\"Caller Name\" <sip:+4917012345@{LAN_HOST}>;tag="
        )),
        "{from}"
    );
    assert!(!h.all_bytes_to(PBX_FLOW).contains("tel:"));
}

#[test]
fn an_ipv6_lan_address_of_ours_is_bracketed_in_every_uri_towards_the_pbx() {
    let mut config = config();
    config.pbx.advertised.host = "2001:db8:19::1".into();
    config.pbx.domain = "2001:db8:19::5".into();
    let mut h = Harness::with_config(config);
    // The harness parses everything the core sends: an unbracketed IPv6 host would fail.
    h.trunk_sends(&trunk_invite());
    let sent = h.take();
    let invite = sent
        .iter()
        .find(|s| s.flow.id.0 == PBX_FLOW)
        .unwrap_or_else(|| {
            panic!(
                "INVITE to the PBX: {:?}",
                sent.iter().map(Sent::text).collect::<Vec<_>>()
            )
        });
    let text = invite.text();
    assert!(
        text.starts_with("INVITE sip:+4930123456@[2001:db8:19::5] SIP/2.0\r\n"),
        "{text}"
    );
    assert!(
        invite
            .header("From")
            .unwrap()
            .starts_with("\"Caller Name\" <sip:+4917012345@[2001:db8:19::1]>;tag="),
        "{text}"
    );
    assert!(
        text.contains("Via: SIP/2.0/UDP [2001:db8:19::1]:5060;branch="),
        "{text}"
    );
    assert_eq!(
        invite.header("Contact").as_deref(),
        Some("<sip:[2001:db8:19::1]:5060>")
    );
}
