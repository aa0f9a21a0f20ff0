//! Reliable provisional responses towards the caller (RFC 3262, `100rel`), for a caller
//! whose INVITE has `Require: 100rel`.
//!
//! Every non-100 provisional relayed to such a caller goes out with `Require: 100rel` and
//! an `RSeq` of ours (a start from the id generator, then +1). It is retransmitted on an
//! unreliable flow at T1, 2*T1, 4*T1 … until the caller's PRACK; without one in 64*T1 the
//! call fails (500 to the caller, the callee's INVITE cancelled, or hung up if it had
//! answered, RFC 3262 §3). The caller's PRACK is answered here (200) and never reaches
//! the callee, whose leg has its own PRACKs. Only one reliable provisional is
//! unacknowledged at a time (§3): later ones wait in a short queue ([`QUEUE_LIMIT`]).
//!
//! Offer/answer on the caller's leg:
//! - the caller's INVITE had an offer: the first reliable provisional with SDP carries
//!   the answer (our media address, as for any 18x); later provisionals carry no SDP, and
//!   the 2xx repeats the answer byte for byte (see [`B2bua::caller_final_body`] for why);
//!   a 2xx is held until that provisional is PRACKed;
//! - the caller's INVITE had no offer (late offer): the callee's INVITE has none either,
//!   but `Supported: 100rel`. A *reliable* 18x of the callee with SDP is its offer (RFC
//!   3262 §5); it goes to the caller, rewritten, in our reliable provisional, and the
//!   callee's PRACK is held: the caller must answer in its PRACK, whose SDP (rewritten)
//!   rides on our PRACK to the callee. The media relay learns both parties from that
//!   offer/answer pair, as from an INVITE and its 2xx. The hold is bounded by the
//!   caller's PRACK deadline (64*T1, then 500 to the caller and CANCEL to the callee,
//!   whose own 100rel timer runs just as long); a PRACK without a usable answer gets
//!   488 and fails the call the same way. Later provisionals carry no SDP, and the 2xx
//!   carries none either (the offer/answer is done; RFC 3261 §13.2.1). While the answer
//!   is awaited an UPDATE with an offer is refused (RFC 3311 §5.2). If the callee
//!   answers before our PRACK (against RFC 3262 §3) the 2xx is held like any other for
//!   the caller's PRACK; if the offer had not even reached the caller (queued behind an
//!   unacknowledged provisional) the exchange is dropped and the call goes on as a
//!   plain late offer (offer in the 2xx, answer in the ACK). While the answer is
//!   awaited, provisionals of another fork of the callee are dropped: leg B has one
//!   early dialog, and the held PRACK belongs to the first fork's;
//! - the caller's INVITE had no offer and the callee's 18x with SDP is *unreliable*: its
//!   SDP is only a preview (an offer must come reliably), so the 18x goes to the caller
//!   reliably without SDP: no early media, and the offer comes in the 2xx as it does
//!   without 100rel.
//!
//! A caller that does not require 100rel is not involved: provisionals go to it as the
//! callee sent them (with their SDP, rewritten), and without an offer of ours the callee
//! is not offered 100rel.
//!
//! A caller with `Supported: 100rel` but no `Require` keeps getting unreliable
//! provisionals: RFC 3262 §3 lets the UAS choose, and it saves the caller a PRACK round
//! trip per provisional.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rsip::{Header, Request, Response};

use super::{B2bua, CallTimer, TxCtx};
use crate::call::headers as hdr;
use crate::call::state::{Call, CallState, Leg};
use crate::{CallHandle, TransactionId};

/// Most provisionals waiting behind an unacknowledged one. A callee sends a handful at
/// most (180, 183, perhaps 181/182); past this, one without SDP is dropped (ringing
/// again says nothing new) and one with SDP replaces the newest waiting.
const QUEUE_LIMIT: usize = 4;

/// What the caller gets when a reliable provisional is never PRACKed (RFC 3262 §3: "SHOULD
/// reject the original request with a 5xx").
const NO_PRACK_STATUS: u16 = 500;

