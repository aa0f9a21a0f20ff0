//! Giving up on a cancelled INVITE whose callee never sends a final response.
//!
//! After a CANCEL, the callee's INVITE transaction waits for its 487 (or a 2xx that
//! raced the CANCEL). A callee that answered the INVITE with a provisional but ignores the
//! CANCEL and never sends a final would keep the INVITE client transaction in Proceeding
//! (no timer runs there) and the call in `Cancelling` for ever: a call slot
//! ([`crate::B2buaConfig::max_calls`]) gone per ignored CANCEL. RFC 3261 §9.1: "If no
//! final response is received after 64*T1 seconds, the client transaction SHOULD be
//! considered cancelled and destroyed".

use std::cmp::Reverse;
use std::time::Instant;

use super::{B2bua, CallTimer};
use crate::CallHandle;
use crate::call::state::CallState;

impl B2bua {
    /// A CANCEL for `handle`'s INVITE on leg B went out at `now`: give the callee
    /// 64*T1 for the final response.
    pub(super) fn arm_cancel_give_up(&mut self, now: Instant, handle: CallHandle) {
        let at = now + self.config.transactions.timers().t1x64();
        self.timers
            .push(Reverse((at, handle, CallTimer::CancelGiveUp)));
    }

    /// 64*T1 after the CANCEL: the INVITE on leg B is considered cancelled; its
    /// transaction goes and, with it, the call.
    pub(super) fn cancel_give_up(&mut self, now: Instant, handle: CallHandle) {
        let Some(tx) = self
            .calls
            .get(&handle)
            .filter(|c| c.state == CallState::Cancelling)
            .and_then(|c| c.outgoing.as_ref())
            .map(|o| o.tx)
        else {
            return;
        };
        // The transaction layer has no way to abandon a client transaction but failing
        // it; the failure is ignored for a cancelled call, and its termination ends the
        // call (487, as the caller already heard).
        self.layer.handle_transport_error(now, tx);
        self.drain(now, None);
        if self.calls.contains_key(&handle) {
            self.end_call(handle, 487);
        }
    }
}
