//! Kernel-side source allowlists: a classic BPF program attached to a socket with
//! `SO_ATTACH_FILTER`.
//!
//! On a TCP listener the filter runs before the kernel answers a SYN, so a source outside
//! the list gets no SYN-ACK and no RST: nothing tells it the port exists. On a UDP socket
//! its datagrams never reach the receive queue (and, the socket being bound, no ICMP
//! port-unreachable is sent either). The userspace check stays as a second line.
//!
//! The program looks at the packet's network header (`SKF_NET_OFF`), so it works for
//! IPv4 and IPv6, including IPv4 packets on a dual-stack IPv6 socket.

use std::io;

use ipnet::IpNet;
use socket2::{SockFilter, SockRef};

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h), spelled as the OR of their
// parts: class (LD 0x00, ALU 0x04, JMP 0x05, RET 0x06), size (W 0x00, B 0x10), mode
// (ABS 0x20), operation (AND 0x50, RSH 0x70, JEQ 0x10, JA 0x00) and source (K 0x00).
const LD_W_ABS: u16 = 0x20;
const LD_B_ABS: u16 = 0x30;
const ALU_AND_K: u16 = 0x54;
const ALU_RSH_K: u16 = 0x74;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JA: u16 = 0x05;
const RET_K: u16 = 0x06;
/// `SKF_NET_OFF`: loads relative to the network header.
const NET: u32 = 0xfff0_0000;
const ACCEPT: u32 = 0xffff_ffff;
const DROP: u32 = 0;
/// The kernel's limit on a classic BPF program (`BPF_MAXINSNS`).
const MAX_INSNS: usize = 4096;

/// The allowlist did not fit into a socket filter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// Too many ranges for one classic BPF program.
    #[error(
        "{ranges} allowlist ranges need {instructions} BPF instructions; the kernel takes at most 4096"
    )]
    TooLarge {
        /// Ranges given.
        ranges: usize,
        /// Instructions they would need.
        instructions: usize,
    },
    /// The kernel refused the program.
    #[error("attaching the source filter: {0}")]
    Attach(#[from] io::Error),
}

/// One classic BPF instruction, kept as plain fields so programs can be inspected in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// Builds the program that accepts packets whose source lies in one of `allow` and drops
/// every other packet. An empty list drops everything.
pub fn program(allow: &[IpNet]) -> Result<Vec<Insn>, FilterError> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for net in allow.iter().map(IpNet::trunc) {
        match net {
            IpNet::V4(n) => {
                let mask = u32::from(n.netmask());
                let addr = u32::from(n.network());
                if mask == 0 {
                    v4.push(insn(RET_K, 0, 0, ACCEPT));
                } else {
                    // src & mask == addr ? accept : next range
                    v4.push(insn(LD_W_ABS, 0, 0, NET + 12));
                    v4.push(insn(ALU_AND_K, 0, 0, mask));
                    v4.push(insn(JMP_JEQ_K, 0, 1, addr));
                    v4.push(insn(RET_K, 0, 0, ACCEPT));
                }
            }
            IpNet::V6(n) => {
                let addr = n.network().octets();
                let mask = n.netmask().octets();
                let words: Vec<(u32, u32)> = (0..4)
                    .map(|i| {
                        let w = |b: &[u8; 16]| {
                            u32::from_be_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
                        };
                        (w(&mask), w(&addr))
                    })
                    .take_while(|(m, _)| *m != 0)
                    .collect();
                let block = 3 * words.len() + 1;
                for (i, (m, a)) in words.iter().enumerate() {
                    // On a mismatch skip the rest of this range's block (ends in its accept).
                    let skip = u8::try_from(block - 3 * (i + 1)).unwrap_or(u8::MAX);
                    v6.push(insn(
                        LD_W_ABS,
                        0,
                        0,
                        NET + 8 + 4 * u32::try_from(i).unwrap_or(0),
                    ));
                    v6.push(insn(ALU_AND_K, 0, 0, *m));
                    v6.push(insn(JMP_JEQ_K, 0, skip, *a));
                }
                v6.push(insn(RET_K, 0, 0, ACCEPT));
            }
        }
    }
    let mut prog = vec![
        insn(LD_B_ABS, 0, 0, NET),
        insn(ALU_RSH_K, 0, 0, 4),
        insn(JMP_JEQ_K, 0, 1, 6),
        // version 6: jump over the IPv4 block and its final drop.
        insn(
            JMP_JA,
            0,
            0,
            u32::try_from(v4.len() + 1).unwrap_or(u32::MAX),
        ),
    ];
    prog.extend(v4);
    prog.push(insn(RET_K, 0, 0, DROP));
    prog.extend(v6);
    prog.push(insn(RET_K, 0, 0, DROP));
    if prog.len() > MAX_INSNS {
        return Err(FilterError::TooLarge {
            ranges: allow.len(),
            instructions: prog.len(),
        });
    }
    Ok(prog)
}

/// Attaches the allowlist to a socket (a TCP listener or a UDP socket); it replaces any
/// filter attached before, so calling it again on reload is how the list changes.
pub fn attach(socket: SockRef<'_>, allow: &[IpNet]) -> Result<(), FilterError> {
    let prog = program(allow)?;
    let filters: Vec<SockFilter> = prog
        .iter()
        .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
        .collect();
    socket.attach_filter(&filters)?;
    Ok(())
}