/// What the caller gets when its PRACK does not answer the callee's late offer (no SDP,
/// or SDP the media layer cannot take).
const NOT_ANSWERED_STATUS: u16 = 488;

/// Reliable-provisional state of one call's caller leg (we are its UAS).
#[derive(Debug)]
pub(crate) struct CallerReliability {
    /// CSeq of the caller's INVITE (the second number of a matching RAck).
    invite_cseq: u32,
    /// Whether the caller's INVITE carried an SDP offer.
    offer: bool,
    /// RSeq of the next reliable provisional.
    next_rseq: u32,
    /// The reliable provisional sent and not PRACKed yet.
    pending: Option<Pending>,
    /// Provisionals built for the caller, waiting for `pending`'s PRACK (no RSeq yet).
    queue: VecDeque<Response>,
    /// The SDP put in a reliable provisional (sent or queued), an answer or a late
    /// offer: later provisionals carry none; the 2xx repeats an answer (the last SDP the
    /// caller got from us, after an early UPDATE).
    answer: Option<(Vec<u8>, String)>,
    /// The late-offer exchange with the callee's offer, if one started.
    late: Option<LateOffer>,
    /// The callee's 2xx, held until `pending` (which carries SDP) is PRACKed.
    held: Option<HeldAnswer>,
}

/// Where a late offer (the callee's, in its reliable provisional) stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LateOffer {
    /// Relayed to the caller; our PRACK of the callee's provisional `rseq` (to its
    /// INVITE with CSeq `invite_cseq`, from the fork with To tag `fork`) waits for the
    /// caller's answer.
    AwaitingAnswer {
        rseq: u32,
        invite_cseq: u32,
        fork: Option<String>,
    },
    /// The caller answered in its PRACK, relayed in ours: both legs are negotiated.
    Answered,
}

/// A reliable provisional awaiting its PRACK.
#[derive(Debug)]
struct Pending {
    rseq: u32,
    response: Response,
    has_sdp: bool,
    /// Retransmission and give-up timers; `None` once a final response went out (the
    /// provisional may still be PRACKed, but is no longer chased).
    retransmit: Option<Retransmit>,
}

#[derive(Debug)]
struct Retransmit {
    interval: Duration,
    /// Next retransmission (unreliable flows only).
    next: Option<Instant>,
    give_up: Instant,
}

/// What [`B2bua::answer_caller`] needs to send the callee's 2xx later.
#[derive(Debug)]
struct HeldAnswer {
    code: u16,
    response: Response,
    body: Option<(Vec<u8>, String)>,
    deferred: Option<(Leg, u32)>,
}

impl CallerReliability {
    /// Whether a 2xx for the caller waits for a PRACK (the dialog is not confirmed yet on
    /// the caller's leg, whatever the callee's leg says).
    pub(crate) fn holds_answer(&self) -> bool {
        self.held.is_some()
    }

    /// Whether a call timer set at `at` is still one of ours.
    fn live(&self, at: Instant) -> bool {
        self.pending
            .as_ref()
            .and_then(|p| p.retransmit.as_ref())
            .is_some_and(|r| r.next == Some(at) || r.give_up == at)
    }
}

/// Whether `call`'s [`CallTimer::Reliable`] set at `at` is still due: the provisional is
/// unacknowledged and the caller's INVITE has no final response yet (a CANCEL, the ring
/// timeout or a failure from the callee stops retransmissions this way).
pub(super) fn timer_live(call: &Call, at: Instant) -> bool {
    call.incoming.is_some()
        && call.state != CallState::Cancelling
        && call.reliable.as_ref().is_some_and(|r| r.live(at))
}

/// Whether `call` has the callee's offer out to the caller, unanswered (an UPDATE with an
/// offer on either leg must wait, RFC 3311 §5.2).
pub(super) fn late_offer_open(call: &Call) -> bool {
    call.reliable
        .as_ref()
        .is_some_and(|r| matches!(r.late, Some(LateOffer::AwaitingAnswer { .. })))
}

