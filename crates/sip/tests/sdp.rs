//! SDP: strict parsing, extraction, the topology-hiding rewrite, and the leak test.

// Helpers outside #[test] fns unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use drawbridge_sip::sdp::{
    Direction, LegOrigin, MediaKind, MediaPorts, Rewrite, SdpError, SessionDescription,
};

const RICH_OFFER: &str = "v=0\r\n\
o=alice.smith 2890844526 2890844527 IN IP4 pc33.lan.example.internal\r\n\
s=Alice's call from 192.168.1.23\r\n\
i=Desk phone in room 4.12\r\n\
u=http://intranet.example.internal/alice\r\n\
e=alice@example.internal\r\n\
p=+49 30 1234567\r\n\
c=IN IP4 192.168.1.23\r\n\
t=0 0\r\n\
a=tool:PBX-Inside 9.1 build 10.0.0.7\r\n\
a=ice-ufrag:F7gI\r\n\
a=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n\
a=ice-options:trickle\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
i=main audio from 10.20.30.40\r\n\
c=IN IP4 10.20.30.40\r\n\
b=AS:64\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=rtcp:49171 IN IP4 10.20.30.41\r\n\
a=candidate:1 1 UDP 2130706431 10.20.30.40 49170 typ host\r\n\
a=candidate:2 1 UDP 1694498815 198.51.100.9 50000 typ srflx raddr 10.20.30.40 rport 49170\r\n\
a=remote-candidates:1 10.20.30.99 5000\r\n\
a=end-of-candidates\r\n\
a=ssrc:1234 cname:alice@10.20.30.40\r\n\
a=x-inside-host:pbx01.example.internal\r\n\
a=sendrecv\r\n\
m=video 51372 RTP/AVP 96\r\n\
c=IN IP6 fd00:1234::23\r\n\
a=rtpmap:96 H264/90000\r\n\
a=fmtp:96 profile-level-id=42e01f\r\n\
a=rtcp:51373 IN IP6 fd00:1234::24\r\n\
a=candidate:1 1 UDP 2130706431 fd00:1234::23 51372 typ host\r\n\
a=recvonly\r\n\
m=audio 0 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

/// Everything of the inside that must not cross.
const INSIDE: &[&str] = &[
    "192.168.1.23",
    "10.20.30.40",
    "10.20.30.41",
    "10.20.30.99",
    "fd00:1234::23",
    "fd00:1234::24",
    "pc33",
    "lan.example.internal",
    "example.internal",
    "alice",
    "Alice",
    "2890844526",
    "PBX-Inside",
    "Desk phone",
    "+49 30",
    "F7gI",
    "x9cml",
    "198.51.100.9",
    "intranet",
    "pbx01",
];

fn offer() -> SessionDescription<'static> {
    SessionDescription::parse(RICH_OFFER.as_bytes()).unwrap()
}

fn ports() -> [MediaPorts; 3] {
    [
        MediaPorts {
            rtp: 30000,
            rtcp: Some(30001),
        },
        MediaPorts {
            rtp: 30002,
            rtcp: Some(30003),
        },
        MediaPorts {
            rtp: 30004,
            rtcp: None,
        },
    ]
}

/// The rewritten text (canonical: it parses and re-serialises unchanged, checked here).
fn rewrite(sdp: &SessionDescription<'_>, address: IpAddr) -> String {
    let out = sdp
        .rewrite(&Rewrite {
            address,
            ports: &ports(),
            username: "-",
            sess_id: 777,
            sess_version: 1,
        })
        .unwrap();
    let again = SessionDescription::parse(out.as_bytes()).unwrap();
    assert_eq!(again.to_string(), out);
    out
}

#[test]
fn rewrite_leaks_no_inside_address_or_identity() {
    for ours in ["203.0.113.5", "2001:db8::5"] {
        let out = rewrite(&offer(), ours.parse().unwrap());
        for needle in INSIDE {
            assert!(
                !out.contains(needle),
                "{needle:?} leaked with {ours}:\n{out}"
            );
        }
        assert!(out.contains(ours));
        // and the result is itself valid SDP that re-serialises byte for byte
        let again = SessionDescription::parse(out.as_bytes()).unwrap();
        assert_eq!(again.to_string(), out);
    }
}

