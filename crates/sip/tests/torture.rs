//! RFC 4475 torture messages (files in `tests/torture/`), each checked against what the
//! RFC says a receiver should do with it.

// Helpers outside #[test] fns unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use drawbridge_sip::{Limits, ParseError, parse_message, peek};

/// What RFC 4475 expects, as this crate implements it.
#[derive(Debug)]
enum Expect {
    /// Well formed: must parse.
    Valid,
    /// Well formed but cannot be processed: this error (the RFC names the answer).
    Reject(fn(&ParseError) -> bool),
    /// The RFC allows both rejecting and being liberal; either is fine, never a panic.
    Either,
}
use Expect::*;

fn table() -> Vec<(&'static str, Expect)> {
    vec![
        // §3.1.1 valid messages
        ("wsinv", Valid),
        // unknown methods: an endpoint answers 501 (§3.1.1.2, §3.1.1.5)
        (
            "intmeth",
            Reject(|e| matches!(e, ParseError::UnknownMethod(_))),
        ),
        ("esc01", Valid),
        ("escnull", Valid),
        (
            "esc02",
            Reject(|e| matches!(e, ParseError::UnknownMethod(_))),
        ),
        ("lwsdisp", Valid),
        ("longreq", Valid), // with max_via raised: it carries 30 Via values
        ("dblreq", Valid),
        // rsip 0.4 cannot parse a ';' in the Request-URI user part: a known gap
        (
            "semiuri",
            Reject(|e| matches!(e, ParseError::Unparseable { .. })),
        ),
        ("transports", Valid),
        ("mpart01", Valid),
        ("unreason", Valid),
        ("noreason", Valid),
        // §3.1.2 invalid messages
        (
            "badinv01",
            Reject(|e| matches!(e, ParseError::BadHeader { .. })),
        ),
        (
            "clerr",
            Reject(|e| matches!(e, ParseError::Truncated { .. })),
        ),
        (
            "ncl",
            Reject(|e| matches!(e, ParseError::BadContentLength { .. })),
        ),
        ("scalar02", Reject(|e| matches!(e, ParseError::BadCSeq))),
        ("scalarlg", Reject(|e| matches!(e, ParseError::BadCSeq))),
        (
            "quotbal",
            Reject(|e| matches!(e, ParseError::BadHeader { .. })),
        ),
        (
            "ltgtruri",
            Reject(|e| matches!(e, ParseError::BadStartLine { .. })),
        ),
        (
            "lwsruri",
            Reject(|e| matches!(e, ParseError::BadStartLine { .. })),
        ),
        (
            "lwsstart",
            Reject(|e| matches!(e, ParseError::BadStartLine { .. })),
        ),
        (
            "trws",
            Reject(|e| matches!(e, ParseError::BadStartLine { .. })),
        ),
        (
            "escruri",
            Reject(|e| matches!(e, ParseError::BadStartLine { .. })),
        ),
        ("baddate", Either),
        ("regbadct", Either),
        ("badaspec", Either),
        ("baddn", Either),
        (
            "badvers",
            Reject(|e| matches!(e, ParseError::UnsupportedVersion)),
        ),
        (
            "mismatch01",
            Reject(|e| matches!(e, ParseError::CSeqMismatch { .. })),
        ),
        // unknown method + mismatching CSeq: 501 preferred over 400
        (
            "mismatch02",
            Reject(|e| matches!(e, ParseError::UnknownMethod(_))),
        ),
        (
            "bigcode",
            Reject(|e| matches!(e, ParseError::BadStartLine { .. })),
        ),
        // §3.2 transaction layer: parsers must not break; the b2bua may reject
        ("badbranch", Valid),
        // §3.3 application layer
        (
            "insuf",
            Reject(|e| matches!(e, ParseError::MissingHeader("From"))),
        ),
        (
            "unkscm",
            Reject(|e| matches!(e, ParseError::UnsupportedUriScheme)),
        ),
        ("novelsc", Valid),
        (
            "unksm2",
            Reject(|e| matches!(e, ParseError::UnsupportedUriScheme)),
        ),
        ("bext01", Valid),
        ("invut", Valid),
        ("regaut01", Valid),
        (
            "multi01",
            Reject(|e| matches!(e, ParseError::DuplicateHeader(_))),
        ),
        (
            "mcl01",
            Reject(|e| matches!(e, ParseError::BadContentLength { .. })),
        ),
        ("bcast", Valid),
        ("zeromf", Valid),
        ("cparam01", Valid),
        ("cparam02", Valid),
        ("regescrt", Valid),
        ("sdp01", Valid),
        // §3.4 RFC 2543 syntax
        ("inv2543", Valid),
    ]
}

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/torture/{name}.dat", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn torture_limits() -> Limits {
    Limits {
        max_via: 64,
        ..Limits::default()
    }
}

