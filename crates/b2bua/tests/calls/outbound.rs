//! Outbound calls: PBX → trunk, with the trunk's digest challenge.

// Setup helpers (not #[test] fns) may expect: a panic there is a failed test.
#![allow(clippy::expect_used)]

use std::time::Duration;

use crate::harness::*;

/// The PBX's INVITE to 004930999 (UDP), with rich internal headers.
pub(crate) fn pbx_invite(offer: bool) -> String {
    let head = "INVITE sip:004930999@198.19.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-inv-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice Office\" <sip:201@pbx.corp.example>;tag=pbx-tag-from\r\n\
         To: <sip:004930999@198.19.0.1>\r\n\
         Call-ID: pbx-callid-77@pbx01.corp.example\r\n\
         CSeq: 31 INVITE\r\n\
         Contact: <sip:201@198.19.5.5:5060>\r\n\
         User-Agent: Asterisk PBX 18.1\r\n\
         X-Pbx-Account: 201\r\n\
         Remote-Party-ID: <sip:201@pbx01.corp.example>;party=calling\r\n\
         Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, SUBSCRIBE, NOTIFY, INFO\r\n\
         Supported: replaces, timer\r\n";
    with_body(head, if offer { pbx_sdp_owned() } else { "" })
}

fn pbx_sdp_owned() -> &'static str {
    // Leaked once per test process: fine for tests.
    Box::leak(pbx_sdp(1, "sendrecv").into_boxed_str())
}

/// Drives an outbound call to the 200 sent to the PBX (before the PBX's ACK); with
/// `challenge`, the trunk first answers 407. Returns (last INVITE to trunk, 200 to PBX).
pub(crate) fn answered_outbound(h: &mut Harness, challenge: bool) -> (Sent, Sent) {
    h.pbx_sends(&pbx_invite(true));
    let sent = h.take();
    assert_eq!(sent[0].code(), Some(100));
    let mut invite = sent[1].clone();
    assert_eq!(invite.flow.id.0, TRUNK_FLOW);
    if challenge {
        h.trunk_sends(&trunk_response(
            &invite.request(),
            407,
            "Proxy-Authenticate: Digest realm=\"sip.provider.example\", nonce=\"n0nce42\", qop=\"auth\", algorithm=MD5\r\n",
            "",
        ));
        let sent = h.take_to(TRUNK_FLOW);
        assert_eq!(
            sent[0].method().as_deref(),
            Some("ACK"),
            "hop-by-hop ACK of the 407"
        );
        invite = sent[1].clone();
    }
    h.trunk_sends(&trunk_response(&invite.request(), 183, "", &provider_sdp()));
    h.trunk_sends(&trunk_response(&invite.request(), 200, "", &provider_sdp()));
    let ok = h
        .take()
        .into_iter()
        .find(|s| s.flow.id.0 == PBX_FLOW && s.code() == Some(200))
        .expect("200 to the PBX");
    (invite, ok)
}

#[test]
fn outbound_invite_goes_to_the_trunk_host_with_our_public_identity() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(true));
    let sent = h.take();
    let inv = &sent[1];
    assert_eq!(
        inv.request().uri.to_string(),
        "sip:004930999@sip.provider.example"
    );
    assert!(
        inv.header("Via")
            .unwrap()
            .starts_with("SIP/2.0/TLS sbc.example.com:5061;branch=z9hG4bK")
    );
    assert!(
        inv.header("From")
            .unwrap()
            .starts_with("\"Alice Office\" <sip:201@sbc.example.com>;tag=")
    );
    assert_eq!(
        inv.header("Contact").unwrap(),
        "<sip:sbc.example.com:5061;transport=tls>"
    );
    assert!(inv.header("Remote-Party-ID").is_none());
    assert!(inv.header("X-Pbx-Account").is_none());
    assert!(inv.header("User-Agent").is_none());
    // replaces is dropped; 100rel is ours (we PRACK the trunk's reliable provisionals).
    assert_eq!(inv.header("Supported").as_deref(), Some("timer, 100rel"));
    assert!(inv.body().contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")));
}

