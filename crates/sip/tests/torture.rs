//! drawbridge's own torture corpus (`tests/torture/*.sip`, modelled on the classes of
//! RFC 4475 §3 and RFC 5118), checked against `tests/torture/MANIFEST`: for every file,
//! whether it parses or which [`ParseError`] it gets, and the status code to answer.

// Helpers outside #[test] fns unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use drawbridge_sip::{Limits, ParseError, normalized_user, parse_message, peek, to_bytes};
use rsip::SipMessage;
use rsip::prelude::*;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/torture")
}

fn load(name: &str) -> Vec<u8> {
    let path = dir().join(format!("{name}.sip"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(name: &str) -> Result<SipMessage, ParseError> {
    parse_message(&load(name), &Limits::default())
}

/// One MANIFEST line.
#[derive(Debug)]
struct Case {
    name: String,
    valid: bool,
    /// `ok` or a `ParseError` variant name.
    outcome: String,
    /// `-`, `drop` or a status code.
    answer: String,
    note: String,
}

fn manifest() -> Vec<Case> {
    let text = std::fs::read_to_string(dir().join("MANIFEST")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut f = l.split_whitespace();
            let mut next = || f.next().unwrap_or_else(|| panic!("short line: {l}"));
            let (name, class, outcome, answer) = (next(), next(), next(), next());
            let note = f.collect::<Vec<_>>().join(" ");
            assert!(
                class == "valid" || class == "invalid",
                "{name}: class {class}"
            );
            Case {
                name: name.to_owned(),
                valid: class == "valid",
                outcome: outcome.to_owned(),
                answer: answer.to_owned(),
                note,
            }
        })
        .collect()
}

/// `BadHeader { .. }` → `BadHeader`, `MissingHeader("From")` → `MissingHeader`.
fn variant(e: &ParseError) -> String {
    let dbg = format!("{e:?}");
    dbg.split(['(', ' ', '{']).next().unwrap().to_owned()
}

fn is_response(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|&b| b != b'\r' && b != b'\n');
    bytes[start.unwrap_or(0)..].starts_with(b"SIP/")
}

#[test]
fn manifest_and_files_match() {
    let cases = manifest();
    let mut listed: Vec<_> = cases.iter().map(|c| c.name.clone()).collect();
    listed.sort();
    let before = listed.len();
    listed.dedup();
    assert_eq!(before, listed.len(), "a name is listed twice");
    let mut on_disk: Vec<_> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".sip").map(str::to_owned))
        .collect();
    on_disk.sort();
    assert_eq!(listed, on_disk);
    assert!(cases.len() >= 50, "{} cases", cases.len());
    assert!(cases.iter().filter(|c| c.valid).count() >= 25);
    assert!(cases.iter().filter(|c| !c.valid).count() >= 20);
}

