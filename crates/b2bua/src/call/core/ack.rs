//! The 2xx/ACK handshake on the leg that sent an INVITE (the caller's initial INVITE, or
//! a re-INVITE from either side): our 2xx is retransmitted until the ACK arrives (T1
//! doubling to T2 on an unreliable flow), and without one in 64*T1 the call is hung up
//! on both legs (RFC 3261 §13.3.1.4). An ACK that carries the answer to a late offer is
//! relayed as the ACK of the other leg's 2xx.
//!
//! Separate because the transaction layer does not retransmit a 2xx to an INVITE (its
//! server transaction only passes 2xx retransmissions and ACKs through in Accepted, RFC
//! 6026): retransmitting that 2xx and matching its ACK is the dialog's job, done here
//! for both the initial INVITE and re-INVITEs.

use std::time::Instant;

use rsip::{Method, Request, Response};

use super::{B2bua, CallTimer};
use crate::call::headers as hdr;
use crate::call::side::same_source;
use crate::call::state::{AwaitAck, Leg};
use crate::{CallHandle, Flow, Side, TransactionId};

impl B2bua {
    pub(super) fn on_ack(&mut self, request: Request, flow: Flow, side: Side) {
        let key = (
            hdr::call_id_of(&request.headers).unwrap_or("").to_owned(),
            hdr::tag_of(&request.headers, true).unwrap_or_default(),
        );
        let Some(&(handle, leg)) = self.dialogs.get(&key) else {
            return;
        };
        let cseq = hdr::cseq_of(&request.headers).unwrap_or(0);
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let d = call.leg(leg);
        if !same_source(side, &flow, d.side, &d.flow)
            || hdr::tag_of(&request.headers, false) != d.remote_tag
        {
            self.forged(side, flow, Some(Method::Ack));
            return;
        }
        let matches = call
            .await_ack
            .as_ref()
            .is_some_and(|w| w.leg == leg && w.cseq == cseq);
        if !matches {
            return; // a retransmitted ACK
        }
        let deferred = call.await_ack.take().and_then(|w| w.deferred);
        call.reinvite_busy = false;
        // The initial INVITE's request copies are no longer needed: free them.
        call.incoming = None;
        call.outgoing = None;
        call.reliable = None;
        if let Some((other, other_cseq)) = deferred {
            let body = self
                .relay_body(handle, &request.headers, &request.body, leg, other)
                .ok()
                .flatten();
            self.send_ack(handle, other, other_cseq, body);
        }
    }

    #[allow(clippy::too_many_arguments)] // one call site per INVITE kind; a struct adds nothing
    pub(super) fn await_ack(
        &mut self,
        now: Instant,
        handle: CallHandle,
        leg: Leg,
        server: TransactionId,
        response: Response,
        cseq: u32,
        deferred: Option<(Leg, u32)>,
    ) {
        let timers = *self.config.transactions.timers();
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let reliable = call.leg(leg).flow.is_reliable();
        let next = (!reliable).then(|| now + timers.t1());
        let give_up = now + timers.t1x64();
        call.await_ack = Some(AwaitAck {
            leg,
            server,
            response,
            cseq,
            interval: timers.t1(),
            next,
            give_up,
            deferred,
        });
        self.arm_retransmission(handle, CallTimer::AckWait, next, give_up);
    }

    /// Arms a call's retransmission timer (`next`, none on reliable transports) and its
    /// give-up deadline.
    pub(super) fn arm_retransmission(
        &mut self,
        handle: CallHandle,
        kind: CallTimer,
        next: Option<Instant>,
        give_up: Instant,
    ) {
        if let Some(n) = next {
            self.push_timer(n, handle, kind);
        }
        self.push_timer(give_up, handle, kind);
    }

    /// The 2xx retransmission timer, or the give-up (no ACK in 64*T1: hang up both legs,
    /// RFC 3261 §13.3.1.4).
    pub(super) fn ack_timer(&mut self, now: Instant, at: Instant, handle: CallHandle) {
        let t2 = self.config.transactions.timers().t2();
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let Some(w) = call.await_ack.as_mut() else {
            return;
        };
        if w.give_up <= at {
            call.await_ack = None;
            self.send_bye(now, handle, Leg::A);
            self.send_bye(now, handle, Leg::B);
            self.end_call(handle, 200);
            return;
        }
        w.interval = (w.interval * 2).min(t2);
        let next = at + w.interval;
        w.next = Some(next);
        let (server, r) = (w.server, w.response.clone());
        let _ = self.layer.send_response(now, server, r);
        self.push_timer(next, handle, CallTimer::AckWait);
    }

    /// A 2xx came again on `leg` of `handle`: our ACK was lost, so it goes again (RFC
    /// 3261 §13.2.2.4: the ACK is resent for every retransmitted 2xx).
    pub(super) fn resend_last_ack(&mut self, handle: CallHandle, leg: Leg) {
        let Some(d) = self.calls.get(&handle).map(|c| c.leg(leg)) else {
            return;
        };
        if let Some(ack) = d.last_ack.clone() {
            let f = d.flow;
            self.layer.send_stateless(f, &ack);
        }
    }
}