#[test]
fn rewrite_keeps_codecs_directions_and_sets_our_ports() {
    let text = rewrite(&offer(), "203.0.113.5".parse().unwrap());
    assert!(text.starts_with(
        "v=0\r\no=- 777 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n"
    ));
    for kept in [
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        "a=sendrecv",
        "a=recvonly",
        "b=AS:64",
        "a=fmtp:96 profile-level-id=42e01f",
    ] {
        assert!(text.contains(kept), "{kept} missing:\n{text}");
    }
    assert!(text.contains("m=audio 30000 RTP/AVP 0 8 101\r\n"));
    assert!(text.contains("a=rtcp:30001 IN IP4 203.0.113.5\r\n"));
    assert!(text.contains("m=video 30002 RTP/AVP 96\r\n"));
    assert!(text.contains("a=rtcp:30003 IN IP4 203.0.113.5\r\n"));
    // disabled stream stays disabled
    assert!(text.contains("m=audio 0 RTP/AVP 0\r\n"));
    for dropped in [
        "a=candidate",
        "a=ice-",
        "a=end-of-candidates",
        "a=tool",
        "a=ssrc",
        "a=x-inside",
        "i=",
        "u=",
        "e=",
        "p=",
    ] {
        assert!(!text.contains(dropped), "{dropped} kept");
    }
    // only the session-level c= remains
    assert_eq!(text.matches("c=").count(), 1);
    assert!(!text.contains('\n') || text.split("\r\n").all(|l| !l.contains('\n')));
}

#[test]
fn rewrite_needs_one_port_entry_per_media_line() {
    let err = offer()
        .rewrite(&Rewrite {
            address: "203.0.113.5".parse().unwrap(),
            ports: &ports()[..2],
            username: "-",
            sess_id: 1,
            sess_version: 1,
        })
        .unwrap_err();
    assert_eq!(
        err,
        SdpError::PortCount {
            expected: 3,
            got: 2
        }
    );
}

#[test]
fn extraction_for_the_media_layer() {
    let sdp = offer();
    let info = sdp.media_info();
    assert_eq!(info.len(), 3);
    assert_eq!(info[0].kind, MediaKind::Audio);
    assert_eq!(info[1].kind, MediaKind::Video);
    assert_eq!(info[0].port, 49170);
    assert_eq!(sdp.media[0].proto, "RTP/AVP");
    assert_eq!(
        info[0].address,
        Some("10.20.30.40".parse().unwrap()),
        "media c= wins"
    );
    assert_eq!(
        sdp.media[0].payload_types().collect::<Vec<_>>(),
        vec![0, 8, 101]
    );
    assert_eq!(info[0].direction, Direction::SendRecv);
    assert_eq!(info[0].rtcp.unwrap().port, 49171);
    assert_eq!(
        info[0].rtcp.unwrap().address,
        Some("10.20.30.41".parse().unwrap())
    );
    assert!(!info[0].on_hold && !info[0].disabled);
    assert_eq!(info[1].address, Some("fd00:1234::23".parse().unwrap()));
    assert_eq!(info[1].direction, Direction::RecvOnly);
    assert!(info[2].disabled);
    assert_eq!(
        info[2].address,
        Some("192.168.1.23".parse().unwrap()),
        "session c= applies"
    );
}

const HOLD_OLD: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const HOLD_NEW: &str = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=sendonly\r\nm=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\na=inactive\r\n";

#[test]
fn hold_is_detected_and_survives_the_rewrite() {
    let old = SessionDescription::parse(HOLD_OLD.as_bytes()).unwrap();
    assert!(old.media_info()[0].on_hold);
    let out = old
        .rewrite(&Rewrite {
            address: "203.0.113.5".parse().unwrap(),
            ports: &[MediaPorts {
                rtp: 30000,
                rtcp: None,
            }],
            username: "-",
            sess_id: 1,
            sess_version: 1,
        })
        .unwrap();
    assert!(out.contains("m=audio 30000 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\n"));
    assert!(
        SessionDescription::parse(out.as_bytes())
            .unwrap()
            .media_info()[0]
            .on_hold
    );

    let new = SessionDescription::parse(HOLD_NEW.as_bytes()).unwrap();
    let info = new.media_info();
    assert_eq!(
        info[0].direction,
        Direction::SendOnly,
        "session-level direction applies"
    );
    assert!(info[0].on_hold);
    assert_eq!(info[1].direction, Direction::Inactive, "media-level wins");
    assert!(info[1].on_hold);
}

#[test]
fn parser_is_strict() {
    let ok = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert!(SessionDescription::parse(ok.as_bytes()).is_ok());
    assert!(
        SessionDescription::parse(ok.replace("\r\n", "\n").as_bytes()).is_ok(),
        "bare LF"
    );
    let bad: &[(&str, &str)] = &[
        ("no v", "o=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"),
        ("v=1", "v=1\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"),
        ("no o", "v=0\r\ns=-\r\nt=0 0\r\n"),
        ("no s", "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\nt=0 0\r\n"),
        ("no t", "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\n"),
        (
            "o fields",
            "v=0\r\no=- 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n",
        ),
        (
            "o id",
            "v=0\r\no=- x 2 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n",
        ),
        (
            "c family",
            "v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\nc=IN IP4 ::1\r\nt=0 0\r\n",
        ),
        (
            "two c",
            "v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n",
        ),
        (
            "order",
            "v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\nt=0 0\r\nc=IN IP4 1.2.3.4\r\n",
        ),
        (
            "unknown type",
            "v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\nt=0 0\r\nx=1\r\n",
        ),
        (
            "m port",
            "v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n",
        ),
        (
            "m fmt",
            "v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP\r\n",
        ),
        (
            "t in media",
            "v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nt=0 0\r\n",
        ),
        (
            "empty line",
            "v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\n\r\nt=0 0\r\n",
        ),
        ("NUL", "v=0\r\no=- 1 2 IN IP4 h\r\ns=\0\r\nt=0 0\r\n"),
        (
            "not utf8",
            "v=0\r\no=- 1 2 IN IP4 h\r\ns=\u{fffd}\r\nt=0 0\r\n",
        ),
    ];
    for (what, sdp) in bad {
        let bytes = if *what == "not utf8" {
            let mut b = sdp.as_bytes().to_vec();
            let i = b.iter().position(|&c| c == 0xef).unwrap();
            b[i] = 0xff;
            b
        } else {
            sdp.as_bytes().to_vec()
        };
        assert!(
            SessionDescription::parse(&bytes).is_err(),
            "{what} accepted"
        );
    }
}

