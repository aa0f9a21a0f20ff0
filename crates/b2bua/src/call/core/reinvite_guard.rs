//! The guard on a relayed re-INVITE that never gets a final response (Timer C).
//!
//! A re-INVITE relayed from one leg to the other holds the call's re-INVITE slot
//! (`reinvite_busy`: a second one gets 491) until the far end's final response. A far end
//! that answers only with provisionals (100/18x) and never a final would hold it for ever:
//! a provisional stops the INVITE client transaction's Timer B (RFC 3261 §17.1.1.2), so
//! nothing else ends it, every later hold/resume or session refresh of the call gets 491,
//! and the requester waits for ever. A B2BUA relaying a re-INVITE is in the position of a
//! proxy forwarding an INVITE, for which RFC 3261 §16.6 step 11 and §16.8 define Timer C;
//! this is that timer, started when the re-INVITE is relayed. Unlike a proxy's Timer C
//! (§16.7 step 2) a provisional does not restart it: a peer re-sending 180 every minute
//! would otherwise hold the slot for ever, the very failure it guards against.
//!
//! When it fires ([`REINVITE_GUARD`] after the relay, without a final response):
//! - the relayed copy is cancelled: a CANCEL built from it (same branch, Call-ID, CSeq
//!   number, RFC 3261 §9.1) goes where it went; without a provisional yet a CANCEL may not
//!   be sent (§9.1), so the client transaction is abandoned instead, which is what §16.8
//!   prescribes there ("as if the transaction received a 408"). This only happens with a
//!   T1 above 2.8 s, since Timer B (64*T1) otherwise ended it first;
//! - the requester's re-INVITE is answered **487**, not 408: RFC 3261 §12.2.1.2 has a UAC
//!   terminate the dialog on a 408 to an in-dialog request, and the call must survive a
//!   failed re-INVITE (§14.1: the old session stays, "as if no re-INVITE had been
//!   issued"). 487 says what happened (the request was terminated, by our CANCEL) and is a
//!   transaction-only failure (RFC 5057 §5.1);
//! - the slot is free: the next re-INVITE of either side is relayed normally;
//! - the media relay, re-pointed at the requester's offer when the re-INVITE was relayed,
//!   goes back to the media the requester described before (`restore_media`), as after
//!   any failed re-INVITE (a non-2xx final, a timeout).
//!
//! Then the cancelled copy's transaction waits for its final response, at most 64*T1 (as
//! after the CANCEL of a call, `cancel.rs`), and is abandoned after that. A late non-2xx
//! (normally the 487 to our CANCEL) is ACKed by the transaction layer and goes no further.
//!
//! **A late 2xx** (the far end accepted the re-INVITE after all, the CANCEL crossing it)
//! is ACKed (RFC 3261 §13.2.2.4), and then the call is hung up on both legs with BYE. The
//! two ends now disagree on the session: the far end applied the new offer/answer, the
//! requester was told 487 and kept the old one (for a hold, one side thinks the call is
//! on hold and the other not; a changed address or codec breaks the media outright).
//! Relaying the 2xx is impossible (the requester's transaction is over), and quietly
//! keeping the call would leave media silently wrong. Restoring the old session with a
//! new re-INVITE would need the last agreed SDP of each leg, which the core does not keep.
//! So, as a UA does with a 2xx that loses the race with its CANCEL of an initial INVITE
//! (ACK it, then BYE), the mismatch is ended visibly rather than left silent. It takes a
//! far end that stalled a re-INVITE for three minutes and then accepted it. When a 2xx
//! offers (our copy had no SDP), the ACK carries no answer, the BYE following at once.
//!
//! The deadlines live in the core's call timer heap; the guard is cleared by the first
//! final response or a failure of the relayed copy, and an ended call takes both its
//! guard and its cancelled copies with it (`relays.rs` abandons those).

use std::time::{Duration, Instant};

use rsip::Response;

use super::{B2bua, CallTimer, TxCtx};
use crate::call::headers as hdr;
use crate::call::state::{Leg, ReinviteGuard};
use crate::{CallHandle, TransactionId};

/// How long a relayed re-INVITE may go without a final response before it is cancelled.
/// RFC 3261 §16.6 step 11 wants a proxy's Timer C larger than 3 minutes so that a callee
/// being alerted has time to answer; a re-INVITE alerts no one (the far end answers it
/// from its own state, in milliseconds), so that reason does not apply and 3 minutes is
/// ample: only a broken or stalled peer reaches it, and the call's re-INVITE slot stays
/// blocked no longer than a ringing call is kept (the default ring timeout, also 180 s).
/// A constant: the configuration has no in-dialog timer section to put it in.
pub(crate) const REINVITE_GUARD: Duration = Duration::from_secs(180);

