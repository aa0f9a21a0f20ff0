//! Writing and sending messages on one leg: responses to a server transaction, requests
//! built from a leg's dialog (BYE, PRACK, ACK, CANCEL and relayed copies) and the client
//! transactions that carry them, pinned to where their responses must come from.
//!
//! Separate from the call flow because every path (new calls, in-dialog relays, trunk
//! keep-alives and registrations, timers) goes through these helpers; they are where
//! topology hiding is enforced (each request is written from our side's dialog alone).

use std::time::Instant;

use drawbridge_sip::sdp::LegOrigin;
use drawbridge_sip::{parse_built, response_to};
use rsip::{Header, Request, Response, SipMessage};

use super::{B2bua, Outgoing, Pin, TxCtx, contact_param, via_transport};
use crate::call::headers::{crossing_headers, reason_phrase};
use crate::call::state::{Dialog, Leg};
use crate::text::push_decimal;
use crate::{Advertised, CallHandle, Flow, Outside, Side, TransactionId};

impl B2bua {
    pub(super) fn advertised(&self, side: Side) -> Option<&Advertised> {
        match side {
            Side::Pbx => Some(&self.config.pbx.advertised),
            Side::Outside(Outside::Trunk(i)) => self.config.trunks.get(i).map(|t| &t.advertised),
            Side::Outside(Outside::Peer(_)) => self.config.tunnel.as_ref(),
        }
    }

    pub(super) fn host_for(&self, side: Side) -> String {
        self.advertised(side)
            .map(|a| a.host.clone())
            .unwrap_or_else(|| "invalid".into())
    }

    pub(super) fn respond(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: &Request,
        code: u16,
        to_tag: Option<&str>,
        extra: &[(String, String)],
    ) {
        let mut r = response_to(request, code, reason_phrase(code), to_tag);
        for (n, v) in extra {
            r.headers.push(Header::Other(n.clone(), v.clone()));
        }
        if let Some(ua) = &self.config.user_agent {
            r.headers.push(Header::Other("Server".into(), ua.clone()));
        }
        // Nothing useful can be done if the transaction already ended.
        let _ = self.layer.send_response(now, id, r);
    }

    /// Writes a request for leg `dialog` and parses it back (what the transaction layer
    /// takes); returns it with its branch and the bytes (sent as they are).
    pub(super) fn build_request(
        &mut self,
        dialog: &Dialog,
        o: &Outgoing<'_>,
    ) -> Option<(Request, String, Vec<u8>)> {
        self.advertised(dialog.side)?;
        let branch = self.layer.new_branch();
        let adv = self.advertised(dialog.side)?;
        // Written piece by piece (no `write!`): this runs for every request we send.
        let mut t = String::with_capacity(
            512 + o
                .extra
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>(),
        );
        t.push_str(o.method);
        t.push(' ');
        t.push_str(o.uri);
        t.push_str(" SIP/2.0\r\nVia: SIP/2.0/");
        t.push_str(via_transport(&dialog.flow));
        t.push(' ');
        adv.push_host_port(&mut t);
        t.push_str(";branch=");
        t.push_str(&branch);
        t.push_str(";rport\r\n");
        for r in &dialog.route_set {
            t.push_str("Route: ");
            t.push_str(r);
            t.push_str("\r\n");
        }
        t.push_str("Max-Forwards: ");
        push_decimal(&mut t, u64::from(o.max_forwards));
        t.push_str("\r\nFrom: ");
        t.push_str(&dialog.local_uri);
        t.push_str(";tag=");
        t.push_str(&dialog.local_tag);
        t.push_str("\r\nTo: ");
        t.push_str(&dialog.remote_uri);
        if let Some(tag) = &dialog.remote_tag {
            t.push_str(";tag=");
            t.push_str(tag);
        }
        t.push_str("\r\nCall-ID: ");
        t.push_str(&dialog.call_id);
        t.push_str("\r\nCSeq: ");
        push_decimal(&mut t, u64::from(o.cseq));
        t.push(' ');
        t.push_str(o.method);
        t.push_str("\r\n");
        if o.contact {
            t.push_str("Contact: <sip:");
            adv.push_host_port(&mut t);
            t.push_str(contact_param(&dialog.flow));
            t.push_str(">\r\n");
        }
        if let Some(ua) = &self.config.user_agent {
            t.push_str("User-Agent: ");
            t.push_str(ua);
            t.push_str("\r\n");
        }
        for (n, v) in o.extra {
            t.push_str(n);
            t.push_str(": ");
            t.push_str(v);
            t.push_str("\r\n");
        }
        let body: &[u8] = match o.body {
            Some((b, ct)) => {
                t.push_str("Content-Type: ");
                t.push_str(ct);
                t.push_str("\r\n");
                b
            }
            None => &[],
        };
        t.push_str("Content-Length: ");
        push_decimal(&mut t, body.len() as u64);
        t.push_str("\r\n\r\n");
        let mut bytes = t.into_bytes();
        bytes.extend_from_slice(body);
        match parse_built(&bytes) {
            Ok(SipMessage::Request(r)) => Some((r, branch, bytes)),
            // A value copied from the other leg made the request invalid: refuse to send.
            _ => None,
        }
    }

