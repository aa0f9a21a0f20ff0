//! Relayed re-INVITEs whose call ended before they did.
//!
//! A re-INVITE relayed from one leg to the other waits for the far end's final response.
//! If the call ends meanwhile (a BYE from either side, a hang-up), nothing else would
//! finish it: the far end may have sent a provisional and never a final (an INVITE client
//! transaction in Proceeding runs no timer), and the requester's INVITE server
//! transaction would never get a final response, both kept for ever and counted against
//! the transaction cap (on a live call the re-INVITE guard, `reinvite_guard.rs`, bounds
//! that; the call's end takes the guard with it, and the relays the guard cancelled are
//! finished here too). So when such a call ends, the requester gets 487 (RFC 3261
//! §15.1.2: pending requests of a dialog a BYE ends are answered 487) and the relayed
//! copy is abandoned.

use std::time::Instant;

use super::{B2bua, TxCtx};

impl B2bua {
    /// Finishes the relayed requests of the calls in `ended_mid_reinvite` (rare: only
    /// calls that ended with a re-INVITE in flight are scanned for).
    pub(super) fn finish_orphaned_relays(&mut self, now: Instant) {
        let ended = std::mem::take(&mut self.ended_mid_reinvite);
        let orphans: Vec<_> = self
            .txs
            .iter()
            .filter_map(|(&id, ctx)| match ctx {
                TxCtx::RelayOut { call, server, .. } if ended.contains(call) => Some((id, *server)),
                _ => None,
            })
            .collect();
        for (client, server) in orphans {
            if let Some(TxCtx::RelayIn { request, .. }) = self.txs.get(&server) {
                let request = request.clone();
                self.respond(now, server, &request, 487, None, &[]);
                self.txs.insert(server, TxCtx::Done);
            }
            // The layer cannot abandon a client transaction but by failing it; the
            // failure finds no call and its server already answered.
            self.layer.handle_transport_error(now, client);
        }
    }
}