#[test]
fn round_trip_is_byte_exact() {
    let sdp = offer();
    let text = sdp.to_string();
    assert_eq!(text, RICH_OFFER, "canonical input re-serialises unchanged");
    assert_eq!(SessionDescription::parse(text.as_bytes()).unwrap(), sdp);
}

#[test]
fn output_is_accepted_by_sdp_types_too() {
    let out = rewrite(&offer(), "2001:db8::5".parse().unwrap()).into_bytes();
    let other = sdp_types::Session::parse(&out).unwrap();
    assert_eq!(other.medias.len(), 3);
    assert_eq!(other.origin.unicast_address, "2001:db8::5");
}

#[test]
fn leg_origin_versions() {
    let mut leg = LegOrigin::new(4242, 1);
    let a = offer();
    assert_eq!(leg.version_for(&a.origin), 1);
    assert_eq!(
        leg.version_for(&a.origin),
        1,
        "same SDP re-sent: same version"
    );
    let mut b = a.origin;
    b.sess_version += 1;
    assert_eq!(leg.version_for(&b), 2);
    assert_eq!(leg.version_for(&b), 2);
}

#[test]
fn rewritten_sdp_goes_into_a_message_with_the_right_length() {
    let invite = format!(
        "INVITE sip:bob@198.51.100.7 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bK1\r\n\
f: <sip:alice@10.0.0.7>;tag=1\r\nt: <sip:bob@198.51.100.7>\r\ni: c1\r\nCSeq: 1 INVITE\r\n\
c: application/sdp\r\nl: {}\r\n\r\n{RICH_OFFER}",
        RICH_OFFER.len()
    );
    let mut msg = drawbridge_sip::parse_message(invite.as_bytes(), &Default::default()).unwrap();
    let sdp = SessionDescription::parse(msg.body()).unwrap();
    let out = rewrite(&sdp, "203.0.113.5".parse().unwrap()).into_bytes();
    let len = out.len();
    drawbridge_sip::set_body(&mut msg, out, Some("application/sdp"));
    let wire = drawbridge_sip::to_bytes(&msg);
    let again = drawbridge_sip::parse_message(&wire, &Default::default()).unwrap();
    assert_eq!(again.body().len(), len);
    assert!(String::from_utf8_lossy(&wire).contains(&format!("Content-Length: {len}\r\n")));
}

#[test]
fn leg_origin_notices_a_new_session_id_at_the_same_version() {
    let mut leg = LegOrigin::new(4242, 1);
    let a = offer();
    assert_eq!(leg.version_for(&a.origin), 1);
    let mut b = a.origin;
    b.sess_id = "2890844525";
    assert_eq!(leg.version_for(&b), 2, "other session id");
    b.sess_id = "02890844525";
    assert_eq!(leg.version_for(&b), 3, "leading zero: another id as text");
    assert_eq!(leg.version_for(&b), 3);
    b.sess_id = "99999999999999999999";
    assert_eq!(leg.version_for(&b), 4, "20 digits, above u64");
    assert_eq!(leg.version_for(&b), 4);
}

#[test]
fn media_formats_tolerate_runs_of_spaces_and_serialize_canonically() {
    let text = "v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio  4000  RTP/AVP  0   8 101\r\n";
    let sdp = SessionDescription::parse(text.as_bytes()).unwrap();
    let m = &sdp.media[0];
    assert_eq!((m.media, m.port, m.proto), ("audio", 4000, "RTP/AVP"));
    assert_eq!(m.formats.iter().collect::<Vec<_>>(), ["0", "8", "101"]);
    let canonical = sdp.to_string();
    assert!(canonical.ends_with("m=audio 4000 RTP/AVP 0 8 101\r\n"));
    assert_eq!(
        SessionDescription::parse(canonical.as_bytes()).unwrap(),
        sdp,
        "equal format by format"
    );
}