    pub(super) fn send_client(
        &mut self,
        now: Instant,
        request: Request,
        branch: String,
        side: Side,
        flow: Flow,
        ctx: TxCtx,
    ) -> Option<TransactionId> {
        self.send_client_wire(now, request, branch, None, side, flow, |_| ctx)
    }

    /// [`Self::send_client`] with the request's bytes when `build_request` wrote them;
    /// `ctx` gets the request itself (kept for a CANCEL or an authenticated retry) rather
    /// than a copy.
    #[allow(clippy::too_many_arguments)] // the request, its bytes and where it goes
    pub(super) fn send_client_wire(
        &mut self,
        now: Instant,
        request: Request,
        branch: String,
        wire: Option<Vec<u8>>,
        side: Side,
        flow: Flow,
        ctx: impl FnOnce(Request) -> TxCtx,
    ) -> Option<TransactionId> {
        let flow = self.path(side, flow);
        let wire = wire.unwrap_or_else(|| drawbridge_sip::to_bytes(&request));
        let id = self
            .layer
            .send_request_wire(now, &request, wire, flow)
            .ok()?;
        let ctx = ctx(request);
        self.pins
            .entry(branch.clone())
            .or_insert(Pin { tx: id, side, flow });
        self.pin_of.insert(id, branch);
        self.txs.insert(id, ctx);
        if self.closed.is_closed(flow.id) {
            // Nowhere to send it: fail now rather than after the transport says so.
            self.layer.handle_transport_error(now, id);
        }
        Some(id)
    }

    /// Where client transaction `id` was sent.
    pub(super) fn pin(&self, id: TransactionId) -> Option<Pin> {
        self.pin_of
            .get(&id)
            .and_then(|b| self.pins.get(b))
            .filter(|p| p.tx == id)
            .copied()
    }

    /// Runs `f` with the call's dialog `leg` temporarily taken out (so `f` may use `&mut
    /// self`).
    pub(super) fn with_dialog<R>(
        &mut self,
        handle: CallHandle,
        leg: Leg,
        f: impl FnOnce(&mut Self, &Dialog) -> Option<R>,
    ) -> Option<R> {
        let call = self.calls.get_mut(&handle)?;
        let placeholder = Dialog {
            side: call.leg(leg).side,
            flow: call.leg(leg).flow,
            call_id: String::new(),
            local_tag: String::new(),
            remote_tag: None,
            local_uri: String::new(),
            remote_uri: String::new(),
            local_cseq: 0,
            remote_cseq: 0,
            remote_target: String::new(),
            route_set: Vec::new(),
            sdp: LegOrigin::new(0, 0),
            last_ack: None,
            media: Vec::new(),
        };
        let d = std::mem::replace(call.leg_mut(leg), placeholder);
        let r = f(self, &d);
        if let Some(call) = self.calls.get_mut(&handle) {
            *call.leg_mut(leg) = d;
        }
        r
    }

