//! In-dialog requests once a call exists: BYE, re-INVITE, UPDATE, INFO and OPTIONS from
//! either leg, checked against that leg's dialog (source, tags, CSeq), relayed as a new
//! request written in the other leg's dialog, and the far end's final response relayed
//! back. The caller's PRACKs go to `reliable.rs`.
//!
//! Separate from new calls and from the initial INVITE's responses because these run in
//! an established dialog pair: the request is answered on one leg from the other leg's
//! outcome, with its own glare rules (491) and body exchange. A relayed re-INVITE holds
//! the call's re-INVITE slot until its final response, which `reinvite_guard.rs` bounds.

use std::time::Instant;

use drawbridge_sip::response_to;
use rsip::{Method, Request, Response};

use super::{B2bua, Outgoing, TxCtx, code_of, reliable};
use crate::call::headers::{self as hdr, crossing_headers, reason_phrase};
use crate::call::side::same_source;
use crate::call::state::{CallState, Leg};
use crate::{CallHandle, Flow, Side, TransactionId};

impl B2bua {
    pub(super) fn on_in_dialog(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: Request,
        flow: Flow,
        side: Side,
    ) {
        let key = (
            hdr::call_id_of(&request.headers).unwrap_or("").to_owned(),
            hdr::tag_of(&request.headers, true).unwrap_or_default(),
        );
        let Some(&(handle, leg)) = self.dialogs.get(&key) else {
            self.respond(now, id, &request, 481, None, &[]);
            return;
        };
        let from_tag = hdr::tag_of(&request.headers, false);
        let cseq = hdr::cseq_of(&request.headers).unwrap_or(0);
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let d = call.leg_mut(leg);
        if !same_source(side, &flow, d.side, &d.flow) || from_tag != d.remote_tag {
            self.forged(side, flow, Some(request.method));
            self.respond(now, id, &request, 481, None, &[]);
            return;
        }
        if cseq <= d.remote_cseq {
            self.respond(now, id, &request, 500, None, &[]);
            return;
        }
        d.remote_cseq = cseq;
        if let Some(target) = hdr::contact_uri(&request.headers)
            && request.method == Method::Invite
        {
            d.remote_target = target;
        }
        let state = call.state;
        match request.method {
            Method::Bye => {
                self.respond(now, id, &request, 200, None, &[]);
                self.txs.insert(id, TxCtx::Done);
                if self.bye_while_held(now, handle, leg, 487) {
                    // The caller never got the 2xx: its INVITE was answered 487.
                } else if state == CallState::Confirmed {
                    self.send_bye(now, handle, leg.other());
                    self.end_call(handle, 200);
                } else if leg == Leg::A {
                    self.cancel_call(now, handle, 487);
                }
            }
            Method::Update if !request.body.is_empty() && reliable::late_offer_open(call) => {
                // RFC 3311 §5.2: the caller has our offer (the callee's) unanswered, so
                // 491; the callee is waiting for our answer, so 500 and a retry later.
                let (code, extra) = match leg {
                    Leg::A => (491, Vec::new()),
                    Leg::B => (500, vec![("Retry-After".to_owned(), "1".to_owned())]),
                };
                self.respond(now, id, &request, code, None, &extra);
            }
            Method::Invite | Method::Update | Method::Info | Method::Options => {
                let busy = call.reinvite_busy
                    || call.await_ack.is_some()
                    || call.reliable.as_ref().is_some_and(|r| r.holds_answer());
                if request.method == Method::Invite && (state != CallState::Confirmed || busy) {
                    self.respond(now, id, &request, 491, None, &[]);
                    return;
                }
                if call.leg(leg.other()).remote_tag.is_none() {
                    self.respond(now, id, &request, 481, None, &[]);
                    return;
                }
                self.relay_request(now, id, handle, leg, request);
            }
            Method::PRack if leg == Leg::A => self.on_caller_prack(now, id, handle, &request),
            _ => self.respond(now, id, &request, 501, None, &[]),
        }
    }

    fn relay_request(
        &mut self,
        now: Instant,
        server: TransactionId,
        handle: CallHandle,
        from: Leg,
        request: Request,
    ) {
        let to = from.other();
        // A re-INVITE's offer re-points the relay at once; if the re-INVITE fails, the
        // session (and the relay) go back to what they were (RFC 3261 §14.1).
        let restore_media = (request.method == Method::Invite && !request.body.is_empty())
            .then(|| self.calls.get(&handle).map(|c| c.leg(from).media.clone()))
            .flatten();
        let body = match self.relay_body(handle, &request.headers, &request.body, from, to) {
            Ok(b) => b,
            Err(code) => {
                self.respond(now, server, &request, code, None, &[]);
                return;
            }
        };
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let d = call.leg_mut(to);
        d.local_cseq += 1;
        let cseq = d.local_cseq;
        let (side, flow, uri) = (d.side, d.flow, d.remote_target.clone());
        let host = self.host_for(side);
        let extra = crossing_headers(&self.config, &request.headers, &host);
        let method = request.method.to_string();
        let is_invite = request.method == Method::Invite;
        let o = Outgoing {
            method: &method,
            uri: &uri,
            cseq,
            max_forwards: 70,
            contact: matches!(request.method, Method::Invite | Method::Update),
            extra: &extra,
            body: body.as_ref().map(|(b, ct)| (b.as_slice(), ct.as_str())),
        };
        let built = self.with_dialog(handle, to, |me, d| me.build_request(d, &o));
        let Some((req, branch, wire)) = built else {
            self.respond(now, server, &request, 500, None, &[]);
            return;
        };
        let had_offer = body.is_some();
        let ctx = |request| {
            TxCtx::relay_out(handle, to, server, request, false, had_offer, restore_media)
        };
        let Some(client) = self.send_client_wire(now, req, branch, Some(wire), side, flow, ctx)
        else {
            self.respond(now, server, &request, 500, None, &[]);
            return;
        };
        self.txs.insert(
            server,
            TxCtx::RelayIn {
                request,
                call: handle,
            },
        );
        if is_invite {
            if let Some(call) = self.calls.get_mut(&handle) {
                call.reinvite_busy = true;
            }
            self.arm_reinvite_guard(now, handle, client);
        }
    }

