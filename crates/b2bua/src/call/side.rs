//! [`Side`]: which party a message came from, and the dialog source-pinning rule.

use crate::Flow;

/// A WireGuard peer's identity as the tunnel knows it (its index in the peer table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

/// An outside party: a configured SIP trunk, or a remote worker's tunnel peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outside {
    /// The trunk at this index of [`crate::B2buaConfig::trunks`].
    Trunk(usize),
    /// A WireGuard peer (authenticated by its key in the tunnel).
    Peer(PeerId),
}

/// Where a message came from, as vouched for by the transport (never by the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The internet side: a trunk or a tunnel peer.
    Outside(Outside),
    /// The internal PBX on the LAN.
    Pbx,
}

impl Side {
    /// Shorthand for `Side::Outside(Outside::Trunk(index))`.
    pub fn trunk(index: usize) -> Self {
        Self::Outside(Outside::Trunk(index))
    }

    /// Whether this is the PBX.
    pub fn is_pbx(self) -> bool {
        matches!(self, Self::Pbx)
    }
}

/// Dialog source pinning: whether a message from `side` on `flow` may belong to a dialog
/// whose peer is `pinned_side` on `pinned_flow`. A tunnel peer is pinned by its key
/// (its flow may change when it roams); a trunk or the PBX by side, transport flow and
/// remote address together, so a forged message from another address or connection never
/// matches even with the right Call-ID and tags.
pub(crate) fn same_source(side: Side, flow: &Flow, pinned_side: Side, pinned_flow: &Flow) -> bool {
    match (side, pinned_side) {
        (Side::Outside(Outside::Peer(a)), Side::Outside(Outside::Peer(b))) => a == b,
        (a, b) => a == b && flow.id == pinned_flow.id && flow.remote == pinned_flow.remote,
    }
}
