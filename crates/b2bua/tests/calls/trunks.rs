//! Trunk maintenance: OPTIONS keep-alives and the trunk account's REGISTER, on a virtual
//! clock, asserting on the requests sent to the trunk.

// Setup helpers (not #[test] fns) may expect: a panic there is a failed test.
#![allow(clippy::expect_used)]
use std::time::Duration;

use drawbridge_b2bua::{B2buaConfig, B2buaEvent, TrunkDownReason};

use crate::harness::*;
use crate::outbound::md5_ref;

fn config_with(options: Option<u64>, register: Option<u32>) -> B2buaConfig {
    let mut c = config();
    c.trunks[0].options_interval = options.map(Duration::from_secs);
    c.trunks[0].register_expires = register;
    c
}

fn trunk_events(h: &mut Harness) -> Vec<B2buaEvent> {
    std::mem::take(&mut h.events)
}

fn only_request(sent: Vec<Sent>, method: &str) -> Sent {
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let s = sent.into_iter().next().expect("one message");
    assert_eq!(s.method().as_deref(), Some(method), "{}", s.text());
    assert_eq!(s.flow.id.0, TRUNK_FLOW, "sent on the trunk's flow");
    s
}

fn assert_nothing_of_the_lan(h: &Harness) {
    let all = h.all_bytes_to(TRUNK_FLOW);
    for secret in PBX_SECRETS {
        assert!(
            !all.contains(secret),
            "{secret:?} leaked to the trunk:\n{all}"
        );
    }
}

#[test]
fn options_keepalive_tracks_the_trunk_up_and_down() {
    let mut h = Harness::with_config(config_with(Some(30), None));
    assert_eq!(h.b2bua.trunk_up(0), None);
    h.start();
    let first = only_request(h.take(), "OPTIONS");
    let req = first.request();
    assert_eq!(req.uri.to_string(), "sip:sip.provider.example");
    assert!(
        first
            .header("Via")
            .unwrap()
            .starts_with("SIP/2.0/TLS sbc.example.com:5061;branch=z9hG4bK"),
        "{}",
        first.text()
    );
    assert!(
        first
            .header("From")
            .unwrap()
            .contains("sip:sbc.example.com")
    );
    assert!(first.header("From").unwrap().contains("tag="));
    assert_eq!(
        first.header("To").as_deref(),
        Some("<sip:sip.provider.example>")
    );
    assert_eq!(first.header("CSeq").as_deref(), Some("1 OPTIONS"));
    assert_eq!(h.b2bua.trunk_up(0), None, "unknown until it answers");

    h.trunk_sends(&trunk_response(&req, 200, "", ""));
    assert_eq!(trunk_events(&mut h), vec![B2buaEvent::TrunkUp { trunk: 0 }]);
    assert_eq!(h.b2bua.trunk_up(0), Some(true));

    // Nothing before the interval; the next one at 30 s, same Call-ID, next CSeq.
    h.advance(Duration::from_millis(29_999));
    assert!(h.take().is_empty());
    h.advance(Duration::from_millis(1));
    let second = only_request(h.take(), "OPTIONS");
    assert_eq!(second.at_ms, 30_000);
    assert_eq!(second.header("CSeq").as_deref(), Some("2 OPTIONS"));
    assert_eq!(second.header("Call-ID"), first.header("Call-ID"));
    assert_ne!(
        second.header("Via"),
        first.header("Via"),
        "a new transaction"
    );

    // A 4xx is still an answer: up, and no event since nothing changed.
    h.trunk_sends(&trunk_response(&second.request(), 404, "", ""));
    assert!(trunk_events(&mut h).is_empty());

    // The third gets no answer: Timer F (64*T1 = 32 s) marks the trunk down. The
    // interval passing meanwhile does not stack a second OPTIONS.
    h.advance(Duration::from_secs(30));
    let third = only_request(h.take(), "OPTIONS");
    h.advance(Duration::from_secs(31));
    assert!(h.take().is_empty(), "no OPTIONS while one is outstanding");
    assert_eq!(h.b2bua.trunk_up(0), Some(true));
    h.advance(Duration::from_secs(1));
    assert_eq!(
        trunk_events(&mut h),
        vec![B2buaEvent::TrunkDown {
            trunk: 0,
            reason: TrunkDownReason::Timeout
        }]
    );
    assert_eq!(h.b2bua.trunk_up(0), Some(false));
    assert_eq!(third.header("CSeq").as_deref(), Some("3 OPTIONS"));

    // It comes back: the next answered OPTIONS brings it up again.
    h.advance(Duration::from_secs(30));
    let fourth = only_request(h.take(), "OPTIONS");
    assert_eq!(fourth.at_ms, 120_000);
    h.trunk_sends(&trunk_response(&fourth.request(), 200, "", ""));
    assert_eq!(trunk_events(&mut h), vec![B2buaEvent::TrunkUp { trunk: 0 }]);
    assert_nothing_of_the_lan(&h);
    assert_eq!(h.b2bua.calls_active(), 0);
}