#[test]
fn digest_challenge_is_answered_once_with_a_new_cseq_and_branch() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(true));
    let first = h.take()[1].clone();
    h.trunk_sends(&trunk_response(
        &first.request(),
        407,
        "Proxy-Authenticate: Digest realm=\"sip.provider.example\", nonce=\"n0nce42\", qop=\"auth\", algorithm=MD5\r\n",
        "",
    ));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.flow.id.0 == TRUNK_FLOW),
        "the PBX hears nothing of it"
    );
    let retry = &sent[1];
    assert_eq!(retry.header("CSeq").as_deref(), Some("2 INVITE"));
    assert_eq!(retry.header("Call-ID"), first.header("Call-ID"));
    assert_eq!(retry.header("From"), first.header("From"), "same From tag");
    assert_ne!(retry.header("Via"), first.header("Via"), "new branch");
    let auth = retry.header("Proxy-Authorization").unwrap();
    let field = |k: &str| {
        auth.split(',')
            .find_map(|p| {
                p.trim()
                    .trim_start_matches("Digest ")
                    .strip_prefix(&format!("{k}="))
            })
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap()
    };
    assert_eq!(field("username"), "acct-1001");
    assert_eq!(field("realm"), "sip.provider.example");
    assert_eq!(field("uri"), "sip:004930999@sip.provider.example");
    assert_eq!(field("qop"), "auth");
    assert_eq!(field("nc"), "00000001");
    // Independent check of the response (RFC 2617 §3.2.2.1) with an MD5 written here.
    let md5 = |s: String| format!("{:x}", md5_ref(s.as_bytes()));
    let ha1 = md5("acct-1001:sip.provider.example:s3cret".into());
    let ha2 = md5("INVITE:sip:004930999@sip.provider.example".into());
    let expect = md5(format!(
        "{ha1}:n0nce42:00000001:{}:auth:{ha2}",
        field("cnonce")
    ));
    assert_eq!(field("response"), expect);
    // A second challenge is not answered again: the PBX gets 403.
    h.trunk_sends(&trunk_response(
        &retry.request(),
        407,
        "Proxy-Authenticate: Digest realm=\"sip.provider.example\", nonce=\"n0nce43\", qop=\"auth\"\r\n",
        "",
    ));
    let sent = h.take();
    assert!(
        sent.iter()
            .filter(|s| s.flow.id.0 == TRUNK_FLOW)
            .all(|s| s.method().as_deref() == Some("ACK"))
    );
    let to_pbx = sent.iter().find(|s| s.flow.id.0 == PBX_FLOW).unwrap();
    assert_eq!(to_pbx.code(), Some(403));
    assert_eq!(h.b2bua.counters().auth_retries, 1);
}

#[test]
fn early_media_183_with_sdp_reaches_the_pbx_rewritten() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(true));
    let inv = h.take()[1].clone();
    h.trunk_sends(&trunk_response(&inv.request(), 183, "", &provider_sdp()));
    let sent = h.take_to(PBX_FLOW);
    assert_eq!(
        sent[0].text().lines().next(),
        Some("SIP/2.0 183 Session Progress")
    );
    assert!(sent[0].body().contains(&format!("c=IN IP4 {LAN_MEDIA}")));
    assert!(sent[0].header("To").unwrap().contains(";tag="));
}

#[test]
fn forked_provisionals_and_a_late_second_2xx_are_handled() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(true));
    let inv = h.take()[1].clone();
    let r1 = trunk_response(&inv.request(), 180, "", "");
    let r2 = r1.replace("prov-tag-9", "prov-tag-fork2");
    h.trunk_sends(&r1);
    h.trunk_sends(&r2);
    let sent = h.take_to(PBX_FLOW);
    assert_eq!(sent.len(), 2, "both provisionals relayed");
    assert_eq!(
        sent[0].header("To"),
        sent[1].header("To"),
        "one dialog towards the PBX"
    );
    let ok1 = trunk_response(&inv.request(), 200, "", &provider_sdp());
    h.trunk_sends(&ok1);
    h.take();
    // A second fork answers too: ACK it and BYE it; the PBX sees nothing.
    h.trunk_sends(&ok1.replace("prov-tag-9", "prov-tag-fork2"));
    let sent = h.take();
    let m: Vec<_> = sent.iter().map(|s| (s.flow.id.0, s.method())).collect();
    assert_eq!(
        m,
        [
            (TRUNK_FLOW, Some("ACK".into())),
            (TRUNK_FLOW, Some("BYE".into()))
        ]
    );
    assert!(sent[1].header("To").unwrap().contains("prov-tag-fork2"));
    assert_eq!(h.b2bua.calls_active(), 1);
}

