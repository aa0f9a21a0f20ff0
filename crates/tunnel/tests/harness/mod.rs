//! Two-sided in-process harness: a drawbridge `Server` and boringtun `Tunn` clients, with a
//! virtual clock.
// Test support code: a panic is a failed test; the virtual clock needs one real Instant to
// start from.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use drawbridge_tunnel::{
    Action, BUFFER_LEN, PeerId, PeerSpec, Server, ServerConfig, Transmit, UdpPorts, keys,
};
use etherparse::PacketBuilder;

pub const SBC_V4: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
pub const SBC_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
pub const SIP: u16 = 5060;
pub const RTP_LOW: u16 = 10_000;
pub const RTP_HIGH: u16 = 10_099;
/// The server's outer address as clients see it.
pub const SERVER_OUTER: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), 51820);

pub struct Client {
    pub name: String,
    pub private: [u8; 32],
    pub public: [u8; 32],
    pub tunn: Tunn,
    pub outer: SocketAddr,
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
}

impl Client {
    pub fn spec(&self) -> PeerSpec {
        PeerSpec::new(
            self.name.clone(),
            self.public,
            vec![IpAddr::V4(self.v4), IpAddr::V6(self.v6)],
        )
    }
}

pub struct Pair {
    pub server: Server,
    pub server_public: [u8; 32],
    pub clients: Vec<Client>,
    pub now: Instant,
    pub sbuf: Vec<u8>,
    pub cbuf: Vec<u8>,
}

pub fn ports() -> UdpPorts {
    let mut p = UdpPorts::none();
    p.open(SIP).open_range(RTP_LOW..=RTP_HIGH);
    p
}

pub fn new_client(server_public: [u8; 32], i: u32) -> Client {
    let private = keys::generate_private();
    let public = keys::public_of(&private);
    let tunn = Tunn::new(
        StaticSecret::from(private),
        PublicKey::from(server_public),
        None,
        None,
        i,
        None,
    );
    Client {
        name: format!("worker{i}"),
        private,
        public,
        tunn,
        outer: SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(
                198,
                18,
                1 + (i / 250) as u8,
                1 + (i % 250) as u8,
            )),
            40_000 + (i % 20_000) as u16,
        ),
        v4: Ipv4Addr::new(100, 64, 1 + (i / 250) as u8, 1 + (i % 250) as u8),
        v6: Ipv6Addr::new(0xfd00, 0, 0, 1, 0, 0, 0, 1 + i as u16),
    }
}

impl Pair {
    pub fn new(n: u32) -> Self {
        Self::with_config(n, |_| {})
    }

