//! The RTP relay over real loopback sockets: both directions, strict latching, teardown.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use drawbridge_media::{Direction, InterfaceId, LatchMode, LegSpec, MediaConfig, RemoteSpec};
use drawbridge_transport::rtp::{RelaySession, RtpRelay};
use tokio::net::UdpSocket;

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0, 0, 0x12, 0x34];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend([0xffu8; 160]);
    p
}

async fn recv(s: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = [0u8; 2048];
    match tokio::time::timeout(Duration::from_millis(500), s.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => Some((buf[..n].to_vec(), from)),
        _ => None,
    }
}

/// The media configuration of a relay on 127.0.0.1/127.0.0.2 with ports
/// `port_min..port_min+999`.
fn loopback_config(port_min: u16) -> MediaConfig {
    MediaConfig {
        interfaces: vec!["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()],
        port_min,
        port_max: port_min + 999,
        ..MediaConfig::default()
    }
}

/// A relay with `config`, and the receiver its media events go to (kept alive by the test).
fn relay_with(
    config: MediaConfig,
) -> (
    RtpRelay,
    tokio::sync::mpsc::Receiver<drawbridge_media::MediaEvent>,
) {
    let (events_tx, events) = tokio::sync::mpsc::channel(16);
    (RtpRelay::new(config, events_tx).unwrap(), events)
}

/// A relay with [`loopback_config`]`(port_min)` (see [`relay_with`]).
fn loopback_relay(
    port_min: u16,
) -> (
    RtpRelay,
    tokio::sync::mpsc::Receiver<drawbridge_media::MediaEvent>,
) {
    relay_with(loopback_config(port_min))
}

/// A leg on interface `iface` towards `remote`, strictly latched.
fn strict_leg_to(iface: u8, remote: SocketAddr) -> LegSpec {
    LegSpec {
        interface: InterfaceId(iface),
        remote: RemoteSpec::from_sdp(
            remote.ip(),
            remote.port(),
            None,
            Direction::SendRecv,
            LatchMode::Strict,
        ),
    }
}

/// A leg on the public interface towards 127.0.0.10:`port`, strictly latched.
fn strict_leg(port: u16) -> LegSpec {
    strict_leg_to(0, SocketAddr::new("127.0.0.10".parse().unwrap(), port))
}

/// A session `tag` whose legs both go towards 127.0.0.10 (ports `port` and `port + 2`).
fn strict_session(
    relay: &RtpRelay,
    tag: u64,
    port: u16,
) -> (RelaySession, drawbridge_media::SessionInfo) {
    relay
        .create_session(tag, strict_leg(port), strict_leg(port + 2))
        .unwrap()
}

/// The relay's RTP address of leg `leg` (0: caller side, 1: callee side).
fn local(info: &drawbridge_media::SessionInfo, leg: usize) -> SocketAddr {
    SocketAddr::new(info.local[leg].address, info.local[leg].rtp_port)
}

/// Whether `addr` can be bound within a second: a closed socket's aborted task drops it on
/// the runtime's next turn, not at once.
async fn becomes_bindable(addr: SocketAddr) -> bool {
    for _ in 0..20 {
        if std::net::UdpSocket::bind(addr).is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn relays_both_ways_drops_strangers_and_tears_down() {
    let (relay, _events) = loopback_relay(41000);
    let caller = UdpSocket::bind("127.0.0.10:0").await.unwrap();
    let callee = UdpSocket::bind("127.0.0.20:0").await.unwrap();
    let stranger = UdpSocket::bind("127.0.0.66:0").await.unwrap();
    let spec = |iface: u8, s: &UdpSocket| strict_leg_to(iface, s.local_addr().unwrap());
    let (session, info) = relay
        .create_session(7, spec(0, &caller), spec(1, &callee))
        .unwrap();
    let a = local(&info, 0);
    let b = local(&info, 1);
    assert_eq!(relay.open_sockets(), 4);

    caller.send_to(&rtp(1), a).await.unwrap();
    let (got, from) = recv(&callee).await.expect("caller → callee");
    assert_eq!(
        (got, from),
        (rtp(1), b),
        "arrives from our B port, unchanged"
    );
    callee.send_to(&rtp(2), b).await.unwrap();
    let (got, from) = recv(&caller).await.expect("callee → caller");
    assert_eq!((got, from), (rtp(2), a));

    // RTP injection from anyone else goes nowhere.
    stranger.send_to(&rtp(3), a).await.unwrap();
    assert!(
        recv(&callee).await.is_none(),
        "a stranger's packet must not be relayed"
    );
    let stats = relay.remove_session(session).unwrap();
    assert_eq!(stats.legs[0].rtp.forwarded_packets, 1);
    assert_eq!(stats.legs[1].rtp.forwarded_packets, 1);
    assert_eq!(
        stats.legs[0]
            .rtp
            .dropped
            .get(drawbridge_media::DropReason::WrongSource),
        1
    );
    assert_eq!(relay.open_sockets(), 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    caller.send_to(&rtp(4), a).await.unwrap();
    assert!(
        recv(&callee).await.is_none(),
        "nothing relays after teardown"
    );
    let _: IpAddr = info.local[0].address;
}

/// A burst queued before the relay runs is received in batches (recvmmsg) and sent in GSO
/// runs; packets of another size split the runs. All must arrive whole, unchanged and in
/// order, and the relay must still pick up a single packet after the burst.
#[tokio::test]
async fn a_queued_burst_arrives_whole_and_in_order() {
    let (relay, _events) = loopback_relay(42000);
    let caller = std::net::UdpSocket::bind("127.0.0.11:0").unwrap();
    let callee = UdpSocket::bind("127.0.0.21:0").await.unwrap();
    let (session, info) = relay
        .create_session(
            8,
            strict_leg_to(0, caller.local_addr().unwrap()),
            strict_leg_to(1, callee.local_addr().unwrap()),
        )
        .unwrap();
    let a = local(&info, 0);
    // A packet of `seq` whose length varies: mostly 172 bytes, every 7th shorter, every
    // 11th longer, so GSO runs end on a shorter packet and break on a longer one.
    let packet = |seq: u16| {
        let mut p = rtp(seq);
        if seq.is_multiple_of(7) {
            p.truncate(100);
        } else if seq.is_multiple_of(11) {
            p.extend([0xeeu8; 40]);
        }
        p
    };
    // This test's runtime has one thread: the relay's tasks cannot run until we await, so
    // the whole burst is queued at the relay socket first.
    const BURST: u16 = 100;
    for seq in 0..BURST {
        caller.send_to(&packet(seq), a).unwrap();
    }
    for seq in 0..BURST {
        let (got, _) = recv(&callee).await.expect("every packet of the burst");
        assert_eq!(got, packet(seq), "packet {seq}: whole, unchanged, in order");
    }
    // After the burst the queue is empty; a lone packet must still wake the relay.
    caller.send_to(&packet(BURST), a).unwrap();
    let (got, _) = recv(&callee).await.expect("a packet after the burst");
    assert_eq!(got, packet(BURST));
    let stats = relay.remove_session(session).unwrap();
    assert_eq!(stats.legs[0].rtp.forwarded_packets, u64::from(BURST) + 1);
    assert_eq!(relay.send_failures(), 0);
}

/// Sockets outlive calls: the next session on the same ports takes the ended session's
/// sockets over (no new bind) and relays on them; a parked socket drops what reaches it.
#[tokio::test]
async fn a_new_session_takes_over_the_parked_sockets_of_an_ended_one() {
    let (relay, _events) = relay_with(MediaConfig {
        quarantine: Duration::from_millis(100),
        ..loopback_config(43000)
    });
    let caller = UdpSocket::bind("127.0.0.10:0").await.unwrap();
    let callee = UdpSocket::bind("127.0.0.20:0").await.unwrap();
    let spec = |iface: u8, s: &UdpSocket| strict_leg_to(iface, s.local_addr().unwrap());
    // Sessions go round-robin over the table's shards (each its own port range): one
    // session per shard, so the next round lands on the same shards again.
    let shards = drawbridge_transport::rtp::SHARDS;
    let mut first_ports = std::collections::BTreeSet::new();
    let mut ended = Vec::new();
    for tag in 0..shards {
        let (s, info) = relay
            .create_session(tag as u64, spec(0, &caller), spec(1, &callee))
            .unwrap();
        first_ports.insert((info.local[0].rtp_port, info.local[1].rtp_port));
        ended.push((s, info));
    }
    let a1 = local(&ended[0].1, 0);
    for (s, _) in ended {
        relay.remove_session(s).unwrap();
    }
    assert_eq!(relay.open_sockets(), 0, "no socket carries a call");
    assert_eq!(
        relay.parked_sockets(),
        4 * shards,
        "the four sockets of each session wait for reuse"
    );

    // While parked, the socket swallows late packets: nothing relays.
    caller.send_to(&rtp(1), a1).await.unwrap();
    assert!(
        recv(&callee).await.is_none(),
        "a late packet must go nowhere"
    );

    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut second_ports = std::collections::BTreeSet::new();
    let mut live = Vec::new();
    for tag in 0..shards {
        let (s, info) = relay
            .create_session(100 + tag as u64, spec(0, &caller), spec(1, &callee))
            .unwrap();
        second_ports.insert((info.local[0].rtp_port, info.local[1].rtp_port));
        live.push((s, info));
    }
    assert_eq!(
        second_ports, first_ports,
        "the released ports come back first"
    );
    assert_eq!(
        (relay.open_sockets(), relay.parked_sockets()),
        (4 * shards, 0)
    );
    let (second, info2) = live
        .iter()
        .find(|(_, i)| local(i, 0) == a1)
        .copied()
        .expect("a session on the first port again");
    let b2 = local(&info2, 1);
    caller.send_to(&rtp(2), a1).await.unwrap();
    let (got, from) = recv(&callee).await.expect("relayed on the reused sockets");
    assert_eq!((got, from), (rtp(2), b2));
    callee.send_to(&rtp(3), b2).await.unwrap();
    assert_eq!(recv(&caller).await.expect("and back").0, rtp(3));
    let stats = relay.remove_session(second).unwrap();
    assert_eq!(stats.legs[0].rtp.forwarded_packets, 1);
}

/// A socket closed by the relay stays bound until the runtime drops its aborted task; a
/// session given its port before that takes the socket over. On a one-thread runtime the
/// task cannot end while the session is being created, so binding anew would fail with
/// `EADDRINUSE` (seen as 488s in the CPS bench with the relay on one core).
#[tokio::test(flavor = "current_thread")]
async fn a_session_takes_over_a_socket_that_is_still_closing() {
    let (relay, _events) = relay_with(MediaConfig {
        quarantine: Duration::ZERO,
        ..loopback_config(47000)
    });
    relay.set_park_limits(0, 1000);
    let caller = UdpSocket::bind("127.0.0.10:0").await.unwrap();
    let callee = UdpSocket::bind("127.0.0.20:0").await.unwrap();
    let spec = |iface: u8, s: &UdpSocket| strict_leg_to(iface, s.local_addr().unwrap());
    let shards = drawbridge_transport::rtp::SHARDS;
    let mut first = std::collections::BTreeSet::new();
    for tag in 0..shards {
        let (s, info) = relay
            .create_session(tag as u64, spec(0, &caller), spec(1, &callee))
            .unwrap();
        first.insert(local(&info, 0));
        relay.remove_session(s).unwrap();
    }
    assert_eq!(relay.parked_sockets(), 0, "nothing parked: the cap is 0");
    // No await since: every closed socket's task is still waiting to be dropped.
    let mut live = Vec::new();
    for tag in 0..shards {
        let (s, info) = relay
            .create_session(100 + tag as u64, spec(0, &caller), spec(1, &callee))
            .expect("the closing sockets are taken over, not bound again");
        live.push((s, info));
    }
    let again: std::collections::BTreeSet<_> = live.iter().map(|(_, i)| local(i, 0)).collect();
    assert_eq!(again, first, "the same ports, at once");
    let (_, info) = live[0];
    caller.send_to(&rtp(7), local(&info, 0)).await.unwrap();
    let (got, from) = recv(&callee)
        .await
        .expect("relayed on the taken-over socket");
    assert_eq!((got, from), (rtp(7), local(&info, 1)));
    callee.send_to(&rtp(8), local(&info, 1)).await.unwrap();
    assert_eq!(recv(&caller).await.expect("and back").0, rtp(8));
}

/// Sockets the relay closed count against the budget until they are really closed: while
/// the runtime has not dropped their tasks (one thread, busy), an ended session is not
/// parked, so parking cannot run the process out of descriptors.
#[tokio::test(flavor = "current_thread")]
async fn sockets_still_closing_count_against_the_budget() {
    let (relay, _events) = loopback_relay(48000);
    relay.set_park_limits(100, 8);
    let (a, _) = strict_session(&relay, 1, 4000);
    let (b, _) = strict_session(&relay, 2, 4004);
    relay.remove_session(a).unwrap();
    let (c, _) = strict_session(&relay, 3, 4008);
    // No await since: a's four parked sockets were evicted but are still open.
    assert_eq!(relay.media_descriptors(), 12);
    relay.remove_session(b).unwrap();
    assert_eq!(
        relay.parked_sockets(),
        0,
        "over the budget: closed, not parked"
    );
    let dropped = descriptors_drop_to(&relay, 4).await;
    assert!(
        dropped,
        "a's and b's sockets close once the runtime gets to them"
    );
    relay.remove_session(c).unwrap();
    assert_eq!(relay.parked_sockets(), 4, "back under the budget: parked");
    assert_eq!(relay.media_descriptors(), 4);
}

/// A parked socket nobody takes over is closed after the idle time: its port is free for
/// anyone to bind again.
#[tokio::test]
async fn parked_sockets_are_closed_when_idle() {
    let (relay, _events) = loopback_relay(44000);
    relay.set_park_idle(Duration::ZERO);
    let (session, info) = strict_session(&relay, 1, 4000);
    let port = local(&info, 0);
    assert!(
        std::net::UdpSocket::bind(port).is_err(),
        "bound while in use"
    );
    relay.remove_session(session).unwrap();
    // The relay's timer runs every 500 ms; give it a few rounds.
    for _ in 0..40 {
        if relay.parked_sockets() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(relay.parked_sockets(), 0);
    let free = becomes_bindable(port).await;
    assert!(free, "the port was given back");
}

/// Parking never takes more descriptors than its cap: past it, an ended session's sockets
/// are closed and their ports can be bound again at once.
#[tokio::test]
async fn parking_stops_at_its_cap() {
    let (relay, _events) = loopback_relay(45000);
    relay.set_park_limits(4, 1000);
    let (first, _) = strict_session(&relay, 1, 4000);
    let (second, info) = strict_session(&relay, 2, 4004);
    relay.remove_session(first).unwrap();
    assert_eq!(
        relay.parked_sockets(),
        4,
        "the first session's four are parked"
    );
    relay.remove_session(second).unwrap();
    assert_eq!(relay.parked_sockets(), 4, "the cap holds");
    assert_eq!(relay.open_sockets(), 0);
    let port = local(&info, 0);
    let free = becomes_bindable(port).await;
    assert!(free, "the second session's sockets were closed");
}

/// Waits (a bounded while) until the relay's media descriptors are down to `n`: closed
/// sockets go when the runtime drops their aborted tasks.
async fn descriptors_drop_to(relay: &RtpRelay, n: usize) -> bool {
    for _ in 0..40 {
        if relay.media_descriptors() == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// Once media sockets reach their budget, a new session's sockets are made room for by
/// closing parked ones, and an ended session's sockets are not parked.
#[tokio::test]
async fn live_calls_take_descriptors_from_parked_sockets() {
    let (relay, _events) = loopback_relay(46000);
    relay.set_park_limits(100, 8);
    let (a, _) = strict_session(&relay, 1, 4000);
    let (b, _) = strict_session(&relay, 2, 4004);
    relay.remove_session(a).unwrap();
    assert_eq!((relay.open_sockets(), relay.parked_sockets()), (4, 4));
    // A third session needs 4 more: the budget of 8 makes the parked ones go.
    let (c, _) = strict_session(&relay, 3, 4008);
    assert_eq!((relay.open_sockets(), relay.parked_sockets()), (8, 0));
    let dropped = descriptors_drop_to(&relay, 8).await;
    assert!(dropped, "the evicted sockets close");
    relay.remove_session(b).unwrap();
    assert_eq!(relay.parked_sockets(), 4, "under the budget again: parked");
    relay.remove_session(c).unwrap();
    assert_eq!(
        relay.parked_sockets(),
        8,
        "4 + 4 parked fill the budget but do not pass it"
    );
}