#[test]
fn every_message_gets_the_outcome_the_manifest_states() {
    let mut failures = Vec::new();
    for c in manifest() {
        let bytes = load(&c.name);
        let got = parse_message(&bytes, &Limits::default());
        let (outcome, answer) = match &got {
            Ok(_) => ("ok".to_owned(), "-".to_owned()),
            Err(e) if is_response(&bytes) => (variant(e), "drop".to_owned()),
            Err(e) => (
                variant(e),
                e.status_code()
                    .map_or_else(|| "drop".to_owned(), |s| s.to_string()),
            ),
        };
        if outcome != c.outcome || answer != c.answer {
            failures.push(format!(
                "{}: manifest says {} {}, got {outcome} {answer} ({:?})",
                c.name,
                c.outcome,
                c.answer,
                got.map(|_| ())
            ));
        }
        // A valid message we refuse must say why.
        if c.valid && c.outcome != "ok" {
            assert!(
                ["rfc-answer:", "policy:", "gap:"]
                    .iter()
                    .any(|p| c.note.starts_with(p)),
                "{}: valid but rejected without a reason",
                c.name
            );
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_parsed_message_survives_serialization() {
    for c in manifest().iter().filter(|c| c.outcome == "ok") {
        let msg = parse(&c.name).unwrap();
        let wire = to_bytes(&msg);
        let again = parse_message(&wire, &Limits::default())
            .unwrap_or_else(|e| panic!("{}: re-parse failed: {e}", c.name));
        assert_eq!(again, msg, "{}: parse -> to_bytes -> parse differs", c.name);
        assert_eq!(again.body(), msg.body(), "{}", c.name);
        assert_eq!(
            again.headers().iter().count(),
            msg.headers().iter().count(),
            "{}",
            c.name
        );
    }
}

#[test]
fn rejected_requests_that_deserve_an_answer_can_be_peeked() {
    let mut answered = 0;
    for c in manifest() {
        let bytes = load(&c.name);
        let p = peek(&bytes, &Limits::default());
        if is_response(&bytes) {
            assert!(p.is_none(), "{}: responses are never answered", c.name);
            continue;
        }
        if c.outcome == "ok" || c.outcome == "MissingHeader" {
            continue;
        }
        let p = p.unwrap_or_else(|| panic!("{}: no peek", c.name));
        let code: u16 = c.answer.parse().unwrap();
        let resp = p.response(code, "Rejected", Some("x1"));
        let text = String::from_utf8_lossy(&resp);
        assert!(text.starts_with(&format!("SIP/2.0 {code} Rejected\r\n")));
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{}", c.name);
        answered += 1;
    }
    assert!(answered >= 25, "{answered}");
    // Without From and Call-ID there is nothing to answer with.
    assert!(peek(&load("missing-mandatory-headers"), &Limits::default()).is_none());
}

/// Every Via value (untyped: only the top one must type).
fn vias(msg: &SipMessage) -> Vec<rsip::headers::Via> {
    msg.headers()
        .iter()
        .filter_map(|h| match h {
            rsip::Header::Via(v) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

fn count(msg: &SipMessage, f: fn(&rsip::Header) -> bool) -> usize {
    msg.headers().iter().filter(|h| f(h)).count()
}

#[test]
fn tortuous_invite_is_normalised() {
    let msg = parse("tortuous-invite").unwrap();
    let vias = vias(&msg);
    assert_eq!(
        vias.len(),
        3,
        "one Via line + a folded v: line with two values"
    );
    let top = vias[0].typed().unwrap();
    assert_eq!(top.uri.host_with_port.to_string(), "192.0.2.50:5060");
    assert_eq!(top.branch().unwrap().to_string(), "z9hG4bKtort1");
    let second = vias[1].typed().unwrap();
    assert_eq!(second.uri.host_with_port.to_string(), "edge1.example.org");
    assert_eq!(
        vias[2].value(),
        "SIP/2.0/UDP [2001:db8::7]:5062;branch=z9hG4bKtort3;received=192.0.2.77"
    );
    assert_eq!(
        msg.call_id_header().unwrap().value(),
        "tortuous.77aa@192.0.2.50"
    );
    assert_eq!(msg.cseq_header().unwrap().typed().unwrap().seq, 42);
    assert!(msg.body().starts_with(b"v=0\r\n"));
    assert!(msg.body().ends_with(b"a=rtpmap:0 PCMU/8000\r\n"));
    let to = msg.to_header().unwrap().typed().unwrap();
    assert_eq!(to.tag().unwrap().value(), "7a1b-x9");
    assert_eq!(to.uri.to_string(), "sip:carol@example.com");
    let from = msg.from_header().unwrap().typed().unwrap();
    assert_eq!(from.tag().unwrap().value(), "ff0011");
    let subject = msg.headers().iter().find_map(|h| match h {
        rsip::Header::Subject(s) => Some(s.value().to_owned()),
        _ => None,
    });
    assert_eq!(
        subject.unwrap(),
        "first line of a subject, folded onto the next line"
    );
    assert_eq!(count(&msg, |h| matches!(h, rsip::Header::Contact(_))), 1);
}

#[test]
fn long_values_fit_the_default_limits_but_not_a_tighter_via_limit() {
    let msg = parse("long-values").unwrap();
    assert_eq!(vias(&msg).len(), 30);
    assert_eq!(Limits::default().max_via, 32);
    let tight = Limits {
        max_via: 29,
        ..Limits::default()
    };
    assert_eq!(
        parse_message(&load("long-values"), &tight).unwrap_err(),
        ParseError::TooManyVia { max: 29 }
    );
}

#[test]
fn multiple_values_become_one_header_each() {
    let msg = parse("multiple-values-one-line").unwrap();
    assert_eq!(vias(&msg).len(), 3);
    assert_eq!(count(&msg, |h| matches!(h, rsip::Header::Route(_))), 3);
    assert_eq!(
        count(&msg, |h| matches!(h, rsip::Header::RecordRoute(_))),
        2
    );
    let msg = parse("register-contact-params").unwrap();
    let contacts: Vec<_> = msg
        .headers()
        .iter()
        .filter_map(|h| match h {
            rsip::Header::Contact(c) => Some(c.value().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(
        contacts.len(),
        2,
        "the quoted comma in methods= does not split"
    );
    assert!(
        contacts[0].ends_with(
            r#"+sip.instance="<urn:uuid:00000000-0000-1000-8000-000a95a0e128>";reg-id=1"#
        )
    );
    assert!(
        contacts[1]
            .starts_with(r#""Eve, mobile" <sip:eve@198.51.100.3>;methods="INVITE,BYE,OPTIONS""#)
    );
}

#[test]
fn ipv6_references_type_and_round_trip() {
    let Ok(msg @ SipMessage::Request(_)) = parse("ipv6-with-port") else {
        panic!("request expected")
    };
    let SipMessage::Request(r) = &msg else {
        unreachable!()
    };
    let v6 = |s: &str| rsip::Host::IpAddr(s.parse().unwrap());
    assert_eq!(r.uri.host_with_port.host, v6("2001:db8::10"));
    assert_eq!(r.uri.host_with_port.port, Some(5070.into()));
    let top = vias(&msg)[0].typed().unwrap();
    assert_eq!(top.uri.host_with_port.host, v6("2001:db8::9:1"));
    assert_eq!(top.uri.to_string(), "[2001:db8::9:1]:6050");
    let from = msg.from_header().unwrap().typed().unwrap();
    assert_eq!(from.uri.to_string(), "sip:tom@[2001:db8::9:1]:6050");

    // [2001:db8::10:5070] is one address, no port (RFC 5118 port ambiguity)
    let Ok(SipMessage::Request(r)) = parse("ipv6-ambiguous-port") else {
        panic!("request expected")
    };
    assert_eq!(r.uri.host_with_port.host, v6("2001:db8::10:5070"));
    assert_eq!(r.uri.host_with_port.port, None);
    assert_eq!(r.uri.to_string(), "sip:[2001:db8::10:5070]");

    // compact forms and several values on one line: one header per value, all typed
    let msg = parse("ipv6-compact-forms").unwrap();
    let hosts: Vec<String> = vias(&msg)
        .iter()
        .map(|v| v.typed().unwrap().uri.host_with_port.to_string())
        .collect();
    assert_eq!(
        hosts,
        ["[2001:db8::b:1]:5062", "[2001:db8::b:2]", "192.0.2.120"]
    );
    let contacts: Vec<String> = msg
        .headers()
        .iter()
        .filter_map(|h| match h {
            rsip::Header::Contact(c) => Some(c.typed().unwrap().uri.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        contacts,
        ["sip:vic@[2001:db8::b:1]:5062", "sip:vic@[2001:db8::b:3]"]
    );

    // received= with and without brackets: both read as the address, written bare
    let msg = parse("ipv6-via-received-bracketed").unwrap();
    for via in vias(&msg) {
        let via = via.typed().unwrap();
        assert_eq!(
            via.received().unwrap(),
            Some("2001:db8::9:255".parse().unwrap())
        );
        assert!(via.to_string().contains(";received=2001:db8::9:255"));
    }
}

#[test]
fn tel_uris_and_quoted_values_type() {
    let Ok(msg @ SipMessage::Request(_)) = parse("tel-request-uri") else {
        panic!("request expected")
    };
    let SipMessage::Request(r) = &msg else {
        unreachable!()
    };
    assert_eq!(r.uri.scheme, Some(rsip::Scheme::Tel));
    assert_eq!(r.uri.to_string(), "tel:+1-555-555-0123;phone-context=+1");
    assert_eq!(normalized_user(&r.uri).unwrap(), "+15555550123");
    let to = msg.to_header().unwrap().typed().unwrap();
    assert_eq!(to.uri.scheme, Some(rsip::Scheme::Tel));

    let msg = parse("quoted-strings-in-from").unwrap();
    let from = msg.from_header().unwrap().typed().unwrap();
    assert_eq!(from.display_name.as_deref(), Some(r#""Ann <at home>""#));
    assert_eq!(from.uri.to_string(), "sip:ann@example.net");
    assert_eq!(from.tag().unwrap().value(), "qs1");
    assert_eq!(
        from.to_string(),
        r#""Ann <at home>" <sip:ann@example.net>;tag=qs1;x-note="hello, world""#
    );

    // RFC 5626 instance id: a quoted value holding <>
    let msg = parse("register-contact-params").unwrap();
    let contact = msg.contact_header().unwrap().typed().unwrap();
    assert!(contact.params.iter().any(|p| matches!(
        p,
        rsip::Param::Other(n, Some(v))
            if n.value() == "+sip.instance"
                && v.value() == r#""<urn:uuid:00000000-0000-1000-8000-000a95a0e128>""#
    )));
}

#[test]
fn user_parts_with_semicolons_and_dots_are_read_right() {
    let Ok(SipMessage::Request(r)) = parse("semicolon-user") else {
        panic!("request expected")
    };
    assert_eq!(r.uri.host_with_port.to_string(), "example.com");
    assert_eq!(
        normalized_user(&r.uri).unwrap(),
        "lane;ext=44;x=v%40host.example"
    );
    assert!(
        r.uri
            .params
            .iter()
            .any(|p| matches!(p, rsip::Param::Transport(_)))
    );

    let Ok(msg @ SipMessage::Request(_)) = parse("dotted-user") else {
        panic!("request expected")
    };
    let SipMessage::Request(r) = &msg else {
        unreachable!()
    };
    assert_eq!(r.uri.host_with_port.to_string(), "example.com");
    assert_eq!(normalized_user(&r.uri).unwrap(), "john.doe");
    let from = msg.from_header().unwrap().typed().unwrap();
    assert_eq!(from.uri.host_with_port.to_string(), "example.net");
    assert_eq!(normalized_user(&from.uri).unwrap(), "jane.q.roe");
    let to = msg.to_header().unwrap().typed().unwrap();
    assert_eq!(to.uri.host_with_port.to_string(), "example.com");
    assert_eq!(normalized_user(&to.uri).unwrap(), "john.doe");
}

#[test]
fn datagram_framing_follows_content_length() {
    let Ok(SipMessage::Request(r)) = parse("trailing-datagram-bytes") else {
        panic!("request expected")
    };
    assert_eq!(r.method, rsip::Method::Register);
    assert!(r.body.is_empty(), "the second request is dropped");
    assert_eq!(parse("content-length-smaller").unwrap().body(), b"hello");
}

#[test]
fn binary_body_survives_serialization() {
    let msg = parse("multipart-binary-body").unwrap();
    for b in [0u8, 0x80, 0xff] {
        assert!(msg.body().contains(&b));
    }
    let again = parse_message(&to_bytes(&msg), &Limits::default()).unwrap();
    assert_eq!(again.body(), msg.body());
}
