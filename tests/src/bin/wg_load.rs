//! WireGuard load generator for the tunnel benchmark: N client peers (boringtun) behind one
//! UDP socket send 160-byte UDP payloads to an echo service inside the tunnel and count the
//! echoes. The same client drives drawbridge and wireguard-go, so the ratio compares the
//! servers, not the clients. Also an `echo` mode: the UDP echo that sits behind
//! wireguard-go's TUN address.
//!
//! Usage:
//!   wg-load echo LISTEN_ADDR SECS
//!   wg-load run SERVER_PUBKEY ENDPOINT KEYS_FILE TARGET SECS [WINDOW]
//! KEYS_FILE has one peer per line: `<private key base64> <inner IPv4 address>`.
//! Every loop is bounded in time; sends only to ENDPOINT (a lab address).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench tool: failing loudly is the point

use std::io::IoSliceMut;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use drawbridge_tunnel::keys;
use quinn_udp::{RecvMeta, Transmit, UdpSocketState};

const PAYLOAD: usize = 160;
const INNER: usize = 20 + 8 + PAYLOAD;
const OUTER: usize = INNER + 32;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("echo") => echo(&args[2], args[3].parse().unwrap()),
        Some("run") => run(
            &args[2],
            args[3].parse().unwrap(),
            &args[4],
            args[5].parse().unwrap(),
            args[6].parse().unwrap(),
            args.get(7).map_or(256, |w| w.parse().unwrap()),
        ),
        _ => {
            eprintln!(
                "usage: wg-load echo LISTEN SECS | wg-load run PUBKEY ENDPOINT KEYS TARGET SECS [WINDOW]"
            );
            std::process::exit(2);
        }
    }
}

fn echo(listen: &str, secs: u64) {
    let sock = UdpSocket::bind(listen).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let state = UdpSocketState::new((&sock).into()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut storage = vec![[0u8; 2048]; quinn_udp::BATCH_SIZE];
    let mut meta = vec![RecvMeta::default(); quinn_udp::BATCH_SIZE];
    while Instant::now() < deadline {
        let mut bufs: Vec<IoSliceMut<'_>> =
            storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let Ok(n) = state.recv((&sock).into(), &mut bufs, &mut meta) else {
            continue;
        };
        for (m, b) in meta.iter().zip(bufs.iter()).take(n) {
            let _ = sock.send_to(&b[..m.len], m.addr);
        }
    }
}

struct Peer {
    tunn: Tunn,
    inner: Ipv4Addr,
    up: bool,
}

fn inner_packet(src: Ipv4Addr, dst: SocketAddr, sport: u16, seq: u64, out: &mut [u8; INNER]) {
    let SocketAddr::V4(dst) = dst else {
        panic!("IPv4 target only")
    };
    out.fill(0);
    out[0] = 0x45;
    out[2..4].copy_from_slice(&(INNER as u16).to_be_bytes());
    out[8] = 64;
    out[9] = 17;
    out[12..16].copy_from_slice(&src.octets());
    out[16..20].copy_from_slice(&dst.ip().octets());
    let sum = out[..20]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    out[10..12].copy_from_slice(&sum.to_be_bytes());
    out[20..22].copy_from_slice(&sport.to_be_bytes());
    out[22..24].copy_from_slice(&dst.port().to_be_bytes());
    out[24..26].copy_from_slice(&((8 + PAYLOAD) as u16).to_be_bytes());
    // UDP checksum 0 = none (allowed for IPv4).
    out[28..36].copy_from_slice(&seq.to_le_bytes());
}

fn run(
    server_pub: &str,
    endpoint: SocketAddr,
    keys_file: &str,
    target: SocketAddr,
    secs: u64,
    window: usize,
) {
    let server = PublicKey::from(keys::decode(server_pub).unwrap());
    let mut peers: Vec<Peer> = std::fs::read_to_string(keys_file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            let (k, a) = l.split_once(' ').unwrap();
            let sk = StaticSecret::from(keys::decode(k).unwrap());
            Peer {
                tunn: Tunn::new(sk, server, None, None, u32::try_from(i + 1).unwrap(), None),
                inner: a.trim().parse().unwrap(),
                up: false,
            }
        })
        .collect();
    let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(2)))
        .unwrap();
    let state = UdpSocketState::new((&sock).into()).unwrap();
    let _ = state.set_recv_buffer_size((&sock).into(), 8 << 20);
    let _ = state.set_send_buffer_size((&sock).into(), 8 << 20);
    let gso = state.max_gso_segments().clamp(1, 64);
    let mut storage = vec![[0u8; 65_536]; 4];
    let mut meta = vec![RecvMeta::default(); 4];
    let mut scratch = vec![0u8; 65_536];

    // Handshakes, retried every second, for at most 20 s.
    let hs_start = Instant::now();
    let mut next_retry = Instant::now();
    while peers.iter().any(|p| !p.up) && hs_start.elapsed() < Duration::from_secs(20) {
        if Instant::now() >= next_retry {
            for p in peers.iter_mut().filter(|p| !p.up) {
                if let TunnResult::WriteToNetwork(b) =
                    p.tunn.format_handshake_initiation(&mut scratch, true)
                {
                    let _ = sock.send_to(b, endpoint);
                }
            }
            next_retry = Instant::now() + Duration::from_secs(1);
        }
        receive(
            &state,
            &sock,
            &mut storage,
            &mut meta,
            &mut scratch,
            &mut peers,
            endpoint,
            &mut |_| {},
        );
    }
    let handshake_secs = hs_start.elapsed().as_secs_f64();
    let up = peers.iter().filter(|p| p.up).count();

    // Data: keep `window` echoes in flight, sent in GSO batches, round-robin over peers.
    let mut inner = [0u8; INNER];
    let mut batch = vec![0u8; OUTER * gso];
    let (mut sent, mut echoed, mut lost) = (0u64, 0u64, 0u64);
    // Outstanding sequence numbers in send order; an echo marks its slot, and a packet
    // unanswered for LOST_AFTER counts as lost, which reopens the window.
    const LOST_AFTER: Duration = Duration::from_millis(100);
    let mut outstanding: std::collections::VecDeque<(u64, Instant)> =
        std::collections::VecDeque::new();
    let mut answered = vec![false; 1 << 16];
    let mut next = 0usize;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    while Instant::now() < deadline && up > 0 {
        let now = Instant::now();
        while let Some(&(seq, at)) = outstanding.front() {
            let slot = usize::try_from(seq).unwrap_or(0) & 0xffff;
            if answered[slot] {
                answered[slot] = false;
            } else if now.duration_since(at) > LOST_AFTER {
                lost += 1;
            } else {
                break;
            }
            outstanding.pop_front();
        }
        let inflight = usize::try_from(sent.saturating_sub(echoed + lost)).unwrap_or(0);
        let room = window.saturating_sub(inflight).min(gso);
        let mut filled = 0;
        while filled < room {
            next = (next + 1) % peers.len();
            let p = &mut peers[next];
            if !p.up {
                continue;
            }
            let seq = sent + filled as u64;
            let sport = 40_000 + u16::try_from(next % 20_000).unwrap();
            inner_packet(p.inner, target, sport, seq, &mut inner);
            let dst = &mut batch[filled * OUTER..(filled + 1) * OUTER];
            if let TunnResult::WriteToNetwork(b) = p.tunn.encapsulate(&inner, dst) {
                assert_eq!(b.len(), OUTER);
                filled += 1;
            }
        }
        if filled > 0 {
            let t = Transmit {
                destination: endpoint,
                ecn: None,
                contents: &batch[..filled * OUTER],
                segment_size: (filled > 1).then_some(OUTER),
                src_ip: None,
            };
            if state.try_send((&sock).into(), &t).is_ok() {
                let at = Instant::now();
                for i in 0..filled as u64 {
                    outstanding.push_back((sent + i, at));
                }
                sent += filled as u64;
            }
        }
        receive(
            &state,
            &sock,
            &mut storage,
            &mut meta,
            &mut scratch,
            &mut peers,
            endpoint,
            &mut |seq| {
                let slot = usize::try_from(seq).unwrap_or(0) & 0xffff;
                // Late echoes of packets already counted lost are ignored.
                if outstanding.front().is_some_and(|&(first, _)| seq >= first) {
                    answered[slot] = true;
                    echoed += 1;
                }
            },
        );
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT peers={} up={up} handshake_secs={handshake_secs:.3} sent={sent} echoed={echoed} secs={secs:.3} pps={:.0} loss_pct={:.2}",
        peers.len(),
        echoed as f64 / secs,
        if sent > 0 {
            100.0 * lost as f64 / sent as f64
        } else {
            0.0
        }
    );
}