/// Whether a provisional with To tag `tag` comes from another fork than the one whose
/// late offer awaits the caller's answer. Such a provisional is dropped: taking it would
/// move leg B's early dialog (tag, target, route set) to that fork, where our held
/// PRACK does not belong, and the fork cannot be PRACKed with an answer we do not have.
pub(super) fn from_other_fork(call: &Call, tag: &Option<String>) -> bool {
    call.reliable.as_ref().is_some_and(
        |r| matches!(&r.late, Some(LateOffer::AwaitingAnswer { fork, .. }) if fork != tag),
    )
}

/// The RAck of a PRACK: (RSeq, CSeq number, method), RFC 3262 §7.2.
fn rack_of(request: &Request) -> Option<(u32, u32, String)> {
    let v = hdr::value_of(&request.headers, "RAck")?;
    let mut parts = v.split_ascii_whitespace();
    let rseq = parts.next()?.parse().ok()?;
    let cseq = parts.next()?.parse().ok()?;
    let method = parts.next()?.to_owned();
    parts.next().is_none().then_some((rseq, cseq, method))
}

impl B2bua {
    /// The reliable-provisional state of `handle`'s caller leg, if it has one.
    fn reliability_mut(&mut self, handle: CallHandle) -> Option<&mut CallerReliability> {
        self.calls
            .get_mut(&handle)
            .and_then(|c| c.reliable.as_deref_mut())
    }

    /// The reliable-provisional state for a new call from `request` (CSeq `cseq`), if
    /// the caller requires 100rel.
    pub(super) fn caller_reliability(
        &mut self,
        request: &Request,
        cseq: u32,
    ) -> Option<Box<CallerReliability>> {
        if !hdr::requires(&request.headers, "100rel") {
            return None;
        }
        Some(Box::new(CallerReliability {
            invite_cseq: cseq,
            offer: !request.body.is_empty() && hdr::body_is_sdp(&request.headers),
            next_rseq: self.ids.rseq(),
            pending: None,
            queue: VecDeque::new(),
            answer: None,
            late: None,
            held: None,
        }))
    }