    pub(super) fn send_bye(&mut self, now: Instant, handle: CallHandle, leg: Leg) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let d = call.leg_mut(leg);
        if d.remote_tag.is_none() {
            return;
        }
        d.local_cseq += 1;
        let (cseq, uri, side, flow) = (d.local_cseq, d.remote_target.clone(), d.side, d.flow);
        let o = Outgoing {
            method: "BYE",
            uri: &uri,
            cseq,
            max_forwards: 70,
            contact: false,
            extra: &[],
            body: None,
        };
        if let Some((req, branch, wire)) =
            self.with_dialog(handle, leg, |me, d| me.build_request(d, &o))
        {
            let ctx = |request| TxCtx::Own {
                request,
                auth_tried: false,
                dialog: Some((handle, leg)),
            };
            self.send_client_wire(now, req, branch, Some(wire), side, flow, ctx);
        }
    }

    /// PRACK on leg B for the reliable provisional `rseq` to the INVITE with
    /// `invite_cseq` (RFC 3262 §7.2), in the early dialog that provisional set up; `body`
    /// is the answer to an offer that provisional carried (already rewritten for B).
    pub(super) fn send_prack(
        &mut self,
        now: Instant,
        handle: CallHandle,
        rseq: u32,
        invite_cseq: u32,
        body: Option<(Vec<u8>, String)>,
    ) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let d = call.leg_mut(Leg::B);
        d.local_cseq += 1;
        let (cseq, uri, side, flow) = (d.local_cseq, d.remote_target.clone(), d.side, d.flow);
        let extra = [("RAck".to_owned(), format!("{rseq} {invite_cseq} INVITE"))];
        let o = Outgoing {
            method: "PRACK",
            uri: &uri,
            cseq,
            max_forwards: 70,
            contact: false,
            extra: &extra,
            body: body.as_ref().map(|(b, ct)| (b.as_slice(), ct.as_str())),
        };
        if let Some((req, branch, wire)) =
            self.with_dialog(handle, Leg::B, |me, d| me.build_request(d, &o))
        {
            let ctx = |request| TxCtx::Own {
                request,
                auth_tried: false,
                dialog: Some((handle, Leg::B)),
            };
            self.send_client_wire(now, req, branch, Some(wire), side, flow, ctx);
        }
    }

    /// ACK for the 2xx to the INVITE with `cseq` on `leg`, with an optional body.
    pub(super) fn send_ack(
        &mut self,
        handle: CallHandle,
        leg: Leg,
        cseq: u32,
        body: Option<(Vec<u8>, String)>,
    ) {
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        let d = call.leg(leg);
        let (uri, flow) = (d.remote_target.clone(), self.path(d.side, d.flow));
        let o = Outgoing {
            method: "ACK",
            uri: &uri,
            cseq,
            max_forwards: 70,
            contact: false,
            extra: &[],
            body: body.as_ref().map(|(b, ct)| (b.as_slice(), ct.as_str())),
        };
        if let Some((req, _, wire)) = self.with_dialog(handle, leg, |me, d| me.build_request(d, &o))
        {
            self.layer.send_stateless_wire(flow, wire);
            if let Some(call) = self.calls.get_mut(&handle) {
                call.leg_mut(leg).last_ack = Some(req);
            }
        }
    }

    /// Completes a response of ours that relays `relayed` towards `side`: our Contact for
    /// `contact`'s flow (a 2xx to INVITE/UPDATE; left out when `side` has no advertised
    /// address), the headers allowed to cross, our Server, and the relayed body.
    pub(super) fn dress_relayed(
        &self,
        r: &mut Response,
        relayed: &Response,
        side: Side,
        contact: Option<Flow>,
        body: Option<(Vec<u8>, String)>,
    ) {
        if let Some(flow) = contact
            && let Some(a) = self.advertised(side)
        {
            let mut contact = String::with_capacity(a.host.len() + 32);
            contact.push_str("<sip:");
            a.push_host_port(&mut contact);
            contact.push_str(contact_param(&flow));
            contact.push('>');
            r.headers.push(Header::Other("Contact".into(), contact));
        }
        for (n, v) in crossing_headers(&self.config, &relayed.headers, &self.host_for(side)) {
            r.headers.push(Header::Other(n, v));
        }
        if let Some(ua) = &self.config.user_agent {
            r.headers.push(Header::Other("Server".into(), ua.clone()));
        }
        if let Some((b, ct)) = body {
            drawbridge_sip::set_body(r, b, Some(&ct));
        }
    }

    /// Sends a CANCEL where its INVITE went (RFC 3261 §9.1): the INVITE's flow, or, if
    /// that connection closed and the trunk's own connection replaced it, that one, where
    /// the INVITE's transaction was moved too (`TransactionLayer::move_flow`).
    pub(super) fn send_cancel(&mut self, now: Instant, cancel: Request, side: Side, flow: Flow) {
        let flow = self.path(side, flow);
        if let Ok(id) = self.layer.send_request(now, cancel.clone(), flow) {
            self.txs.insert(
                id,
                TxCtx::Own {
                    request: cancel,
                    auth_tried: true,
                    dialog: None,
                },
            );
        }
    }
}
