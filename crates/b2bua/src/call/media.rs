//! [`MediaAllocator`]: how the B2BUA gets media addresses without doing I/O.

use std::net::IpAddr;

use drawbridge_sip::sdp::{MediaInfo, MediaPorts};

use crate::Side;

/// One call of a [`crate::B2bua`]; stable for the call's life, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

/// Admission control outside the B2BUA (calls per second, concurrent calls per trunk):
/// asked once per new call, before anything of it is sent on, and told when an admitted
/// call ends. The runtime implements it on the guard; without one every call is admitted
/// (up to [`crate::B2buaConfig::max_calls`]).
pub trait CallAdmission {
    /// A new call from `from` to `to` at `now`: `Ok` to go on, `Err(status)` to refuse it
    /// with that final response (503, 403 …).
    fn admit(
        &mut self,
        now: std::time::Instant,
        call: CallHandle,
        from: Side,
        to: Side,
    ) -> Result<(), u16>;
    /// An admitted call has ended (or was refused after admission): uncount it.
    fn release(&mut self, call: CallHandle);
}

/// Our media address and ports for one leg: what the SDP sent on that leg carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaAnchor {
    /// Our media address facing that leg.
    pub address: IpAddr,
    /// One entry per `m=` line of the SDP being relayed, in order.
    pub ports: Vec<MediaPorts>,
}

/// Why media could not be anchored; the offer is refused (488 / 503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaRefused {
    /// No free ports in the pool.
    #[error("media port pool exhausted")]
    Exhausted,
    /// The offer has something the media layer does not relay.
    #[error("media not acceptable: {0}")]
    NotAcceptable(&'static str),
}

/// The media layer as the B2BUA sees it. The runtime owns the media table and implements
/// this on the signalling task, which is the table's only writer, so the calls are
/// synchronous and the core stays sans-IO: no request/answer round trip through events.
///
/// Chosen over a `MediaRequest` event + `media_ready` answer because an SDP that must wait
/// for a port would have to park its whole message, and allocation is a table insert that
/// never blocks.
pub trait MediaAllocator {
    /// An SDP from the `from` side of `call` is being relayed to the `to` side. Record
    /// where that party wants media (`remote`, one entry per `m=`), and return our address
    /// facing `to` with one port pair per `m=` line. Called again on every re-offer and
    /// answer: return the same ports for the same `(call, to, m-line)` while the call
    /// lasts, so a re-INVITE does not move the media.
    ///
    /// # Errors
    /// [`MediaRefused`] when nothing can be allocated; the offer is rejected.
    fn relay(
        &mut self,
        call: CallHandle,
        from: Side,
        to: Side,
        remote: &[MediaInfo],
        signalled_from: std::net::SocketAddr,
    ) -> Result<MediaAnchor, MediaRefused>;

    /// The call is over: free its ports.
    fn release(&mut self, call: CallHandle);
}