impl B2bua {
    /// The re-INVITE relayed in client transaction `tx` of `handle` left at `now`.
    pub(super) fn arm_reinvite_guard(
        &mut self,
        now: Instant,
        handle: CallHandle,
        tx: TransactionId,
    ) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let deadline = now + REINVITE_GUARD;
        call.reinvite_guard = Some(ReinviteGuard { tx, deadline });
        self.push_timer(deadline, handle, CallTimer::ReinviteGuard);
    }

    /// The relayed re-INVITE in client transaction `tx` had its final response or
    /// failed: its guard and give-up (if any) are no longer due.
    pub(super) fn reinvite_settled(&mut self, handle: CallHandle, tx: TransactionId) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        if call.reinvite_guard.is_some_and(|g| g.tx == tx) {
            call.reinvite_guard = None;
        }
        call.cancelled_reinvites.retain(|&(t, _)| t != tx);
    }

    /// The guard of `handle`'s relayed re-INVITE fired: CANCEL it, 487 to the requester,
    /// free the call's re-INVITE slot.
    pub(super) fn reinvite_guard_fired(&mut self, now: Instant, handle: CallHandle) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let Some(guard) = call.reinvite_guard.take() else {
            return;
        };
        // Cleared on every final response and failure, so the relay is still pending;
        // checked anyway, as freeing the slot of another exchange would let glare in.
        let Some(TxCtx::RelayOut {
            server,
            request,
            leg,
            provisional,
            cancelled,
            answered: false,
            ..
        }) = self.txs.get_mut(&guard.tx)
        else {
            return;
        };
        *cancelled = true;
        call.reinvite_busy = false;
        let (server, leg) = (*server, *leg);
        let cancel = provisional.then(|| crate::cancel_for(request));
        self.restore_media(handle, guard.tx, leg.other());
        if let Some(TxCtx::RelayIn { request, .. }) = self.txs.remove(&server) {
            self.respond(now, server, &request, 487, None, &[]);
        }
        let Some(cancel) = cancel else {
            // No provisional: no CANCEL allowed (RFC 3261 §9.1). The layer cannot
            // abandon a client transaction but by failing it; `on_failure` ignores a
            // cancelled relay.
            self.layer.handle_transport_error(now, guard.tx);
            return;
        };
        self.send_relay_cancel(now, handle, guard.tx, leg, cancel);
        let give_up = now + self.config.transactions.timers().t1x64();
        if let Some(call) = self.calls.get_mut(&handle) {
            call.cancelled_reinvites.push((guard.tx, give_up));
        }
        self.push_timer(give_up, handle, CallTimer::ReinviteGiveUp);
    }

    /// Relayed re-INVITE `tx` of `handle` failed: the media its requester on leg `from`
    /// offered is dropped and the relay points back at what it described before (RFC
    /// 3261 §14.1: the session stays as if no re-INVITE had been issued).
    pub(super) fn restore_media(&mut self, handle: CallHandle, tx: TransactionId, from: Leg) {
        let Some(TxCtx::RelayOut { restore_media, .. }) = self.txs.get_mut(&tx) else {
            return;
        };
        let Some(previous) = restore_media.take() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let (side, to_side, source) = (
            call.leg(from).side,
            call.leg(from.other()).side,
            call.leg(from).flow.remote,
        );
        if previous.is_empty()
            || self
                .media
                .relay(handle, side, to_side, &previous, source)
                .is_err()
        {
            return;
        }
        if let Some(call) = self.calls.get_mut(&handle) {
            call.leg_mut(from).media = previous;
        }
    }

    /// Sends `cancel` for relayed request `tx` of `handle`, sent on `leg`, where `tx` went.
    pub(super) fn send_relay_cancel(
        &mut self,
        now: Instant,
        handle: CallHandle,
        tx: TransactionId,
        leg: Leg,
        cancel: rsip::Request,
    ) {
        let (side, flow) = match self.pin(tx) {
            Some(p) => (p.side, p.flow),
            None => match self.calls.get(&handle) {
                Some(c) => (c.leg(leg).side, c.leg(leg).flow),
                None => return,
            },
        };
        self.send_cancel(now, cancel, side, flow);
    }

    /// 64*T1 after the guard's CANCEL: the relayed re-INVITEs due at `at` are considered
    /// cancelled (RFC 3261 §9.1) and their transactions abandoned.
    pub(super) fn reinvite_give_up(&mut self, now: Instant, at: Instant, handle: CallHandle) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let due: Vec<TransactionId> = call
            .cancelled_reinvites
            .iter()
            .filter(|&&(_, g)| g <= at)
            .map(|&(t, _)| t)
            .collect();
        call.cancelled_reinvites.retain(|&(_, g)| g > at);
        for tx in due {
            self.layer.handle_transport_error(now, tx);
        }
    }

    /// A final response to relayed re-INVITE `tx`, which the guard cancelled; `first`
    /// unless it is a retransmitted 2xx. A non-2xx was ACKed by the transaction layer
    /// and ends it; a 2xx is ACKed here and ends the call (see the module docs).
    pub(super) fn late_reinvite_response(
        &mut self,
        now: Instant,
        handle: CallHandle,
        tx: TransactionId,
        leg: Leg,
        response: &Response,
        first: bool,
    ) {
        self.reinvite_settled(handle, tx);
        if !(200..300).contains(&response.status_code.code()) {
            return;
        }
        if !first {
            // Our ACK was lost: again (RFC 3261 §13.2.2.4).
            self.resend_last_ack(handle, leg);
            return;
        }
        let cseq = hdr::cseq_of(&response.headers).unwrap_or(0);
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        if let Some(t) = hdr::contact_uri(&response.headers) {
            call.leg_mut(leg).remote_target = t;
        }
        call.await_ack = None;
        self.send_ack(handle, leg, cseq, None);
        self.send_bye(now, handle, leg.other());
        self.send_bye(now, handle, leg);
        self.end_call(handle, 200);
    }
}