    pub fn with_config(n: u32, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let server_private = keys::generate_private();
        let server_public = keys::public_of(&server_private);
        let clients: Vec<Client> = (0..n).map(|i| new_client(server_public, i)).collect();
        let mut config = ServerConfig::new(server_private, Some(SBC_V4), Some(SBC_V6), ports());
        tweak(&mut config);
        let server = Server::new(config, clients.iter().map(Client::spec).collect()).unwrap();
        Self {
            server,
            server_public,
            clients,
            now: Instant::now(),
            sbuf: vec![0; BUFFER_LEN],
            cbuf: vec![0; BUFFER_LEN],
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    pub fn id(&self, c: usize) -> PeerId {
        self.server.peer_by_key(&self.clients[c].public).unwrap()
    }

    /// Feeds a datagram from client `c`'s outer address to the server; returns the action
    /// with owned data: (transmit dst + bytes) or the action debug string for others.
    pub fn server_gets(&mut self, c: usize, datagram: &[u8]) -> Outcome {
        let src = self.clients[c].outer;
        self.server_gets_from(src, datagram)
    }

    pub fn server_gets_from(&mut self, src: SocketAddr, datagram: &[u8]) -> Outcome {
        match self
            .server
            .handle_datagram(self.now, src, datagram, &mut self.sbuf)
        {
            Action::Transmit(Transmit { dst, data }) => Outcome::Transmit(dst, data.to_vec()),
            Action::Deliver(d) => Outcome::Deliver {
                peer: d.peer,
                name: d.peer_name.to_string(),
                src: d.src,
                dst: d.dst,
                payload: d.payload.to_vec(),
            },
            Action::Nothing => Outcome::Nothing,
            Action::Dropped { reason, peer } => Outcome::Dropped(reason, peer),
            other => panic!("unexpected action {other:?}"),
        }
    }

    /// Everything `poll_transmit` has now.
    pub fn drain_server(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut v = Vec::new();
        while let Some(t) = self.server.poll_transmit(&mut self.sbuf) {
            v.push((t.dst, t.data.to_vec()));
            assert!(v.len() < 1000, "poll_transmit does not terminate");
        }
        v
    }

    /// Client `c` handles a datagram from the server; returns what it wants to send back
    /// (network) and what it decrypted (inner packets).
    pub fn client_gets(&mut self, c: usize, datagram: &[u8]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mut net = Vec::new();
        let mut inner = Vec::new();
        let tunn = &mut self.clients[c].tunn;
        match tunn.decapsulate(Some(SERVER_OUTER.ip()), datagram, &mut self.cbuf) {
            TunnResult::WriteToNetwork(p) => {
                net.push(p.to_vec());
                while let TunnResult::WriteToNetwork(p) =
                    tunn.decapsulate(None, &[], &mut self.cbuf)
                {
                    net.push(p.to_vec());
                }
            }
            TunnResult::WriteToTunnelV4(p, _) | TunnResult::WriteToTunnelV6(p, _) => {
                inner.push(p.to_vec())
            }
            TunnResult::Done => {}
            TunnResult::Err(e) => panic!("client {c} rejected server datagram: {e:?}"),
        }
        (net, inner)
    }

    /// Client `c` encrypts an inner packet; returns the datagram (panics if the client has no
    /// session yet).
    pub fn encrypt(&mut self, c: usize, inner: &[u8]) -> Vec<u8> {
        match self.clients[c].tunn.encapsulate(inner, &mut self.cbuf) {
            TunnResult::WriteToNetwork(p) => {
                assert_eq!(p[0], 4, "client has no session, sent a handshake instead");
                p.to_vec()
            }
            other => panic!("client encapsulate: {other:?}"),
        }
    }

    /// Full handshake of client `c` (init → response → client keepalive), asserting every
    /// step.
    pub fn handshake(&mut self, c: usize) {
        let init = match self.clients[c]
            .tunn
            .format_handshake_initiation(&mut self.cbuf, true)
        {
            TunnResult::WriteToNetwork(p) => p.to_vec(),
            other => panic!("{other:?}"),
        };
        let resp = match self.server_gets(c, &init) {
            Outcome::Transmit(dst, data) => {
                assert_eq!(dst, self.clients[c].outer, "response goes to the initiator");
                data
            }
            other => panic!("handshake init not answered: {other:?}"),
        };
        assert!(self.drain_server().is_empty());
        let (net, _) = self.client_gets(c, &resp);
        assert_eq!(net.len(), 1, "client confirms with a keepalive");
        assert_eq!(self.server_gets(c, &net[0]), Outcome::Nothing);
    }

    /// A UDP packet from client `c`'s inner v4 (or v6) address.
    pub fn udp_from(&self, c: usize, v6: bool, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let cl = &self.clients[c];
        let b = if v6 {
            PacketBuilder::ipv6(cl.v6.octets(), SBC_V6.octets(), 64).udp(sport, dport)
        } else {
            PacketBuilder::ipv4(cl.v4.octets(), SBC_V4.octets(), 64).udp(sport, dport)
        };
        let mut v = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut v, payload).unwrap();
        v
    }

    /// Client `c` sends a UDP packet through the tunnel; returns the server's outcome.
    pub fn client_udp(&mut self, c: usize, v6: bool, dport: u16, payload: &[u8]) -> Outcome {
        let pkt = self.udp_from(c, v6, 7078, dport, payload);
        let dgram = self.encrypt(c, &pkt);
        self.server_gets(c, &dgram)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Transmit(SocketAddr, Vec<u8>),
    Deliver {
        peer: PeerId,
        name: String,
        src: SocketAddr,
        dst: SocketAddr,
        payload: Vec<u8>,
    },
    Nothing,
    Dropped(drawbridge_tunnel::DropReason, Option<PeerId>),
}
