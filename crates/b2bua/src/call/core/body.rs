//! Bodies crossing from one leg to the other: SDP rewritten to drawbridge's media
//! anchor, the few other relayed body types (DTMF) as they are.
//!
//! Separate from the request and response paths because every one of them (the initial
//! INVITE, its provisionals and 2xx, in-dialog requests and their answers, ACKs and
//! PRACKs) carries its body across through these two functions, which are also the only
//! callers of the [`crate::MediaAllocator`].

use drawbridge_sip::sdp::{Rewrite, SessionDescription};

use super::B2bua;
use crate::CallHandle;
use crate::call::headers::{self as hdr, RELAYED_BODY_TYPES};
use crate::call::state::Leg;

impl B2bua {
    /// The SDP in `body` (from `from`) rewritten for leg `to` of `call`.
    fn rewrite_sdp(
        &mut self,
        handle: CallHandle,
        body: &[u8],
        from: Leg,
        to: Leg,
    ) -> Result<Vec<u8>, u16> {
        let sdp = SessionDescription::parse(body).map_err(|_| 488u16)?;
        let (from_side, to_side, source) = {
            let call = self.calls.get(&handle).ok_or(500u16)?;
            let f = call.leg(from);
            (f.side, call.leg(to).side, f.flow.remote)
        };
        let info = sdp.media_info();
        let anchor = self
            .media
            .relay(handle, from_side, to_side, &info, source)
            .map_err(|_| 488u16)?;
        let call = self.calls.get_mut(&handle).ok_or(500u16)?;
        call.leg_mut(from).media = info;
        let origin = &mut call.leg_mut(to).sdp;
        let version = origin.version_for(&sdp.origin);
        let mut out = String::with_capacity(body.len() + 64);
        sdp.rewrite_into(
            &Rewrite {
                address: anchor.address,
                ports: &anchor.ports,
                username: "-",
                sess_id: origin.sess_id,
                sess_version: version,
            },
            &mut out,
        )
        .map_err(|_| 488u16)?;
        Ok(out.into_bytes())
    }

    /// The body to relay from leg `from` to `to`: SDP rewritten, DTMF bodies as they are.
    pub(super) fn relay_body(
        &mut self,
        handle: CallHandle,
        headers: &rsip::Headers,
        body: &[u8],
        from: Leg,
        to: Leg,
    ) -> Result<Option<(Vec<u8>, String)>, u16> {
        if body.is_empty() {
            return Ok(None);
        }
        if hdr::body_is_sdp(headers) {
            return self
                .rewrite_sdp(handle, body, from, to)
                .map(|b| Some((b, "application/sdp".to_owned())));
        }
        match hdr::value_of(headers, "Content-Type") {
            Some(ct)
                if RELAYED_BODY_TYPES
                    .iter()
                    .any(|t| ct.trim().eq_ignore_ascii_case(t)) =>
            {
                Ok(Some((body.to_vec(), ct.trim().to_owned())))
            }
            _ => Err(415),
        }
    }
}
