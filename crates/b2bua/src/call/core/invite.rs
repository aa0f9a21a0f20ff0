//! New calls: an initial INVITE from either side, checked and admitted, becomes a call
//! with two dialogs (ours towards the caller, a fresh one towards the callee), media
//! anchored for its offer, and the callee's INVITE written from leg B alone.
//!
//! Separate because it is the one place a call is created: every limit a new call
//! must pass (call cap, admission, Max-Forwards, `Require`, identities that may cross)
//! is checked here, before anything is allocated.

use std::time::Instant;

use drawbridge_sip::sdp::LegOrigin;
use rsip::headers::UntypedHeader as _;
use rsip::{Header, Request};

use super::{B2bua, B2buaEvent, CallTimer, Outgoing, TxCtx};
use crate::call::headers::{self as hdr, RELAYED_METHODS, crossing_headers};
use crate::call::state::{Call, CallState, Dialog, Leg, OutgoingInvite};
use crate::{Flow, Side, TransactionId};

impl B2bua {
    pub(super) fn refuse(&mut self, now: Instant, id: TransactionId, request: &Request, code: u16) {
        self.counters.calls_refused += 1;
        let tag = self.ids.tag();
        self.respond(now, id, request, code, Some(&tag), &[]);
    }

    pub(super) fn on_new_invite(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: Request,
        flow: Flow,
        side: Side,
    ) {
        // The 100 goes at once rather than after the 200 ms the RFC allows: it stops a UDP
        // caller's retransmissions while our processing delay is under T1 (500 ms), not
        // T1 - 200 ms, which matters most when drawbridge is busy; and a provider reads
        // it as "the SBC has the call".
        let _ = self.layer.send_trying(now, id);
        if self.calls.len() >= self.config.max_calls {
            return self.refuse(now, id, &request, 503);
        }
        let (b_side, b_flow, callee_host) = match side {
            Side::Outside(_) => (
                Side::Pbx,
                self.config.pbx.flow,
                self.config.pbx.domain.clone(),
            ),
            Side::Pbx => match self.config.trunks.get(self.config.outbound_trunk) {
                Some(t) => (
                    Side::trunk(self.config.outbound_trunk),
                    t.flow,
                    t.host.clone(),
                ),
                None => return self.refuse(now, id, &request, 503),
            },
        };
        if self.advertised(side).is_none() {
            return self.refuse(now, id, &request, 403);
        }
        // normalized_user: decodes the pre-pass's `%2E` and gives a tel: URI's number.
        let callee = match drawbridge_sip::normalized_user(&request.uri).as_deref() {
            // A registered trunk sends calls to the Contact we registered, whose user is
            // the account name: the number dialled is in To then.
            Some(u) if self.is_registered_account(side, u) => {
                match request.headers.iter().find_map(|h| match h {
                    Header::To(t) => hdr::identity_of(t.value()).map(|(_, user)| user),
                    _ => None,
                }) {
                    Some(u) if hdr::is_safe_user(&u) => u,
                    _ => return self.refuse(now, id, &request, 404),
                }
            }
            Some(u) if hdr::is_safe_user(u) => u.to_owned(),
            _ => return self.refuse(now, id, &request, 404),
        };
        let from_value = request.headers.iter().find_map(|h| match h {
            Header::From(f) => Some(rsip::headers::UntypedHeader::value(f).to_owned()),
            _ => None,
        });
        let (display, caller) = from_value
            .as_deref()
            .and_then(hdr::identity_of)
            .unwrap_or_else(|| (None, "anonymous".to_owned()));
        let max_forwards = hdr::value_of(&request.headers, "Max-Forwards")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(70);
        if max_forwards == 0 {
            return self.refuse(now, id, &request, 483);
        }
        let unsupported = hdr::unsupported_required(&request.headers);
        if !unsupported.is_empty() {
            self.counters.calls_refused += 1;
            let tag = self.ids.tag();
            let extra = [("Unsupported".to_owned(), unsupported.join(", "))];
            return self.respond(now, id, &request, 420, Some(&tag), &extra);
        }
        let (Some(remote_tag), Some(cseq), Some(call_id), Some(remote_target)) = (
            hdr::tag_of(&request.headers, false),
            hdr::cseq_of(&request.headers),
            hdr::call_id_of(&request.headers).map(str::to_owned),
            hdr::contact_uri(&request.headers),
        ) else {
            return self.refuse(now, id, &request, 400);
        };
        let (Some(a_local), Some(a_remote)) = (
            hdr::uri_without_tag(&request.headers, true),
            hdr::uri_without_tag(&request.headers, false),
        ) else {
            return self.refuse(now, id, &request, 400);
        };
        let Some(b_host) = self.advertised(b_side).map(|a| a.host.clone()) else {
            return self.refuse(now, id, &request, 503);
        };
        let reliable = self.caller_reliability(&request, cseq);
        let caller_requires_100rel = reliable.is_some();

        self.next_call += 1;
        let handle = self.config.shard.call_handle(self.next_call);
        if let Some(admission) = self.admission.as_mut()
            && let Err(code) = admission.admit(now, handle, side, b_side)
        {
            return self.refuse(now, id, &request, code);
        }
        let a = Dialog {
            side,
            flow,
            call_id,
            local_tag: self.ids.tag(),
            remote_tag: Some(remote_tag),
            local_uri: a_local,
            remote_uri: a_remote,
            local_cseq: 0,
            remote_cseq: cseq,
            remote_target,
            route_set: hdr::record_routes(&request.headers),
            sdp: LegOrigin::new(self.ids.sess_id(), 1),
            last_ack: None,
            media: Vec::new(),
        };
        let b = Dialog {
            side: b_side,
            flow: b_flow,
            call_id: self.ids.call_id(),
            local_tag: self.ids.tag(),
            remote_tag: None,
            local_uri: hdr::name_addr(display.as_deref(), &caller, &b_host),
            remote_uri: hdr::name_addr(None, &callee, &callee_host),
            local_cseq: 1,
            remote_cseq: 0,
            remote_target: format!("sip:{callee}@{}", hdr::uri_host(&callee_host)),
            route_set: Vec::new(),
            sdp: LegOrigin::new(self.ids.sess_id(), 1),
            last_ack: None,
            media: Vec::new(),
        };
        self.calls.insert(
            handle,
            Call {
                state: CallState::Calling,
                legs: [a, b],
                incoming: None,
                outgoing: None,
                ring_deadline: None,
                await_ack: None,
                reinvite_busy: false,
                reinvite_guard: None,
                cancelled_reinvites: Vec::new(),
                reliable,
            },
        );
        let body = match self.relay_body(handle, &request.headers, &request.body, Leg::A, Leg::B) {
            Ok(b) => b,
            Err(code) => {
                self.calls.remove(&handle);
                self.release_call(handle);
                return self.refuse(now, id, &request, code);
            }
        };
        let mut extra = crossing_headers(&self.config, &request.headers, &b_host);
        if !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case("Allow")) {
            extra.push(("Allow".into(), RELAYED_METHODS.join(", ")));
        }
        if body.is_some() || caller_requires_100rel {
            // Reliable provisionals are terminated on this leg (we PRACK them). Without
            // an offer of ours, only for a caller that requires 100rel: an offer in the
            // callee's reliable provisional needs an answer in our PRACK, which only
            // the caller can give, in its PRACK of our reliable provisional (see
            // `reliable.rs`).
            match extra
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case("Supported"))
            {
                Some((_, v)) => v.push_str(", 100rel"),
                None => extra.push(("Supported".into(), "100rel".into())),
            }
        }
        let uri = format!("sip:{callee}@{}", hdr::uri_host(&callee_host));
        let o = Outgoing {
            method: "INVITE",
            uri: &uri,
            cseq: 1,
            max_forwards: (max_forwards - 1).min(70),
            contact: true,
            extra: &extra,
            body: body.as_ref().map(|(b, ct)| (b.as_slice(), ct.as_str())),
        };
        let built = self.with_dialog(handle, Leg::B, |me, d| me.build_request(d, &o));
        let sent = built.and_then(|(req, branch, wire)| {
            let mut kept = None;
            let ctx = |r| {
                kept = Some(r);
                TxCtx::InviteOut(handle)
            };
            let tx = self.send_client_wire(now, req, branch, Some(wire), b_side, b_flow, ctx)?;
            Some((tx, kept?))
        });
        let Some((b_tx, b_request)) = sent else {
            self.calls.remove(&handle);
            self.release_call(handle);
            return self.refuse(now, id, &request, 500);
        };
        let ring = now + self.config.ring_timeout;
        if let Some(call) = self.calls.get_mut(&handle) {
            call.outgoing = Some(OutgoingInvite {
                tx: b_tx,
                request: b_request,
                provisional: false,
                auth_tried: false,
                cancel_pending: false,
                last_rseq: None,
                early_answer: None,
            });
            call.ring_deadline = Some(ring);
            for (leg, d) in [Leg::A, Leg::B].into_iter().zip(&call.legs) {
                self.dialogs
                    .insert((d.call_id.clone(), d.local_tag.clone()), (handle, leg));
            }
            call.incoming = Some((id, request));
        }
        self.push_timer(ring, handle, CallTimer::Ring);
        self.txs.insert(id, TxCtx::InviteIn(handle));
        self.counters.calls_started += 1;
        self.events.push_back(B2buaEvent::CallStarted {
            call: handle,
            from: side,
            to: b_side,
            caller,
            callee,
        });
    }
}