#[allow(clippy::too_many_arguments)]
fn receive(
    state: &UdpSocketState,
    sock: &UdpSocket,
    storage: &mut [[u8; 65_536]],
    meta: &mut [RecvMeta],
    scratch: &mut [u8],
    peers: &mut [Peer],
    endpoint: SocketAddr,
    on_echo: &mut dyn FnMut(u64),
) {
    let mut bufs: Vec<IoSliceMut<'_>> = storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    let Ok(n) = state.recv(sock.into(), &mut bufs, meta) else {
        return;
    };
    for (m, b) in meta.iter().zip(bufs.iter()).take(n) {
        for dgram in b[..m.len].chunks(m.stride.max(1)) {
            // Our index: bytes 8..12 of a handshake response (type 2, after the sender's
            // index), bytes 4..8 of a cookie reply (3) or data packet (4).
            let at = if dgram.first() == Some(&2) { 8 } else { 4 };
            let Some(b) = dgram.get(at..at + 4) else {
                continue;
            };
            let idx = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) >> 8;
            let Some(p) = usize::try_from(idx)
                .ok()
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| peers.get_mut(i))
            else {
                continue;
            };
            let mut res = p.tunn.decapsulate(Some(endpoint.ip()), dgram, scratch);
            loop {
                match res {
                    TunnResult::WriteToNetwork(out) => {
                        let _ = sock.send_to(out, endpoint);
                        p.up = true;
                        res = p.tunn.decapsulate(None, &[], scratch);
                    }
                    TunnResult::WriteToTunnelV4(pkt, _) => {
                        if pkt.len() == INNER {
                            on_echo(u64::from_le_bytes(pkt[28..36].try_into().unwrap_or([0; 8])));
                        }
                        break;
                    }
                    _ => break,
                }
            }
        }
    }
}
