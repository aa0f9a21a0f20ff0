//! Call-level tests of the B2BUA core: whole calls through both legs on a virtual clock,
//! asserting on the bytes sent, parsed back with `drawbridge_sip::parse_message`.

mod admission;
mod fuzz_findings;
mod harness;
mod inbound;
mod ipv6;
mod late_offer;
mod leaks;
mod outbound;
mod pinning;
mod prack;
mod reconnect;
mod reinvite_guard;
mod shards;
mod trunks;
mod update;
