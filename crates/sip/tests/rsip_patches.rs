//! The parser fixes of the vendored rsip (`vendor/rsip/PATCHES.md`), pinned through rsip's
//! public API: bracketed IPv6 references, `tel:` URIs, quoted-string parameter values and
//! a `<` inside a quoted display name. Every valid form must round-trip through `Display`
//! (what the B2BUA writes) and every invalid one must be an `Err`, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use rsip::headers::{Contact, From, Via};
use rsip::prelude::*;
use rsip::{Host, HostWithPort, Param, Scheme, Uri};

fn v6(s: &str) -> Host {
    Host::IpAddr(s.parse().unwrap())
}

/// Parses, prints, parses again: the two values and the printed text must agree.
fn round_trip(text: &str, printed: &str) -> Uri {
    let uri = Uri::try_from(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(uri.to_string(), printed, "{text}");
    assert_eq!(Uri::try_from(printed).unwrap(), uri, "{printed}");
    uri
}

#[test]
fn bracketed_ipv6_hosts_parse_and_print_with_brackets() {
    let uri = round_trip(
        "sip:alice@[2001:db8::10]:5070;transport=udp",
        "sip:alice@[2001:db8::10]:5070;transport=UDP",
    );
    assert_eq!(uri.user(), Some("alice"));
    assert_eq!(uri.host_with_port.host, v6("2001:db8::10"));
    assert_eq!(uri.host_with_port.port, Some(5070.into()));

    // the port-ambiguous form is one address without port
    let uri = round_trip("sip:[2001:db8::10:5070]", "sip:[2001:db8::10:5070]");
    assert_eq!(uri.host_with_port.port, None);
    assert_eq!(uri.host_with_port.host, v6("2001:db8::10:5070"));

    // IPv4-mapped, and a user with a dot (the dot stops rsip's userinfo scan, not ours)
    round_trip(
        "sips:[::ffff:192.0.2.10]:5061",
        "sips:[::ffff:192.0.2.10]:5061",
    );
    // equivalent spellings print in the canonical (RFC 5952) form
    round_trip("sip:bob@[2001:DB8:0:0::1]", "sip:bob@[2001:db8::1]");
    // the RFC 3261 ABNF-bug spelling with three colons before an IPv4 tail
    let uri = round_trip("sip:[2001:db8:::192.0.2.1]", "sip:[2001:db8::c000:201]");
    assert_eq!(uri.host_with_port.host, v6("2001:db8::192.0.2.1"));
    // IPv4 and domain hosts are unchanged
    round_trip("sip:carol@192.0.2.4:5062", "sip:carol@192.0.2.4:5062");
    round_trip("sip:example.com;lr", "sip:example.com;lr");
}

#[test]
fn invalid_ipv6_references_are_errors() {
    for bad in [
        "sip:[2001:db8::10",       // unclosed
        "sip:alice@[2001:db8::10", // unclosed, with user
        "sip:[2001:db8::10::1]",   // two ::
        "sip:[2001:db8:g::1]",     // not hex
        "sip:[]",                  // empty
        "sip:[2001:db8::1]x",      // junk after ]
        "sip:[2001:db8::1]x:5060", // junk between ] and :
        "sip:[2001:db8::1]:",      // empty port
        "sip:[2001:db8::1]:99999", // port out of range
        "sip:[192.0.2.1]",         // IPv4 inside brackets
        "sip:[example.com]",       // a name inside brackets
        "sip:example.com]",        // stray ]
        "sip:ex[ample.com",        // stray [
        "sip:2001:db8::10",        // unbracketed IPv6 (RFC 5118 4.2)
        "sip:[2001:db8:::1:2]",    // three colons without an IPv4 tail
    ] {
        assert!(Uri::try_from(bad).is_err(), "{bad} must be rejected");
    }
}

#[test]
fn host_and_host_with_port_accept_the_bracketed_form() {
    assert_eq!(Host::from("[2001:db8::1]"), v6("2001:db8::1"));
    assert_eq!(Host::from("2001:db8::1"), v6("2001:db8::1"));
    assert_eq!(v6("2001:db8::1").to_string(), "[2001:db8::1]");
    assert_eq!(Host::from("192.0.2.1").to_string(), "192.0.2.1");
    let hp = HostWithPort::try_from("[2001:db8::1]:5060").unwrap();
    assert_eq!(hp.host, v6("2001:db8::1"));
    assert_eq!(hp.port, Some(5060.into()));
    assert_eq!(hp.to_string(), "[2001:db8::1]:5060");
    let hp = HostWithPort::try_from("2001:db8::1").unwrap();
    assert_eq!((hp.host, hp.port), (v6("2001:db8::1"), None));
    let addr: std::net::SocketAddr = "[2001:db8::1]:5070".parse().unwrap();
    assert_eq!(HostWithPort::from(addr).to_string(), "[2001:db8::1]:5070");
    assert!(HostWithPort::try_from("[2001:db8::1").is_err());
}

#[test]
fn via_sent_by_and_received() {
    for received in ["2001:db8::9:255", "[2001:db8::9:255]"] {
        let text = format!("SIP/2.0/UDP [2001:db8::9:1]:5062;received={received};branch=z9hG4bKx1");
        let via = Via::new(text.as_str())
            .typed()
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(via.uri.host_with_port.host, v6("2001:db8::9:1"));
        assert_eq!(via.uri.host_with_port.port, Some(5062.into()));
        assert_eq!(via.branch().unwrap().value(), "z9hG4bKx1");
        let addr: IpAddr = "2001:db8::9:255".parse().unwrap();
        assert_eq!(via.received().unwrap(), Some(addr));
        // sent-by keeps its brackets, received is written bare (RFC 3261 ABNF)
        let printed = via.to_string();
        assert_eq!(
            printed,
            "SIP/2.0/UDP [2001:db8::9:1]:5062;received=2001:db8::9:255;branch=z9hG4bKx1"
        );
        assert_eq!(Via::new(printed).typed().unwrap(), via);
    }
    // a maddr host keeps its brackets
    let via = Via::new("SIP/2.0/UDP [2001:db8::1];maddr=[ff02::fb];branch=z9hG4bKm")
        .typed()
        .unwrap();
    assert!(via.to_string().contains(";maddr=[ff02::fb]"));
    for bad in [
        "SIP/2.0/UDP [2001:db8::9:1;branch=z9hG4bKx",
        "SIP/2.0/UDP [2001:db8::zz];branch=z9hG4bKx",
        "SIP/2.0/UDP 2001:db8::9:1;branch=z9hG4bKx",
    ] {
        assert!(Via::new(bad).typed().is_err(), "{bad}");
    }
}

#[test]
fn tel_uris_keep_the_number_opaque() {
    let uri = round_trip(
        "tel:+1-555-555-0123;phone-context=+1",
        "tel:+1-555-555-0123;phone-context=+1",
    );
    assert_eq!(uri.scheme, Some(Scheme::Tel));
    assert_eq!(uri.auth, None);
    assert_eq!(uri.host_with_port.host.to_string(), "+1-555-555-0123");
    let uri = round_trip(
        "TEL:7042;phone-context=example.com;ext=12",
        "tel:7042;phone-context=example.com;ext=12",
    );
    assert_eq!(uri.params.len(), 2);
    assert_eq!(
        drawbridge_sip::normalized_user(&round_trip("tel:+1(555)0100", "tel:+1(555)0100")).unwrap(),
        "+15550100"
    );
    for bad in [
        "tel:",
        "tel:alice",
        "tel:+1555@example.com",
        "tel:+1555:5060",
    ] {
        assert!(Uri::try_from(bad).is_err(), "{bad}");
    }
    // a tel: name-addr
    let from = From::new(r#""Desk" <tel:+15550100>;tag=1"#)
        .typed()
        .unwrap();
    assert_eq!(from.uri.scheme, Some(Scheme::Tel));
    assert_eq!(from.to_string(), r#""Desk" <tel:+15550100>;tag=1"#);
}

#[test]
fn quoted_parameter_values_are_kept_verbatim() {
    let uri = round_trip(
        r#"sip:a@example.com;x="a;b""#,
        r#"sip:a@example.com;x="a;b""#,
    );
    assert_eq!(
        uri.params,
        vec![Param::Other("x".into(), Some(r#""a;b""#.into()))]
    );
    let c = Contact::new(
        r#"<sip:a@192.0.2.1>;+sip.instance="<urn:uuid:1>";methods="INVITE, \"BYE\"";expires=60"#,
    );
    let typed = c.typed().unwrap();
    assert_eq!(typed.uri.to_string(), "sip:a@192.0.2.1");
    assert_eq!(typed.expires().unwrap().value(), "60");
    assert_eq!(typed.params.len(), 3);
    assert_eq!(typed.to_string(), c.value());
    // an unterminated quoted value is an error (the rest would be swallowed)
    assert!(
        Contact::new(r#"<sip:a@192.0.2.1>;x="open"#)
            .typed()
            .is_err()
    );
}

#[test]
fn angle_brackets_in_quoted_display_names_do_not_start_the_uri() {
    let f = From::new(r#""Ann <at home>" <sip:ann@example.net>;tag=qs1"#)
        .typed()
        .unwrap();
    assert_eq!(f.display_name.as_deref(), Some(r#""Ann <at home>""#));
    assert_eq!(f.uri.to_string(), "sip:ann@example.net");
    assert_eq!(f.tag().unwrap().value(), "qs1");
    let f = From::new(r#""Q \"x\" <y>" <sip:q@[2001:db8::1]>;tag=2"#)
        .typed()
        .unwrap();
    assert_eq!(f.uri.host_with_port.host, v6("2001:db8::1"));
    // addr-spec with a quoted '<' in a header parameter: still an addr-spec
    let f = From::new(r#"sip:ann@example.net;tag=3;x="<y>""#)
        .typed()
        .unwrap();
    assert_eq!(f.uri.to_string(), "sip:ann@example.net");
    assert_eq!(f.tag().unwrap().value(), "3");
}

/// Patch 12: the hand-written header tokenizer splits a message's header lines as the
/// nom grammar did (`token ":" *(SP/HTAB) value CRLF`), and the name lookup maps every
/// spelling of a known name to its variant.
#[test]
fn header_lines_split_and_map_as_before() {
    use rsip::{Header, SipMessage};
    let msg = b"OPTIONS sip:a@example.com SIP/2.0\r\n\
        vIA: \t SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1 \r\n\
        cALL-id:c1\r\n\
        X-Very-Long-Extension-Header-Name: a\rb\r\n\
        Proxy-Authorization: Digest x\r\n\
        Content-Length: 0\r\n\r\n";
    let SipMessage::Request(r) = SipMessage::try_from(&msg[..]).unwrap() else {
        panic!("a request");
    };
    let h: Vec<&Header> = r.headers.iter().collect();
    assert_eq!(h.len(), 5);
    // leading SP/HTAB dropped, trailing white space kept, name case as received
    assert_eq!(
        h[0],
        &Header::Via(Via::new("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1 "))
    );
    assert_eq!(h[1], &Header::CallId("c1".into()));
    assert_eq!(
        h[2],
        &Header::Other("X-Very-Long-Extension-Header-Name".into(), "a\rb".into())
    );
    assert!(matches!(h[3], Header::ProxyAuthorization(_)));
    assert!(matches!(h[4], Header::ContentLength(_)));
    for bad in [
        &b"OPTIONS sip:a@example.com SIP/2.0\r\nBad Name: v\r\n\r\n"[..],
        b"OPTIONS sip:a@example.com SIP/2.0\r\n: v\r\n\r\n",
        b"OPTIONS sip:a@example.com SIP/2.0\r\nNoColon\r\n\r\n",
    ] {
        assert!(SipMessage::try_from(bad).is_err(), "{bad:?}");
    }
}