#[test]
fn two_xx_to_the_pbx_is_retransmitted_until_its_ack() {
    let mut h = Harness::new();
    let (_inv, ok) = answered_outbound(&mut h, false);
    h.advance(Duration::from_millis(500));
    assert_eq!(
        h.take_to(PBX_FLOW)
            .iter()
            .filter(|s| s.code() == Some(200))
            .count(),
        1
    );
    h.advance(Duration::from_millis(1000));
    assert_eq!(
        h.take_to(PBX_FLOW)
            .iter()
            .filter(|s| s.code() == Some(200))
            .count(),
        1
    );
    h.pbx_sends(&ack_for(
        &ok.text(),
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-ack-1",
        31,
        "",
    ));
    h.advance(Duration::from_secs(60));
    assert!(h.take_to(PBX_FLOW).iter().all(|s| s.code() != Some(200)));
    assert_eq!(h.b2bua.calls_active(), 1);
}

#[test]
fn missing_ack_hangs_up_both_legs_after_64_t1() {
    let mut h = Harness::new();
    answered_outbound(&mut h, false);
    h.take();
    h.advance(Duration::from_secs(33));
    let sent = h.take();
    let mut byes: Vec<_> = sent
        .iter()
        .filter(|s| s.method().as_deref() == Some("BYE"))
        .map(|s| s.flow.id.0)
        .collect();
    byes.sort_unstable();
    byes.dedup(); // the UDP BYE is retransmitted (Timer E)
    assert_eq!(byes, [PBX_FLOW, TRUNK_FLOW]);
    assert_eq!(h.b2bua.calls_active(), 0);
}

#[test]
fn delayed_offer_ack_carries_the_answer_to_the_trunk() {
    let mut h = Harness::new();
    h.pbx_sends(&pbx_invite(false));
    let inv = h.take()[1].clone();
    assert!(inv.body().is_empty());
    h.trunk_sends(&trunk_response(&inv.request(), 200, "", &provider_sdp()));
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.method().as_deref() != Some("ACK")),
        "ACK waits for the answer"
    );
    let ok = sent
        .iter()
        .find(|s| s.flow.id.0 == PBX_FLOW && s.code() == Some(200))
        .unwrap();
    assert!(ok.body().contains(&format!("c=IN IP4 {LAN_MEDIA}")));
    h.pbx_sends(&ack_for(
        &ok.text(),
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-ack-1",
        31,
        &pbx_sdp(1, "sendrecv"),
    ));
    let sent = h.take_to(TRUNK_FLOW);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method().as_deref(), Some("ACK"));
    assert!(
        sent[0].body().contains(&format!("c=IN IP4 {PUBLIC_MEDIA}")),
        "{}",
        sent[0].text()
    );
}

/// A small MD5 (RFC 1321) so the digest check does not reuse the crate's dependency.
pub(crate) fn md5_ref(input: &[u8]) -> u128 {
    let s: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
        .collect();
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut msg = input.to_vec();
    let bits = (input.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i {
                0..=15 => ((b & c) | (!b & d), i),
                16..=31 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                32..=47 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(s[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&a0.to_le_bytes());
    out[4..8].copy_from_slice(&b0.to_le_bytes());
    out[8..12].copy_from_slice(&c0.to_le_bytes());
    out[12..].copy_from_slice(&d0.to_le_bytes());
    u128::from_be_bytes(out)
}