/// Runs a program on a raw IP packet, the way the kernel would (for tests and for the
/// in-process fallback check): `true` = accepted.
pub fn run(prog: &[Insn], packet: &[u8]) -> bool {
    let (mut a, mut pc) = (0u32, 0usize);
    let load = |k: u32, len: usize| -> Option<u32> {
        let off = usize::try_from(k.checked_sub(NET)?).ok()?;
        let bytes = packet.get(off..off + len)?;
        Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
    };
    while let Some(i) = prog.get(pc) {
        pc += 1;
        match i.code {
            LD_W_ABS => match load(i.k, 4) {
                Some(v) => a = v,
                None => return false,
            },
            LD_B_ABS => match load(i.k, 1) {
                Some(v) => a = v,
                None => return false,
            },
            ALU_AND_K => a &= i.k,
            ALU_RSH_K => a >>= i.k,
            JMP_JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
            JMP_JA => pc += usize::try_from(i.k).unwrap_or(usize::MAX),
            RET_K => return i.k != DROP,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn packet(src: &str) -> Vec<u8> {
        match src.parse::<IpAddr>().unwrap() {
            IpAddr::V4(a) => {
                let mut p = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0];
                p.extend(a.octets());
                p.extend([198, 18, 1, 2]);
                p
            }
            IpAddr::V6(a) => {
                let mut p = vec![0x60, 0, 0, 0, 0, 0, 6, 64];
                p.extend(a.octets());
                p.extend([0u8; 16]);
                p
            }
        }
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn accepts_exactly_the_listed_ranges() {
        let prog = program(&nets(&[
            "217.0.0.0/12",
            "77.240.48.0/24",
            "198.18.1.10/32",
            "2001:db8:1::/48",
            "2001:db8:ffff::7/128",
        ]))
        .unwrap();
        for ok in [
            "217.14.138.9",
            "217.0.0.1",
            "77.240.48.255",
            "198.18.1.10",
            "2001:db8:1:2::1",
            "2001:db8:ffff::7",
        ] {
            assert!(run(&prog, &packet(ok)), "{ok} should pass");
        }
        for no in [
            "217.16.0.1",
            "77.240.49.0",
            "198.18.1.11",
            "198.18.1.66",
            "2001:db8:2::1",
            "2001:db8:ffff::8",
            "::1",
        ] {
            assert!(!run(&prog, &packet(no)), "{no} should be dropped");
        }
    }

    #[test]
    fn empty_list_drops_everything_and_world_accepts_everything() {
        let none = program(&[]).unwrap();
        assert!(!run(&none, &packet("1.2.3.4")) && !run(&none, &packet("2001:db8::1")));
        let world = program(&nets(&["0.0.0.0/0"])).unwrap();
        assert!(run(&world, &packet("1.2.3.4")));
        assert!(
            !run(&world, &packet("2001:db8::1")),
            "an IPv4 world range says nothing about IPv6"
        );
    }

    #[test]
    fn truncated_packets_are_dropped() {
        let prog = program(&nets(&["198.18.1.10/32"])).unwrap();
        assert!(!run(&prog, &packet("198.18.1.10")[..14]));
        assert!(!run(&prog, &[]));
    }

    #[test]
    fn many_ranges_still_fit_and_jumps_stay_in_range() {
        let many: Vec<IpNet> = (0..800u32)
            .map(|i| {
                IpNet::new(std::net::Ipv4Addr::from(0x0a00_0000 + (i << 8)).into(), 24).unwrap()
            })
            .collect();
        let v6: Vec<IpNet> = (0..100u16)
            .map(|i| format!("2001:db8:{i:x}::/48").parse().unwrap())
            .collect();
        let all: Vec<IpNet> = many.iter().chain(v6.iter()).copied().collect();
        let prog = program(&all).unwrap();
        assert!(
            run(&prog, &packet("2001:db8:63::1")),
            "the last IPv6 range is reachable past 800 IPv4 ranges"
        );
        assert!(!run(&prog, &packet("2001:db8:64::1")));
        let too_many: Vec<IpNet> = (0..2000u32)
            .map(|i| IpNet::new(std::net::Ipv4Addr::from(i << 8).into(), 32).unwrap())
            .collect();
        assert!(matches!(
            program(&too_many),
            Err(FilterError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_kernel_accepts_the_program_and_filters_udp() {
        use std::net::UdpSocket;
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_millis(300)))
            .unwrap();
        let tx_ok = UdpSocket::bind("127.0.0.2:0").unwrap();
        let tx_bad = UdpSocket::bind("127.0.0.3:0").unwrap();
        attach(SockRef::from(&rx), &nets(&["127.0.0.2/32"])).unwrap();
        tx_bad.send_to(b"bad", rx.local_addr().unwrap()).unwrap();
        tx_ok.send_to(b"ok", rx.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from.ip()),
            (&b"ok"[..], "127.0.0.2".parse::<IpAddr>().unwrap())
        );
        assert!(
            rx.recv_from(&mut buf).is_err(),
            "the datagram from 127.0.0.3 never arrives"
        );
    }
}