#[test]
fn every_rfc4475_message_is_handled_as_the_rfc_says() {
    let table = table();
    assert_eq!(table.len(), 49, "RFC 4475 has 49 messages");
    let on_disk = std::fs::read_dir(format!("{}/tests/torture", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "dat")
        })
        .count();
    assert_eq!(on_disk, 49);
    let mut failures = Vec::new();
    for (name, expect) in &table {
        let bytes = load(name);
        let got = parse_message(&bytes, &torture_limits());
        let ok = match (expect, &got) {
            (Valid, Ok(_)) | (Either, _) => true,
            (Reject(pred), Err(e)) => pred(e),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{name}: expected {expect:?}, got {:?}",
                got.map(|_| ())
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn rejected_requests_that_deserve_an_answer_can_be_peeked() {
    // Requests the RFC says to answer (400/501/505/416) must yield the headers for it.
    for name in [
        "intmeth",
        "esc02",
        "badinv01",
        "clerr",
        "ncl",
        "scalar02",
        "quotbal",
        "ltgtruri",
        "lwsruri",
        "lwsstart",
        "trws",
        "escruri",
        "badvers",
        "mismatch01",
        "mismatch02",
        "unkscm",
        "unksm2",
        "multi01",
        "mcl01",
    ] {
        let bytes = load(name);
        let p = peek(&bytes, &Limits::default()).unwrap_or_else(|| panic!("{name}: no peek"));
        let resp = p.response(400, "Bad Request", Some("x1"));
        let text = String::from_utf8_lossy(&resp);
        assert!(text.starts_with("SIP/2.0 400 Bad Request\r\n"), "{name}");
        assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{name}");
    }
    // insuf lacks From/To/Call-ID: nothing to answer with.
    assert!(peek(&load("insuf"), &Limits::default()).is_none());
    // responses are never answered
    assert!(peek(&load("scalarlg"), &Limits::default()).is_none());
}

#[test]
fn wsinv_is_normalised() {
    use rsip::prelude::*;
    let msg = parse_message(&load("wsinv"), &torture_limits()).unwrap();
    let vias: Vec<_> = msg
        .headers()
        .iter()
        .filter_map(|h| match h {
            rsip::Header::Via(v) => Some(v.typed().unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(
        vias.len(),
        3,
        "one Via line + a compact v: line with two values"
    );
    assert_eq!(
        vias[1].uri.host_with_port.to_string(),
        "spindle.example.com"
    );
    assert_eq!(
        msg.call_id_header().unwrap().value(),
        "wsinv.ndaksdj@192.0.2.1"
    );
    assert_eq!(msg.cseq_header().unwrap().typed().unwrap().seq, 9);
    assert_eq!(msg.body().len(), 150);
    let to = msg.to_header().unwrap().typed().unwrap();
    assert_eq!(to.tag().unwrap().value(), "1918181833n");
    let from = msg.from_header().unwrap().typed().unwrap();
    assert_eq!(from.tag().unwrap().value(), "98asjd8");
}

#[test]
fn dblreq_keeps_only_the_first_request() {
    let msg = parse_message(&load("dblreq"), &torture_limits()).unwrap();
    assert!(msg.body().is_empty());
    let rsip::SipMessage::Request(r) = msg else {
        panic!("request expected")
    };
    assert_eq!(r.method, rsip::Method::Register);
}

#[test]
fn longreq_exceeds_the_default_via_limit() {
    assert_eq!(
        parse_message(&load("longreq"), &Limits::default()).unwrap_err(),
        ParseError::TooManyVia { max: 16 }
    );
}

#[test]
fn mpart01_binary_body_survives_serialization() {
    let bytes = load("mpart01");
    let msg = parse_message(&bytes, &torture_limits()).unwrap();
    assert!(msg.body().contains(&0));
    let out = drawbridge_sip::to_bytes(&msg);
    let again = parse_message(&out, &torture_limits()).unwrap();
    assert_eq!(again.body(), msg.body());
}
