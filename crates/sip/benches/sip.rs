//! Rough throughput numbers (`cargo bench -p drawbridge-sip`), printed as a table.
//! No criterion: a few timed loops are enough to see whether signalling could ever matter.

// A benchmark is a test harness: a panic is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use drawbridge_sip::sdp::{MediaPorts, Rewrite, SessionDescription};
use drawbridge_sip::{Frame, Limits, StreamFramer, parse_message, to_bytes};

const SDP: &str = "v=0\r\n\
o=alice 2890844526 2890844527 IN IP4 10.0.0.7\r\n\
s=-\r\n\
c=IN IP4 10.0.0.7\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=rtcp-mux\r\n\
a=rtcp:49171 IN IP4 10.0.0.7\r\n\
a=sendrecv\r\n";

fn invite() -> String {
    format!(
        "INVITE sip:bob@198.51.100.7 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@10.0.0.7>;tag=1928301774\r\n\
To: <sip:bob@198.51.100.7>\r\n\
Call-ID: a84b4c76e66710@10.0.0.7\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@10.0.0.7:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n\
User-Agent: Bench/1.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

fn time<F: FnMut()>(name: &str, bytes_per_iter: usize, mut f: F) {
    for _ in 0..200 {
        f();
    }
    let mut iters = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(700) {
        for _ in 0..100 {
            f();
        }
        iters += 100;
    }
    let per = start.elapsed().as_secs_f64() / iters as f64;
    let mbs = bytes_per_iter as f64 / per / 1e6;
    println!(
        "| {name:<38} | {:>9.2} µs | {:>10.0} /s | {mbs:>8.1} MB/s |",
        per * 1e6,
        1.0 / per
    );
}

fn main() {
    let inv = invite();
    let limits = Limits::default();
    println!("message: {} bytes (SDP {} bytes)\n", inv.len(), SDP.len());
    println!(
        "| what                                   |   per op    |    ops/s      |  throughput  |"
    );
    println!(
        "|----------------------------------------|-------------|---------------|--------------|"
    );
    time("rsip alone: SipMessage::try_from", inv.len(), || {
        black_box(rsip::SipMessage::try_from(black_box(inv.as_bytes())).unwrap());
    });
    time(
        "parse_message (pre-pass + rsip + checks)",
        inv.len(),
        || {
            black_box(parse_message(black_box(inv.as_bytes()), &limits).unwrap());
        },
    );
    time("parse_message + to_bytes", inv.len(), || {
        let m = parse_message(black_box(inv.as_bytes()), &limits).unwrap();
        black_box(to_bytes(&m));
    });
    let compact = inv
        .replace("Via:", "v:")
        .replace("From:", "f:")
        .replace("To:", "t:")
        .replace("Call-ID:", "i:")
        .replace("Content-Length:", "l:");
    time("parse_message, compact forms", compact.len(), || {
        black_box(parse_message(black_box(compact.as_bytes()), &limits).unwrap());
    });
    let ports = [MediaPorts {
        rtp: 30000,
        rtcp: None,
    }];
    time("SDP parse + rewrite + serialize", SDP.len(), || {
        let s = SessionDescription::parse(black_box(SDP.as_bytes())).unwrap();
        let mut out = String::new();
        s.rewrite_into(
            &Rewrite {
                address: "203.0.113.5".parse().unwrap(),
                ports: &ports,
                username: "-",
                sess_id: 1,
                sess_version: 1,
            },
            &mut out,
        )
        .unwrap();
        black_box(out.into_bytes());
    });
    let stream: Vec<u8> = inv.repeat(64).into_bytes();
    time(
        "framer: 64 messages, 1400-byte chunks",
        stream.len(),
        || {
            let mut f = StreamFramer::new(limits);
            let mut n = 0;
            for chunk in stream.chunks(1400) {
                f.feed(chunk).unwrap();
                while let Some(fr) = f.next_frame().unwrap() {
                    if let Frame::Message(m) = fr {
                        n += m.len();
                    }
                }
            }
            assert_eq!(n, stream.len());
        },
    );
}
