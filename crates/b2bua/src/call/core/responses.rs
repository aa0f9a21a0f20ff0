//! The callee's responses to the initial INVITE: provisionals relayed to the caller
//! (early media, PRACKs on leg B, the early dialog), the 2xx that answers the call, and
//! failures mapped for the caller; plus the unwanted 2xx (second fork, call gone) that
//! is ACKed and hung up at once.
//!
//! Separate because this is where a call's state moves from `Calling` through `Early` to
//! `Confirmed` or ends, and where the callee's answer is rebuilt for the caller's leg.

use std::fmt::Write as _;
use std::time::Instant;

use drawbridge_sip::{parse_message, response_to};
use rsip::{Header, Response, SipMessage};

use super::{B2bua, B2buaEvent, TxCtx, code_of, reliable, via_transport};
use crate::call::headers::{self as hdr, crossing_headers, reason_phrase};
use crate::call::state::{CallState, Leg};
use crate::{Advertised, CallHandle, TransactionId};

impl B2bua {
    pub(super) fn on_invite_response(
        &mut self,
        now: Instant,
        id: TransactionId,
        handle: CallHandle,
        response: Response,
    ) {
        let code = code_of(&response);
        let Some(call) = self.calls.get_mut(&handle) else {
            if (200..300).contains(&code) {
                self.kill_2xx(now, id, &response);
            }
            return;
        };
        let current = call.outgoing.as_ref().is_some_and(|o| o.tx == id);
        let to_tag = hdr::tag_of(&response.headers, true);
        // A 100 counts as the provisional a CANCEL waits for (RFC 3261 §9.1): after it
        // no Timer B runs, so a callee sending nothing more would keep a cancelled call.
        if (100..200).contains(&code) {
            let Some(o) = call.outgoing.as_mut().filter(|_| current) else {
                return;
            };
            o.provisional = true;
            if o.cancel_pending {
                o.cancel_pending = false;
                let cancel = crate::cancel_for(&o.request);
                let b = call.leg(Leg::B);
                let (s, f) = (b.side, b.flow);
                self.send_cancel(now, cancel, s, f);
                self.arm_cancel_give_up(now, handle);
                return;
            }
            if call.state == CallState::Cancelling
                || code == 100
                || reliable::from_other_fork(call, &to_tag)
            {
                return;
            }
            let rseq = hdr::reliable_rseq(&response.headers);
            if let Some(n) = rseq
                && let Some(o) = call.outgoing.as_mut()
            {
                if o.last_rseq
                    .as_ref()
                    .is_some_and(|(tag, last)| *tag == to_tag && n <= *last)
                {
                    return; // a retransmission: PRACKed (or held, see `reliable.rs`), relayed
                }
                o.last_rseq = Some((to_tag.clone(), n));
            }
            call.state = CallState::Early;
            let b = call.leg_mut(Leg::B);
            if to_tag.is_some() {
                b.remote_tag = to_tag;
            }
            if let Some(t) = hdr::contact_uri(&response.headers) {
                b.remote_target = t;
            }
            if rseq.is_some() || b.remote_tag.is_some() {
                // The early dialog's route set (RFC 3261 §12.1.2), for a PRACK or an
                // UPDATE sent in it; the 2xx sets the confirmed dialog's.
                let mut rr = hdr::record_routes(&response.headers);
                rr.reverse();
                b.route_set = rr;
            }
            // Early media; an SDP we cannot use is dropped from the provisional.
            let body = self
                .relay_body(handle, &response.headers, &response.body, Leg::B, Leg::A)
                .ok()
                .flatten();
            if let Some(n) = rseq {
                let invite_cseq = hdr::cseq_of(&response.headers).unwrap_or(1);
                if body.is_some() && self.takes_late_offer(handle, n, invite_cseq) {
                    // The callee's offer goes to the caller; our PRACK waits for its
                    // answer (see `reliable.rs`).
                    self.provisional_to_caller(now, handle, code, &response, body);
                    return;
                }
                self.send_prack(now, handle, n, invite_cseq, None);
                if let Some(o) = self
                    .calls
                    .get_mut(&handle)
                    .and_then(|c| c.outgoing.as_mut())
                    && !o.request.body.is_empty()
                    && body.is_some()
                {
                    o.early_answer.clone_from(&body);
                }
            }
            // Reliably if the caller required 100rel, else unreliably.
            self.provisional_to_caller(now, handle, code, &response, body);
            return;
        }
        if (200..300).contains(&code) {
            let confirmed_tag = call.leg(Leg::B).remote_tag.clone();
            match call.state {
                CallState::Confirmed => {
                    if to_tag == confirmed_tag {
                        // A retransmitted 2xx: our ACK was lost.
                        self.resend_last_ack(handle, Leg::B);
                    } else {
                        self.kill_2xx(now, id, &response); // a second fork answered
                    }
                    return;
                }
                CallState::Cancelling => {
                    self.kill_2xx(now, id, &response);
                    self.end_call(handle, 487);
                    return;
                }
                CallState::Calling | CallState::Early => {}
            }
            let had_offer = call
                .outgoing
                .as_ref()
                .is_some_and(|o| !o.request.body.is_empty());
            let invite_cseq = hdr::cseq_of(&response.headers).unwrap_or(1);
            let b = call.leg_mut(Leg::B);
            b.remote_tag = to_tag;
            if let Some(t) = hdr::contact_uri(&response.headers) {
                b.remote_target = t;
            }
            let mut rr = hdr::record_routes(&response.headers);
            rr.reverse();
            b.route_set = rr;
            call.state = CallState::Confirmed;
            call.ring_deadline = None;
            let Ok(body) =
                self.relay_body(handle, &response.headers, &response.body, Leg::B, Leg::A)
            else {
                // Unusable answer: accept on B and hang up; the caller gets 502.
                self.send_ack(handle, Leg::B, invite_cseq, None);
                self.send_bye(now, handle, Leg::B);
                if let Some(call) = self.calls.get_mut(&handle) {
                    let a_tag = call.leg(Leg::A).local_tag.clone();
                    if let Some((tx, req)) = call.incoming.take() {
                        self.respond(now, tx, &req, 502, Some(&a_tag), &[]);
                    }
                }
                self.end_call(handle, 502);
                return;
            };
            let body = match body {
                // The answer came in a reliable provisional (RFC 3262 §5): repeat it.
                None if had_offer => self
                    .calls
                    .get_mut(&handle)
                    .and_then(|c| c.outgoing.as_mut())
                    .and_then(|o| o.early_answer.take()),
                b => b,
            };
            // An answer the caller already got in a reliable provisional is repeated;
            // after a late offer in one, the 2xx carries no SDP.
            self.drop_unsent_late_offer(handle);
            let body = self.caller_final_body(handle, body);
            let deferred = !had_offer && body.is_some();
            if !deferred {
                self.send_ack(handle, Leg::B, invite_cseq, None);
            }
            self.counters.calls_answered += 1;
            self.events
                .push_back(B2buaEvent::CallAnswered { call: handle });
            let deferred = deferred.then_some((Leg::B, invite_cseq));
            // RFC 3262 §3: no 2xx before the PRACK of a reliable provisional with SDP.
            if !self.hold_answer(handle, code, &response, &body, deferred) {
                self.answer_caller(now, handle, code, &response, body, deferred);
            }
            return;
        }
        // Final failure.
        if !current {
            return;
        }
        if call.state == CallState::Cancelling {
            self.end_call(handle, 487);
            return;
        }
        let mapped = hdr::map_final(code);
        let a_tag = call.leg(Leg::A).local_tag.clone();
        let a_side = call.leg(Leg::A).side;
        let incoming = call.incoming.take();
        let host = self.host_for(a_side);
        if let Some((tx, req)) = incoming {
            let extra = crossing_headers(&self.config, &response.headers, &host);
            self.respond(now, tx, &req, mapped, Some(&a_tag), &extra);
        }
        self.end_call(handle, mapped);
    }