#[test]
fn a_transport_error_marks_the_trunk_down_at_once() {
    let mut h = Harness::with_config(config_with(Some(30), None));
    h.start();
    let first = only_request(h.take(), "OPTIONS");
    h.transport_error(first.transaction.expect("sent by a client transaction"));
    assert_eq!(
        trunk_events(&mut h),
        vec![B2buaEvent::TrunkDown {
            trunk: 0,
            reason: TrunkDownReason::TransportError
        }]
    );
    assert_eq!(h.b2bua.trunk_up(0), Some(false));
    // Still probed at the interval; a reconnection probes at once.
    h.advance(Duration::from_secs(5));
    assert!(h.take().is_empty());
    h.set_trunk_flow(trunk_flow());
    let probe = only_request(h.take(), "OPTIONS");
    assert_eq!(probe.at_ms, 5_000);
}

#[test]
fn responses_to_a_keepalive_from_another_source_are_ignored() {
    let mut h = Harness::with_config(config_with(Some(30), None));
    h.start();
    let first = only_request(h.take(), "OPTIONS");
    h.deliver(
        &trunk_response(&first.request(), 200, "", ""),
        rogue_flow(),
        drawbridge_b2bua::Side::trunk(0),
    );
    assert_eq!(h.b2bua.trunk_up(0), None);
    assert!(
        h.events
            .iter()
            .all(|e| !matches!(e, B2buaEvent::TrunkUp { .. }))
    );
}

#[test]
fn without_an_interval_or_start_nothing_is_sent() {
    let mut h = Harness::with_config(config_with(None, None));
    h.start();
    h.advance(Duration::from_secs(3600));
    assert!(h.take().is_empty());
    assert_eq!(h.b2bua.trunk_up(0), None);
    assert_eq!(h.b2bua.trunk_registered(0), None);
    // Configured but never started: the core sends nothing on its own.
    let mut h = Harness::with_config(config_with(Some(30), Some(3600)));
    h.advance(Duration::from_secs(3600));
    assert!(h.take().is_empty());
}

fn digest_field(auth: &str, k: &str) -> String {
    auth.split(',')
        .find_map(|p| {
            p.trim()
                .trim_start_matches("Digest ")
                .strip_prefix(&format!("{k}="))
        })
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no {k} in {auth}"))
}