    pub(super) fn on_relay_response(
        &mut self,
        now: Instant,
        id: TransactionId,
        response: Response,
    ) {
        let code = code_of(&response);
        let Some(TxCtx::RelayOut {
            call: handle,
            leg,
            server,
            had_offer,
            answered,
            request,
            provisional,
            cancelled,
            cancel_asked,
            ..
        }) = self.txs.get_mut(&id)
        else {
            return;
        };
        if code < 200 && !std::mem::replace(provisional, true) && *cancel_asked && !*answered {
            // The requester's CANCEL waited for this first provisional (RFC 3261 §9.1).
            let (cancel, handle, leg) = (crate::cancel_for(request), *handle, *leg);
            self.send_relay_cancel(now, handle, id, leg, cancel);
            return;
        }
        let (handle, to, server, had_offer) = (*handle, *leg, *server, *had_offer);
        if *cancelled {
            if code >= 200 {
                let first = !std::mem::replace(answered, true);
                self.late_reinvite_response(now, handle, id, to, &response, first);
            }
            return;
        }
        let is_invite = request.method == Method::Invite;
        // The offer of an UPDATE we sent the caller: the last SDP it got from us if the
        // UPDATE succeeds (see `caller_sdp_renegotiated`).
        let offer_to_caller = (to == Leg::A
            && request.method == Method::Update
            && hdr::body_is_sdp(&request.headers))
        .then(|| (request.body.clone(), "application/sdp".to_owned()));
        let is_update = request.method == Method::Update;
        if code < 200 {
            return; // provisionals of in-dialog requests are not relayed
        }
        if *answered {
            // A retransmitted 2xx to a re-INVITE: ACK again.
            self.resend_last_ack(handle, to);
            return;
        }
        *answered = true;
        if is_invite {
            self.reinvite_settled(handle, id);
        }
        let from = to.other();
        let Some(TxCtx::RelayIn { request: orig, .. }) = self.txs.get(&server) else {
            return;
        };
        let orig = orig.clone();
        let ok = (200..300).contains(&code);
        let (body, status) = if ok {
            match self.relay_body(handle, &response.headers, &response.body, to, from) {
                Ok(b) => (b, code),
                Err(_) => (None, 488),
            }
        } else {
            (None, hdr::map_final(code))
        };
        // The far end accepted (2xx) an offer whose answer cannot be relayed: it now runs
        // a session the requester will never hear of. See `unusable_answer` below.
        let unusable_answer = ok && status == 488;
        if ok && is_update {
            let to_caller = match from {
                Leg::A => body.clone().filter(|(_, ct)| ct == "application/sdp"),
                Leg::B => offer_to_caller,
            };
            if let Some(sdp) = to_caller {
                self.caller_sdp_renegotiated(handle, sdp);
            }
        }
        let cseq = hdr::cseq_of(&response.headers).unwrap_or(0);
        if let Some(call) = self.calls.get_mut(&handle)
            && ok
            && is_invite
            && let Some(t) = hdr::contact_uri(&response.headers)
        {
            call.leg_mut(to).remote_target = t;
        }
        let deferred = ok && is_invite && !had_offer && body.is_some();
        if ok && is_invite && !deferred {
            self.send_ack(handle, to, cseq, None);
        }
        let Some(call) = self.calls.get(&handle) else {
            // The call ended while the far end was answering (an UPDATE or INFO: a
            // re-INVITE's requester was answered when the call ended). The requester
            // still needs a final response, or its transaction would wait for ever:
            // 487, as for any request pending when a dialog ends (RFC 3261 §15.1.2).
            self.respond(now, server, &orig, 487, None, &[]);
            return;
        };
        let (f_side, f_flow) = (call.leg(from).side, call.leg(from).flow);
        let mut r = response_to(&orig, status, reason_phrase(status), None);
        let contact =
            (ok && matches!(orig.method, Method::Invite | Method::Update)).then_some(f_flow);
        self.dress_relayed(&mut r, &response, f_side, contact, body);
        let copy = r.clone();
        let _ = self.layer.send_response(now, server, r);
        if unusable_answer {
            // The requester got 488 and keeps the old session (RFC 3261 §14.1); the far
            // end (ACKed above, as every 2xx must be) runs the new one. Rather than leave
            // the two ends disagreeing about the media, end the call visibly on both
            // legs, as for a 2xx that crosses the guard's CANCEL.
            if let Some(call) = self.calls.get_mut(&handle) {
                call.reinvite_busy = false;
            }
            self.send_bye(now, handle, to);
            self.send_bye(now, handle, from);
            self.end_call(handle, 488);
            return;
        }
        let orig_cseq = hdr::cseq_of(&orig.headers).unwrap_or(0);
        if is_invite {
            if ok {
                self.await_ack(
                    now,
                    handle,
                    from,
                    server,
                    copy,
                    orig_cseq,
                    deferred.then_some((to, cseq)),
                );
            } else {
                if let Some(call) = self.calls.get_mut(&handle) {
                    call.reinvite_busy = false;
                }
                self.restore_media(handle, id, from);
            }
        }
    }
}