    /// Sends B's 2xx (its body already for A) to the caller and waits for the ACK.
    pub(super) fn answer_caller(
        &mut self,
        now: Instant,
        handle: CallHandle,
        code: u16,
        response: &Response,
        body: Option<(Vec<u8>, String)>,
        deferred: Option<(Leg, u32)>,
    ) {
        // The ACK carries the INVITE's CSeq, not the leg's latest (a PRACK or an early
        // UPDATE from the caller has a higher one).
        let a_cseq = self
            .calls
            .get(&handle)
            .and_then(|c| c.incoming.as_ref())
            .and_then(|(_, req)| hdr::cseq_of(&req.headers))
            .unwrap_or(0);
        if let Some(r) = self.relay_to_caller(now, handle, code, response, body) {
            let server = self
                .calls
                .get(&handle)
                .and_then(|c| c.incoming.as_ref().map(|(t, _)| *t));
            if let Some(server) = server {
                self.await_ack(now, handle, Leg::A, server, r, a_cseq, deferred);
            }
        }
    }

    /// Relays a response of B's initial INVITE to A; returns what was sent for a 2xx.
    pub(super) fn relay_to_caller(
        &mut self,
        now: Instant,
        handle: CallHandle,
        code: u16,
        response: &Response,
        body: Option<(Vec<u8>, String)>,
    ) -> Option<Response> {
        let (tx, r) = self.response_for_caller(handle, code, response, body)?;
        let copy = (200..300).contains(&code).then(|| r.clone());
        self.layer.send_response(now, tx, r).ok()?;
        copy
    }

