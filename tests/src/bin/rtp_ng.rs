//! Sets up N calls on rtpengine through its ng control protocol (bencode over UDP), for the
//! RTP relay benchmark: the counterpart of `rtp-relay-server` creating calls through
//! drawbridge's Rust API. Each call is an `offer` (caller's SDP) and an `answer` (callee's).
//!
//! Usage:
//!   rtp-ng NG_ADDR CALLS A_REMOTE B_REMOTE OUT_DIR TAG
//!
//! Writes `OUT_DIR/ports-a.txt` (per call, the relay port the caller sends to: from the
//! answer) and `ports-b.txt` (where the callee sends: from the offer), the same files
//! `rtp-relay-server` writes, and prints `READY calls=N setup_secs=..`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench tool: failing loudly is the point

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

/// A bencoded dictionary of strings (keys sorted, as bencode requires).
fn bencode(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut sorted = pairs.to_vec();
    sorted.sort_by_key(|(k, _)| *k);
    let mut out = b"d".to_vec();
    for (k, v) in sorted {
        out.extend(format!("{}:{k}{}:", k.len(), v.len()).as_bytes());
        out.extend(v.as_bytes());
    }
    out.push(b'e');
    out
}

fn sdp(addr: SocketAddr) -> String {
    let ip = addr.ip();
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        addr.port()
    )
}

/// Sends one command and returns the port of `m=audio` in the reply's SDP.
fn command(sock: &UdpSocket, ng: SocketAddr, cookie: &str, msg: &[u8]) -> u16 {
    let mut packet = format!("{cookie} ").into_bytes();
    packet.extend(msg);
    let mut buf = vec![0u8; 65536];
    for _attempt in 0..3 {
        sock.send_to(&packet, ng).unwrap();
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue; // timeout: rtpengine answers retransmissions from its cookie cache
        };
        let reply = String::from_utf8_lossy(&buf[..n]);
        let Some(body) = reply.strip_prefix(&format!("{cookie} ")) else {
            continue; // a late reply to an earlier request
        };
        assert!(body.contains("6:result2:ok"), "rtpengine refused: {body}");
        let at = body.find("m=audio ").expect("no m=audio in reply") + 8;
        return body[at..]
            .split(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("m=audio port");
    }
    panic!("rtpengine did not answer {ng}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 7 {
        eprintln!("usage: rtp-ng NG_ADDR CALLS A_REMOTE B_REMOTE OUT_DIR TAG");
        std::process::exit(2);
    }
    let ng: SocketAddr = args[1].parse().unwrap();
    let calls: usize = args[2].parse().unwrap();
    assert!(calls <= 9000, "at most 9000 calls");
    let a: SocketAddr = args[3].parse().unwrap();
    let b: SocketAddr = args[4].parse().unwrap();
    let out = Path::new(&args[5]);
    let tag = &args[6];
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (sdp_a, sdp_b) = (sdp(a), sdp(b));
    let (mut ports_a, mut ports_b) = (String::new(), String::new());
    let t0 = Instant::now();
    for i in 0..calls {
        let call_id = format!("{tag}-{i}");
        let offer = bencode(&[
            ("command", "offer"),
            ("call-id", &call_id),
            ("from-tag", "f"),
            ("sdp", &sdp_a),
        ]);
        let port_b = command(&sock, ng, &format!("{call_id}-o"), &offer);
        let answer = bencode(&[
            ("command", "answer"),
            ("call-id", &call_id),
            ("from-tag", "f"),
            ("to-tag", "t"),
            ("sdp", &sdp_b),
        ]);
        let port_a = command(&sock, ng, &format!("{call_id}-a"), &answer);
        let _ = writeln!(ports_a, "{port_a}");
        let _ = writeln!(ports_b, "{port_b}");
    }
    std::fs::write(out.join("ports-a.txt"), ports_a).unwrap();
    std::fs::write(out.join("ports-b.txt"), ports_b).unwrap();
    println!(
        "READY calls={calls} setup_secs={:.2}",
        t0.elapsed().as_secs_f64()
    );
}
