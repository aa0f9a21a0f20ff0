//! Cancelling a call that is not answered yet, and giving up on a cancelled INVITE whose
//! callee never sends a final response.
//!
//! The caller's CANCEL, the ring timeout and a hang-up of a ringing call all end the same
//! way ([`B2bua::cancel_call`]): a final response to the caller and a CANCEL of the
//! callee's INVITE, at once or after its first provisional (RFC 3261 §9.1). They are
//! kept apart from the new-call and response paths because a cancelled call lives on in
//! `Cancelling` until the callee's INVITE ends, which the give-up below bounds.
//!
//! After a CANCEL, the callee's INVITE transaction waits for its 487 (or a 2xx that
//! raced the CANCEL). A callee that answered the INVITE with a provisional but ignores the
//! CANCEL and never sends a final would keep the INVITE client transaction in Proceeding
//! (no timer runs there) and the call in `Cancelling` for ever: a call slot
//! ([`crate::B2buaConfig::max_calls`]) gone per ignored CANCEL. RFC 3261 §9.1: "If no
//! final response is received after 64*T1 seconds, the client transaction SHOULD be
//! considered cancelled and destroyed".

use std::time::Instant;

use rsip::{Method, Request};

use super::{B2bua, B2buaEvent, CallTimer, TxCtx};
use crate::call::side::same_source;
use crate::call::state::{CallState, Leg};
use crate::{CallHandle, Flow, Side, TransactionId};

impl B2bua {
    pub(super) fn on_cancel(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: &Request,
        flow: Flow,
        side: Side,
        cancels: Option<TransactionId>,
    ) {
        let handle = match cancels.and_then(|t| self.txs.get(&t)) {
            Some(TxCtx::InviteIn(h)) => Some(*h),
            Some(TxCtx::RelayIn { request: r, call }) if r.method == Method::Invite => {
                let call = *call;
                return self.on_reinvite_cancel(now, id, request, flow, side, call);
            }
            _ => None,
        };
        let Some(handle) = handle.filter(|h| self.calls.contains_key(h)) else {
            self.respond(now, id, request, 481, None, &[]);
            return;
        };
        let Some(state) = self.calls.get(&handle).map(|c| c.state) else {
            return;
        };
        if !self.accept_cancel(now, id, request, (side, flow), handle, Some(Leg::A)) {
            return;
        }
        if matches!(state, CallState::Calling | CallState::Early) {
            self.cancel_call(now, handle, 487);
        }
    }

    /// A CANCEL of a re-INVITE being relayed (RFC 3261 §9: a re-INVITE may be cancelled
    /// like any INVITE). It is relayed: our copy is cancelled as soon as a provisional
    /// allows it (§9.1), and the far end's final answer (487, or a 2xx that crossed the
    /// CANCEL) reaches the requester as any answer to its re-INVITE would; the 200 for the
    /// CANCEL itself is ours. If the far end ignores the CANCEL, the re-INVITE guard ends
    /// the exchange. Only the leg that sent the re-INVITE may cancel it.
    fn on_reinvite_cancel(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: &Request,
        flow: Flow,
        side: Side,
        handle: CallHandle,
    ) {
        let relay = self
            .calls
            .get(&handle)
            .and_then(|c| c.reinvite_guard)
            .map(|g| g.tx);
        let requester = relay.and_then(|tx| match self.txs.get(&tx) {
            Some(TxCtx::RelayOut { leg, .. }) => Some(leg.other()),
            _ => None,
        });
        if !self.accept_cancel(now, id, request, (side, flow), handle, requester) {
            return;
        }
        let Some(tx) = relay else {
            return; // already answered: the CANCEL changes nothing (§9.2)
        };
        let Some(TxCtx::RelayOut {
            leg,
            request: relayed,
            provisional,
            answered: false,
            cancelled: false,
            cancel_asked,
            ..
        }) = self.txs.get_mut(&tx)
        else {
            return;
        };
        if std::mem::replace(cancel_asked, true) || !*provisional {
            return; // a retransmitted CANCEL, or ours waits for the first provisional
        }
        let (cancel, leg) = (crate::cancel_for(relayed), *leg);
        self.send_relay_cancel(now, handle, tx, leg, cancel);
    }

    /// Answers CANCEL `id`: 200, unless it comes from elsewhere than leg `from` of the
    /// call (the dialog's source pin), which is counted as forged and gets 481. Whether
    /// it was accepted.
    fn accept_cancel(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: &Request,
        (side, flow): (Side, Flow),
        handle: CallHandle,
        from: Option<Leg>,
    ) -> bool {
        let pinned = from
            .and_then(|leg| self.calls.get(&handle).map(|c| c.leg(leg)))
            .is_none_or(|l| same_source(side, &flow, l.side, &l.flow));
        if !pinned {
            self.forged(side, flow, Some(Method::Cancel));
            self.respond(now, id, request, 481, None, &[]);
            return false;
        }
        self.respond(now, id, request, 200, None, &[]);
        self.txs.insert(id, TxCtx::Done);
        true
    }

    /// Final `code` to the caller, CANCEL towards the callee (now, or after its first
    /// provisional); the call ends when the callee's INVITE does.
    pub(super) fn cancel_call(&mut self, now: Instant, handle: CallHandle, code: u16) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        call.state = CallState::Cancelling;
        call.ring_deadline = None;
        let a_tag = call.leg(Leg::A).local_tag.clone();
        let incoming = call.incoming.take();
        let mut cancel = None;
        if let Some(o) = call.outgoing.as_mut() {
            if o.provisional {
                cancel = Some(crate::cancel_for(&o.request));
            } else {
                o.cancel_pending = true;
            }
        }
        let b = call.leg(Leg::B);
        let (b_side, b_flow) = (b.side, b.flow);
        for d in &call.legs {
            self.dialogs
                .remove(&(d.call_id.clone(), d.local_tag.clone()));
        }
        if let Some((tx, req)) = incoming {
            self.respond(now, tx, &req, code, Some(&a_tag), &[]);
        }
        if let Some(c) = cancel {
            self.send_cancel(now, c, b_side, b_flow);
            self.arm_cancel_give_up(now, handle);
        }
        self.events.push_back(B2buaEvent::CallEnded {
            call: handle,
            status: code,
        });
    }

    pub(super) fn ring_timeout(&mut self, now: Instant, handle: CallHandle) {
        self.cancel_call(now, handle, 480);
    }

    /// A CANCEL for `handle`'s INVITE on leg B went out at `now`: give the callee
    /// 64*T1 for the final response.
    pub(super) fn arm_cancel_give_up(&mut self, now: Instant, handle: CallHandle) {
        let at = now + self.config.transactions.timers().t1x64();
        self.push_timer(at, handle, CallTimer::CancelGiveUp);
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