    /// B's response to the initial INVITE rebuilt for A (our tag, Contact, the headers
    /// allowed to cross, `body`), with A's INVITE server transaction.
    pub(super) fn response_for_caller(
        &self,
        handle: CallHandle,
        code: u16,
        response: &Response,
        body: Option<(Vec<u8>, String)>,
    ) -> Option<(TransactionId, Response)> {
        let call = self.calls.get(&handle)?;
        let a = call.leg(Leg::A);
        let (tx, req) = call.incoming.as_ref()?;
        let (tx, a_tag, a_side, a_flow) = (*tx, a.local_tag.clone(), a.side, a.flow);
        self.advertised(a_side)?;
        let mut r = response_to(req, code, reason_phrase(code), Some(&a_tag));
        self.dress_relayed(&mut r, response, a_side, Some(a_flow), body);
        Some((tx, r))
    }

    /// A 2xx nobody wants (the call is gone, a second fork, or cancelled too late): ACK
    /// it and hang up, built from the response alone (RFC 3261 §15: a UAC must not leave
    /// an answered dialog open).
    fn kill_2xx(&mut self, now: Instant, id: TransactionId, response: &Response) {
        let Some(pin) = self.pin(id) else {
            return;
        };
        let Some(adv) = self.advertised(pin.side).map(Advertised::host_port) else {
            return;
        };
        let (Some(uri), Some(call_id), Some(cseq)) = (
            hdr::contact_uri(&response.headers),
            hdr::call_id_of(&response.headers),
            hdr::cseq_of(&response.headers),
        ) else {
            return;
        };
        let from = response.headers.iter().find_map(|h| match h {
            Header::From(f) => Some(rsip::headers::UntypedHeader::value(f).to_owned()),
            _ => None,
        });
        let to = response.headers.iter().find_map(|h| match h {
            Header::To(t) => Some(rsip::headers::UntypedHeader::value(t).to_owned()),
            _ => None,
        });
        let (Some(from), Some(to)) = (from, to) else {
            return;
        };
        let mut routes = hdr::record_routes(&response.headers);
        routes.reverse();
        let limits = self.config.limits;
        let build = |me: &mut Self, method: &str, n: u32| {
            let branch = me.layer.new_branch();
            let mut t = format!(
                "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/{} {adv};branch={branch};rport\r\n",
                via_transport(&pin.flow)
            );
            for r in &routes {
                let _ = write!(t, "Route: {r}\r\n");
            }
            let _ = write!(
                t,
                "Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {n} {method}\r\nContent-Length: 0\r\n\r\n"
            );
            match parse_message(t.as_bytes(), &limits) {
                Ok(SipMessage::Request(r)) => Some((r, branch)),
                _ => None,
            }
        };
        if let Some((ack, _)) = build(self, "ACK", cseq) {
            self.layer.send_stateless(pin.flow, &ack);
        }
        if let Some((bye, branch)) = build(self, "BYE", cseq + 1) {
            let ctx = TxCtx::Own {
                request: bye.clone(),
                auth_tried: false,
                dialog: None,
            };
            self.send_client(now, bye, branch, pin.side, pin.flow, ctx);
        }
    }
}
