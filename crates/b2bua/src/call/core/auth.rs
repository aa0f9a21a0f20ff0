//! Digest authentication towards trunks: a 401/407 to one of our client transactions
//! (the call's INVITE, a relayed in-dialog request, our own BYE/PRACK, a REGISTER) is
//! answered once by re-sending the request with credentials (RFC 3261 §22.2).
//!
//! Separate from the response dispatch because the retry rebuilds a request of any kind
//! (new branch, next CSeq of its leg or registration) and re-keys the transaction's
//! context, which concerns no other response.

use std::time::Instant;

use rsip::headers::UntypedHeader as _;
use rsip::{Header, Response};

use super::{B2bua, TxCtx, code_of, via_transport};
use crate::call::digest;
use crate::call::headers as hdr;
use crate::call::state::Leg;
use crate::{Advertised, Outside, Side, TransactionId};

impl B2bua {
    /// Re-sends the request of client transaction `id` with credentials for the
    /// challenge in `response`, once. Whether it did.
    pub(super) fn retry_with_auth(
        &mut self,
        now: Instant,
        id: TransactionId,
        response: &Response,
    ) -> bool {
        let Some(pin) = self.pin(id) else {
            return false;
        };
        let Side::Outside(Outside::Trunk(t)) = pin.side else {
            return false;
        };
        let Some(creds) = self
            .config
            .trunks
            .get(t)
            .and_then(|t| t.credentials.clone())
        else {
            return false;
        };
        let mut register = None;
        let (request, call, leg) = match self.txs.get(&id) {
            Some(TxCtx::Register {
                trunk,
                request,
                auth_tried: false,
            }) => {
                register = Some(*trunk);
                (request.clone(), None, Leg::B)
            }
            Some(TxCtx::InviteOut(h)) => match self.calls.get(h) {
                Some(c) => match &c.outgoing {
                    Some(o) if o.tx == id && !o.auth_tried => (o.request.clone(), Some(*h), Leg::B),
                    _ => return false,
                },
                None => return false,
            },
            // A relay the re-INVITE guard cancelled is not re-sent.
            Some(TxCtx::RelayOut {
                request,
                auth_tried: false,
                cancelled: false,
                cancel_asked: false,
                call,
                leg,
                ..
            }) => (request.clone(), Some(*call), *leg),
            Some(TxCtx::Own {
                request,
                auth_tried: false,
                dialog,
            }) => (
                request.clone(),
                dialog.map(|(h, _)| h),
                dialog.map_or(Leg::B, |(_, l)| l),
            ),
            _ => return false,
        };
        let (challenge_name, answer_name) = if code_of(response) == 401 {
            ("WWW-Authenticate", "Authorization")
        } else {
            ("Proxy-Authenticate", "Proxy-Authorization")
        };
        let Some(challenge) =
            hdr::value_of(&response.headers, challenge_name).and_then(digest::parse_challenge)
        else {
            return false;
        };
        let cnonce = self.ids.cnonce();
        let method = request.method.to_string();
        let value = digest::authorization(
            &challenge,
            &creds,
            &method,
            &request.uri.to_string(),
            &cnonce,
        );
        let mut retry = request;
        drawbridge_sip::edit::remove_all(&mut retry, answer_name);
        retry
            .headers
            .push(Header::Other(answer_name.to_owned(), value));
        // New CSeq in the leg's space, new branch (a new transaction).
        let cseq = match call.and_then(|h| self.calls.get_mut(&h)) {
            Some(c) => {
                let d = c.leg_mut(leg);
                d.local_cseq += 1;
                d.local_cseq
            }
            None => match register.and_then(|t| self.next_register_cseq(t)) {
                Some(n) => n,
                None => hdr::cseq_of(&retry.headers).unwrap_or(1) + 1,
            },
        };
        let branch = self.layer.new_branch();
        let Some(adv) = self.advertised(pin.side).map(Advertised::host_port) else {
            return false;
        };
        drawbridge_sip::edit::replace_header(
            &mut retry,
            Header::Via(rsip::headers::Via::new(format!(
                "SIP/2.0/{} {adv};branch={branch};rport",
                via_transport(&pin.flow)
            ))),
        );
        drawbridge_sip::edit::replace_header(
            &mut retry,
            Header::CSeq(rsip::headers::CSeq::new(format!("{cseq} {method}"))),
        );
        let ctx = match self.txs.remove(&id) {
            Some(TxCtx::RelayOut {
                call,
                leg,
                server,
                had_offer,
                restore_media,
                ..
            }) => TxCtx::relay_out(
                call,
                leg,
                server,
                retry.clone(),
                true,
                had_offer,
                restore_media,
            ),
            Some(TxCtx::InviteOut(h)) => TxCtx::InviteOut(h),
            Some(TxCtx::Register { trunk, .. }) => TxCtx::Register {
                trunk,
                request: retry.clone(),
                auth_tried: true,
            },
            _ => TxCtx::Own {
                request: retry.clone(),
                auth_tried: true,
                dialog: None,
            },
        };
        let copy = retry.clone();
        let Some(new_id) = self.send_client(now, retry, branch, pin.side, pin.flow, ctx) else {
            return false;
        };
        self.counters.auth_retries += 1;
        if let Some(t) = register {
            self.register_retried(t, new_id);
        }
        // A relayed re-INVITE's guard follows it to the re-sent copy (same deadline: the
        // requester has been waiting since the first one).
        if let Some(h) = call
            && let Some(c) = self.calls.get_mut(&h)
            && let Some(g) = c.reinvite_guard.as_mut()
            && g.tx == id
        {
            g.tx = new_id;
        }
        if let Some(h) = call
            && let Some(c) = self.calls.get_mut(&h)
            && let Some(o) = c.outgoing.as_mut()
            && o.tx == id
        {
            o.tx = new_id;
            o.request = copy;
            o.auth_tried = true;
            // The new INVITE has had no provisional yet: a CANCEL waits for one.
            o.provisional = false;
        }
        true
    }
}