    /// Relays a provisional of the callee (its body already rewritten for A) to the
    /// caller: reliably if the caller required 100rel, else as it is.
    pub(super) fn provisional_to_caller(
        &mut self,
        now: Instant,
        handle: CallHandle,
        code: u16,
        response: &Response,
        body: Option<(Vec<u8>, String)>,
    ) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        if call.incoming.is_none() {
            return;
        }
        let Some(rel) = call.reliable.as_mut() else {
            self.relay_to_caller(now, handle, code, response, body);
            return;
        };
        // Only the answer to the caller's offer, or the callee's late offer, may ride on a
        // reliable provisional, and only once (see the module docs).
        let late = matches!(rel.late, Some(LateOffer::AwaitingAnswer { .. }));
        let body = match body {
            Some((b, ct))
                if (rel.offer || late) && rel.answer.is_none() && ct == "application/sdp" =>
            {
                rel.answer = Some((b.clone(), ct.clone()));
                Some((b, ct))
            }
            _ => None,
        };
        let Some((_, mut r)) = self.response_for_caller(handle, code, response, body) else {
            return;
        };
        drawbridge_sip::edit::remove_all(&mut r, "RSeq");
        let require = r.headers.iter_mut().find_map(|h| match h {
            Header::Other(n, v) if n.eq_ignore_ascii_case("Require") => Some(v),
            _ => None,
        });
        if let Some(v) = require {
            v.push_str(", 100rel");
        } else {
            r.headers
                .push(Header::Other("Require".into(), "100rel".into()));
        }
        let Some(rel) = self.reliability_mut(handle) else {
            return;
        };
        if rel.pending.is_none() {
            self.send_reliable(now, handle, r);
            return;
        }
        // RFC 3262 §3: not before the previous one is PRACKed.
        if rel.queue.len() < QUEUE_LIMIT {
            rel.queue.push_back(r);
        } else if !r.body.is_empty()
            && let Some(last) = rel.queue.back_mut()
        {
            // The answer must not be lost; nothing queued carries SDP (only one may).
            *last = r;
        }
    }

    /// Sends `r` (built for the caller) as the next reliable provisional.
    fn send_reliable(&mut self, now: Instant, handle: CallHandle, mut r: Response) {
        let timers = *self.config.transactions.timers();
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let unreliable = !call.leg(Leg::A).flow.is_reliable();
        let Some(tx) = call.incoming.as_ref().map(|(t, _)| *t) else {
            return;
        };
        let Some(rel) = call.reliable.as_mut() else {
            return;
        };
        let rseq = rel.next_rseq;
        rel.next_rseq = rel.next_rseq.wrapping_add(1);
        r.headers
            .push(Header::Other("RSeq".into(), rseq.to_string()));
        let next = unreliable.then(|| now + timers.t1());
        let give_up = now + timers.t1x64();
        rel.pending = Some(Pending {
            rseq,
            has_sdp: !r.body.is_empty(),
            response: r.clone(),
            retransmit: Some(Retransmit {
                interval: timers.t1(),
                next,
                give_up,
            }),
        });
        self.arm_retransmission(handle, CallTimer::Reliable, next, give_up);
        let _ = self.layer.send_response(now, tx, r);
    }

    /// Retransmits the pending reliable provisional, or gives up after 64*T1.
    pub(super) fn reliable_timer(&mut self, now: Instant, at: Instant, handle: CallHandle) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        let Some(tx) = call.incoming.as_ref().map(|(t, _)| *t) else {
            return;
        };
        let Some(p) = call.reliable.as_mut().and_then(|r| r.pending.as_mut()) else {
            return;
        };
        let Some(w) = p.retransmit.as_mut() else {
            return;
        };
        if w.give_up <= at {
            self.prack_timeout(now, handle);
            return;
        }
        // RFC 3262 §3: the interval doubles, with no T2 cap (64*T1 ends it first).
        w.interval *= 2;
        let next = at + w.interval;
        w.next = Some(next);
        let r = p.response.clone();
        let _ = self.layer.send_response(now, tx, r);
        self.push_timer(next, handle, CallTimer::Reliable);
    }

    /// No PRACK in 64*T1: the caller gets 500 and the callee's leg goes (RFC 3262 §3).
    fn prack_timeout(&mut self, now: Instant, handle: CallHandle) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        if let Some(rel) = call.reliable.as_mut() {
            rel.pending = None;
            rel.queue.clear();
        }
        if self.fail_held_answer(now, handle, NO_PRACK_STATUS) {
            return;
        }
        if matches!(
            self.calls.get(&handle).map(|c| c.state),
            Some(CallState::Calling | CallState::Early)
        ) {
            self.cancel_call(now, handle, NO_PRACK_STATUS);
        }
    }

    /// If the callee's 2xx is being held for a PRACK: `code` to the caller, BYE to the
    /// callee (who answered), the call ends. Whether there was one.
    pub(super) fn fail_held_answer(&mut self, now: Instant, handle: CallHandle, code: u16) -> bool {
        self.drop_held_answer(now, handle, code, true)
    }

    /// A BYE on `leg` while the callee's 2xx is held for the caller's PRACK: the caller's
    /// INVITE still has no final response, so it gets `code` (a 2xx now would set up a
    /// dialog that is already over); the callee gets a BYE unless it sent this one.
    /// Whether an answer was held. Without this the caller's INVITE server transaction,
    /// which has no timer once it sent a provisional, would stay for ever.
    pub(super) fn bye_while_held(
        &mut self,
        now: Instant,
        handle: CallHandle,
        leg: Leg,
        code: u16,
    ) -> bool {
        self.drop_held_answer(now, handle, code, leg == Leg::A)
    }

    /// Drops the callee's 2xx held for a PRACK, if there is one: `code` to the caller's
    /// INVITE, a BYE to the callee when `bye_callee`, the call ends. Whether one was held.
    fn drop_held_answer(
        &mut self,
        now: Instant,
        handle: CallHandle,
        code: u16,
        bye_callee: bool,
    ) -> bool {
        let Some(call) = self.calls.get_mut(&handle) else {
            return false;
        };
        let Some(rel) = call.reliable.as_mut() else {
            return false;
        };
        if rel.held.take().is_none() {
            return false;
        }
        rel.pending = None;
        let a_tag = call.leg(Leg::A).local_tag.clone();
        if let Some((tx, req)) = call.incoming.take() {
            self.respond(now, tx, &req, code, Some(&a_tag), &[]);
        }
        if bye_callee {
            self.send_bye(now, handle, Leg::B);
        }
        self.end_call(handle, code);
        true
    }

    /// Whether the callee's reliable provisional `rseq` (to its INVITE with CSeq
    /// `invite_cseq`), which carries SDP, is a late offer for the caller to answer: the
    /// callee's INVITE had no offer, the caller requires 100rel and no offer went to it
    /// yet. If so the exchange starts, and the caller's PRACK will send ours.
    pub(super) fn takes_late_offer(
        &mut self,
        handle: CallHandle,
        rseq: u32,
        invite_cseq: u32,
    ) -> bool {
        let fork = self
            .calls
            .get(&handle)
            .and_then(|c| c.leg(Leg::B).remote_tag.clone());
        let Some(call) = self.calls.get_mut(&handle) else {
            return false;
        };
        if call
            .outgoing
            .as_ref()
            .is_none_or(|o| !o.request.body.is_empty())
        {
            return false;
        }
        let Some(rel) = call.reliable.as_mut() else {
            return false;
        };
        if rel.offer || rel.late.is_some() || rel.answer.is_some() {
            return false;
        }
        rel.late = Some(LateOffer::AwaitingAnswer {
            rseq,
            invite_cseq,
            fork,
        });
        true
    }

    /// The callee answered while its late offer had not reached the caller (queued
    /// behind an unacknowledged provisional, and dropped with the queue now): the
    /// exchange is abandoned and the call goes on as a plain late offer, the callee's
    /// SDP in the 2xx and the caller's answer in the ACK.
    pub(super) fn drop_unsent_late_offer(&mut self, handle: CallHandle) {
        let Some(rel) = self.reliability_mut(handle) else {
            return;
        };
        let sent = rel.pending.as_ref().is_some_and(|p| p.has_sdp);
        if matches!(rel.late, Some(LateOffer::AwaitingAnswer { .. })) && !sent {
            rel.late = None;
            rel.answer = None;
        }
    }

    /// An early UPDATE renegotiated the caller's session and `sdp` is the last SDP we
    /// sent it: a 2xx that repeats our earlier answer repeats this one instead (an older
    /// `o=` version would go back in time, RFC 3264 §8).
    pub(super) fn caller_sdp_renegotiated(&mut self, handle: CallHandle, sdp: (Vec<u8>, String)) {
        if let Some(rel) = self
            .reliability_mut(handle)
            .filter(|r| r.late.is_none() && r.answer.is_some())
        {
            rel.answer = Some(sdp);
        }
    }

    /// The body of the 2xx to the caller: the answer it already got in a reliable
    /// provisional, byte for byte (same `o=` version), whatever the callee's 2xx carried.
    ///
    /// Repeating it rather than sending none: RFC 6337 §3.1 lets a UAS repeat the answer
    /// in the 2xx if it is identical (a compliant UAC sees the same `o=` version and
    /// changes nothing), and it interoperates with the UACs that only take media from the
    /// 2xx (SIPp scenarios reading `[media_port]` from the 200, PBXs that ignore early
    /// SDP). A different SDP is never sent: offer/answer on the caller's leg is done, and
    /// the media relay already follows the callee's new address through the allocator.
    ///
    /// After a late offer in a reliable provisional there is none: the caller answered
    /// in its PRACK, and an SDP in the 2xx could only be read as a new offer.
    pub(super) fn caller_final_body(
        &self,
        handle: CallHandle,
        body: Option<(Vec<u8>, String)>,
    ) -> Option<(Vec<u8>, String)> {
        let Some(rel) = self.calls.get(&handle).and_then(|c| c.reliable.as_ref()) else {
            return body;
        };
        if rel.late.is_some() {
            return None;
        }
        rel.answer.clone().or(body)
    }

    /// The callee's 2xx arrived: holds it if the pending reliable provisional carries
    /// SDP (RFC 3262 §3), to be sent on its PRACK; otherwise the provisional phase is over
    /// (queued provisionals are dropped, the pending one no longer retransmitted). Whether
    /// it was held.
    pub(super) fn hold_answer(
        &mut self,
        handle: CallHandle,
        code: u16,
        response: &Response,
        body: &Option<(Vec<u8>, String)>,
        deferred: Option<(Leg, u32)>,
    ) -> bool {
        let Some(rel) = self.reliability_mut(handle) else {
            return false;
        };
        rel.queue.clear();
        match rel.pending.as_mut() {
            Some(p) if p.has_sdp => {
                rel.held = Some(HeldAnswer {
                    code,
                    response: response.clone(),
                    body: body.clone(),
                    deferred,
                });
                true
            }
            Some(p) => {
                p.retransmit = None;
                false
            }
            None => false,
        }
    }

    /// A PRACK from the caller (already matched to the dialog, source-checked and
    /// CSeq-checked): 200 if its RAck names the unacknowledged reliable provisional, 481
    /// otherwise (RFC 3262 §4). If that provisional carried the callee's late offer, the
    /// PRACK must carry the answer: it goes on in our PRACK to the callee, or, missing or
    /// unusable, the call fails with 488. Then the next queued provisional, or the held
    /// 2xx, goes.
    pub(super) fn on_caller_prack(
        &mut self,
        now: Instant,
        id: TransactionId,
        handle: CallHandle,
        request: &Request,
    ) {
        let rack = rack_of(request);
        let matched = self
            .reliability_mut(handle)
            .filter(|r| {
                r.pending.as_ref().is_some_and(|p| {
                    rack.as_ref().is_some_and(|(rseq, cseq, method)| {
                        *rseq == p.rseq
                            && *cseq == r.invite_cseq
                            && method.eq_ignore_ascii_case("INVITE")
                    })
                })
            })
            .map(|r| (r.pending.take(), r.held.take(), r.queue.pop_front()));
        let Some((pending, held, next)) = matched else {
            self.respond(now, id, request, 481, None, &[]);
            return;
        };
        let late = self
            .calls
            .get(&handle)
            .and_then(|c| c.reliable.as_ref())
            .and_then(|r| r.late.clone())
            .filter(|_| pending.as_ref().is_some_and(|p| p.has_sdp));
        if let Some(LateOffer::AwaitingAnswer {
            rseq, invite_cseq, ..
        }) = late
        {
            let answer = if hdr::body_is_sdp(&request.headers) {
                self.relay_body(handle, &request.headers, &request.body, Leg::A, Leg::B)
                    .ok()
                    .flatten()
            } else {
                None
            };
            let code = if answer.is_some() { 200 } else { 488 };
            self.respond(now, id, request, code, None, &[]);
            self.txs.insert(id, TxCtx::Done);
            let Some(answer) = answer else {
                self.late_answer_missing(now, handle, held);
                return;
            };
            if let Some(rel) = self.reliability_mut(handle) {
                rel.late = Some(LateOffer::Answered);
            }
            self.send_prack(now, handle, rseq, invite_cseq, Some(answer));
        } else {
            // An offer in a PRACK would need our answer in its 2xx; the caller's session
            // is already negotiated, so refuse it (the provisional stays acknowledged).
            let code = if request.body.is_empty() { 200 } else { 488 };
            self.respond(now, id, request, code, None, &[]);
            self.txs.insert(id, TxCtx::Done);
        }
        if let Some(h) = held {
            self.answer_caller(now, handle, h.code, &h.response, h.body, h.deferred);
        } else if let Some(r) = next {
            self.send_reliable(now, handle, r);
        }
    }

    /// The caller's PRACK of the callee's late offer had no usable answer: the call fails
    /// with 488 (the callee's INVITE cancelled, or hung up if `held` says it answered).
    fn late_answer_missing(&mut self, now: Instant, handle: CallHandle, held: Option<HeldAnswer>) {
        let Some(rel) = self.reliability_mut(handle) else {
            return;
        };
        rel.queue.clear();
        if held.is_some() {
            rel.held = held;
            self.fail_held_answer(now, handle, NOT_ANSWERED_STATUS);
        } else {
            self.cancel_call(now, handle, NOT_ANSWERED_STATUS);
        }
    }
}