#[test]
fn register_answers_the_challenge_and_refreshes_at_half_the_granted_expiry() {
    let mut h = Harness::with_config(config_with(None, Some(3600)));
    h.start();
    let first = only_request(h.take(), "REGISTER");
    assert_eq!(first.request().uri.to_string(), "sip:sip.provider.example");
    assert_eq!(
        first.header("To").as_deref(),
        Some("<sip:acct-1001@sip.provider.example>")
    );
    assert!(
        first
            .header("From")
            .unwrap()
            .starts_with("<sip:acct-1001@sip.provider.example>;tag=")
    );
    assert_eq!(
        first.header("Contact").as_deref(),
        Some("<sip:acct-1001@sbc.example.com:5061;transport=tls>")
    );
    assert_eq!(first.header("Expires").as_deref(), Some("3600"));
    assert_eq!(first.header("CSeq").as_deref(), Some("1 REGISTER"));

    h.trunk_sends(&trunk_response(
        &first.request(),
        401,
        "WWW-Authenticate: Digest realm=\"sip.provider.example\", nonce=\"regnonce1\", qop=\"auth\", algorithm=MD5\r\n",
        "",
    ));
    let retry = only_request(h.take(), "REGISTER");
    assert_eq!(retry.header("CSeq").as_deref(), Some("2 REGISTER"));
    assert_eq!(retry.header("Call-ID"), first.header("Call-ID"));
    assert_eq!(retry.header("From"), first.header("From"));
    let auth = retry.header("Authorization").expect("answers the 401");
    assert_eq!(digest_field(&auth, "username"), "acct-1001");
    assert_eq!(digest_field(&auth, "uri"), "sip:sip.provider.example");
    let md5 = |s: String| format!("{:032x}", md5_ref(s.as_bytes()));
    let ha1 = md5("acct-1001:sip.provider.example:s3cret".into());
    let ha2 = md5("REGISTER:sip:sip.provider.example".into());
    let expect = md5(format!(
        "{ha1}:regnonce1:00000001:{}:auth:{ha2}",
        digest_field(&auth, "cnonce")
    ));
    assert_eq!(digest_field(&auth, "response"), expect);
    assert!(trunk_events(&mut h).is_empty());

    // The provider grants less than asked, on our Contact.
    h.trunk_sends(&trunk_response(
        &retry.request(),
        200,
        "Contact: <sip:acct-1001@sbc.example.com:5061;transport=tls>;expires=1800\r\nExpires: 3600\r\n",
        "",
    ));
    assert_eq!(
        trunk_events(&mut h),
        vec![B2buaEvent::TrunkRegistered {
            trunk: 0,
            expires: 1800
        }]
    );
    assert_eq!(h.b2bua.trunk_registered(0), Some(true));

    h.advance(Duration::from_secs(899));
    assert!(h.take().is_empty());
    h.advance(Duration::from_secs(1));
    let refresh = only_request(h.take(), "REGISTER");
    assert_eq!(refresh.at_ms, 900_000);
    assert_eq!(refresh.header("CSeq").as_deref(), Some("3 REGISTER"));
    assert_eq!(refresh.header("Call-ID"), first.header("Call-ID"));

    // A refusal: reported, and retried after 30 s, then 60 s.
    h.trunk_sends(&trunk_response(&refresh.request(), 403, "", ""));
    assert_eq!(
        trunk_events(&mut h),
        vec![B2buaEvent::TrunkRegistrationFailed {
            trunk: 0,
            status: 403
        }]
    );
    assert_eq!(h.b2bua.trunk_registered(0), Some(false));
    h.advance(Duration::from_secs(30));
    let again = only_request(h.take(), "REGISTER");
    assert_eq!(again.at_ms, 930_000);
    h.trunk_sends(&trunk_response(&again.request(), 403, "", ""));
    h.advance(Duration::from_secs(59));
    assert!(h.take().is_empty());
    h.advance(Duration::from_secs(1));
    only_request(h.take(), "REGISTER");
    assert_nothing_of_the_lan(&h);
}

#[test]
fn a_second_challenge_fails_the_registration() {
    let mut h = Harness::with_config(config_with(None, Some(3600)));
    h.start();
    let first = only_request(h.take(), "REGISTER");
    let challenge = "WWW-Authenticate: Digest realm=\"sip.provider.example\", nonce=\"n1\"\r\n";
    h.trunk_sends(&trunk_response(&first.request(), 401, challenge, ""));
    let retry = only_request(h.take(), "REGISTER");
    h.trunk_sends(&trunk_response(&retry.request(), 401, challenge, ""));
    assert!(
        h.take().is_empty(),
        "wrong credentials are not tried again at once"
    );
    assert_eq!(
        trunk_events(&mut h),
        vec![B2buaEvent::TrunkRegistrationFailed {
            trunk: 0,
            status: 401
        }]
    );
}

#[test]
fn interval_too_brief_is_retried_with_the_minimum() {
    let mut h = Harness::with_config(config_with(None, Some(60)));
    h.start();
    let first = only_request(h.take(), "REGISTER");
    assert_eq!(first.header("Expires").as_deref(), Some("60"));
    h.trunk_sends(&trunk_response(
        &first.request(),
        423,
        "Min-Expires: 600\r\n",
        "",
    ));
    h.advance(Duration::ZERO);
    let second = only_request(h.take(), "REGISTER");
    assert_eq!(second.header("Expires").as_deref(), Some("600"));
    h.trunk_sends(&trunk_response(&second.request(), 200, "", ""));
    assert_eq!(
        trunk_events(&mut h),
        vec![B2buaEvent::TrunkRegistered {
            trunk: 0,
            expires: 600
        }]
    );
}

#[test]
fn an_unanswered_register_fails_with_408_and_a_new_connection_re_registers() {
    let mut h = Harness::with_config(config_with(None, Some(3600)));
    h.start();
    only_request(h.take(), "REGISTER");
    h.advance(Duration::from_secs(32));
    assert_eq!(
        trunk_events(&mut h),
        vec![B2buaEvent::TrunkRegistrationFailed {
            trunk: 0,
            status: 408
        }]
    );
    // The connection is re-established: register over it without waiting the backoff.
    h.advance(Duration::from_secs(1));
    h.set_trunk_flow(trunk_flow());
    let again = only_request(h.take(), "REGISTER");
    assert_eq!(again.at_ms, 33_000);
}

#[test]
fn a_call_to_the_registered_contact_goes_to_the_number_in_to() {
    let invite = trunk_invite().replacen(
        "INVITE sip:+4930123456@sbc.example.com:5061;transport=tls",
        "INVITE sip:acct-1001@sbc.example.com:5061;transport=tls",
        1,
    );
    // Registering: the account name in the Request-URI means "look at To".
    let mut h = Harness::with_config(config_with(None, Some(3600)));
    h.start();
    h.take();
    h.trunk_sends(&invite);
    let to_pbx = h.take_to(PBX_FLOW);
    assert_eq!(
        to_pbx[0].request().uri.to_string(),
        "sip:+4930123456@pbx.corp.example"
    );
    // A worker that does not run the registration itself (several signalling workers:
    // only one calls `start`) routes the same way: it is the configuration that counts.
    let mut h = Harness::with_config(config_with(None, Some(3600)));
    h.trunk_sends(&invite);
    let to_pbx = h.take_to(PBX_FLOW);
    assert_eq!(
        to_pbx[0].request().uri.to_string(),
        "sip:+4930123456@pbx.corp.example"
    );
    // Not registering: the Request-URI user is the callee, as always.
    let mut h = Harness::new();
    h.trunk_sends(&invite);
    let to_pbx = h.take_to(PBX_FLOW);
    assert_eq!(
        to_pbx[0].request().uri.to_string(),
        "sip:acct-1001@pbx.corp.example"
    );
}

#[test]
fn a_new_connection_abandons_what_is_outstanding_on_the_old_one() {
    let mut h = Harness::with_config(config_with(Some(30), Some(3600)));
    h.start();
    let old = h.take();
    assert_eq!(old.len(), 2, "OPTIONS and REGISTER: {old:#?}");
    h.advance(Duration::from_secs(2));
    let new_flow = drawbridge_b2bua::Flow::new(
        21,
        trunk_flow().remote,
        drawbridge_b2bua::TransportKind::Tls,
    );
    h.set_trunk_flow(new_flow);
    let sent = h.take();
    let methods: Vec<_> = sent.iter().filter_map(Sent::method).collect();
    assert_eq!(methods, vec!["OPTIONS".to_owned(), "REGISTER".to_owned()]);
    assert!(sent.iter().all(|s| s.flow.id.0 == 21), "{sent:#?}");
    // The old ones time out without a word; the new ones decide.
    h.advance(Duration::from_secs(31));
    assert!(trunk_events(&mut h).is_empty(), "{:?}", h.events);
    let ok = |s: &Sent| trunk_response(&s.request(), 200, "", "");
    h.deliver(&ok(&sent[0]), new_flow, drawbridge_b2bua::Side::trunk(0));
    h.deliver(&ok(&sent[1]), new_flow, drawbridge_b2bua::Side::trunk(0));
    assert_eq!(
        trunk_events(&mut h),
        vec![
            B2buaEvent::TrunkUp { trunk: 0 },
            B2buaEvent::TrunkRegistered {
                trunk: 0,
                expires: 3600
            }
        ]
    );
    // A late answer to the abandoned REGISTER changes nothing.
    h.trunk_sends(&ok(&old[1]));
    assert!(trunk_events(&mut h).is_empty());
}

#[test]
fn keepalives_and_register_to_an_ipv6_literal_trunk_bracket_its_address() {
    let mut c = config_with(Some(30), Some(3600));
    c.trunks[0].host = "2001:db8::5".into();
    c.trunks[0].advertised.host = "2001:db8::1".into();
    let mut h = Harness::with_config(c);
    h.start();
    let sent = h.take();
    let methods: Vec<_> = sent.iter().filter_map(Sent::method).collect();
    assert!(methods.contains(&"OPTIONS".to_owned()), "{methods:?}");
    assert!(methods.contains(&"REGISTER".to_owned()), "{methods:?}");
    for s in &sent {
        let text = s.text();
        // Every message the core sent re-parsed (the harness parses them); the URIs and
        // Via must carry the address in brackets.
        assert!(text.contains(" sip:[2001:db8::5] SIP/2.0"), "{text}");
        assert!(text.contains("SIP/2.0/TLS [2001:db8::1]:5061;"), "{text}");
        assert!(!text.contains("sip:2001:db8"), "{text}");
    }
}
