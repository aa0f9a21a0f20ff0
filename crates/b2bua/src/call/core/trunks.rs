//! Trunk maintenance: OPTIONS keep-alives (is the provider answering?) and the optional
//! REGISTER of the trunk account, both sent through the transaction layer on the trunk's
//! flow with identifiers of our own (nothing of the LAN side).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use drawbridge_sip::parse_built;
use rsip::headers::UntypedHeader as _;
use rsip::{Header, Response, SipMessage};

use super::{B2bua, B2buaEvent, TxCtx, code_of, contact_param, via_transport};
use crate::call::headers as hdr;
use crate::{Side, TransactionId};

/// First wait after a failed registration; doubles up to [`REGISTER_BACKOFF_MAX`].
const REGISTER_BACKOFF: Duration = Duration::from_secs(30);
/// Longest wait between registration attempts after failures.
const REGISTER_BACKOFF_MAX: Duration = Duration::from_secs(1800);
/// A provider granting less than this is refreshed at this interval anyway (no storm).
const REGISTER_MIN_REFRESH: Duration = Duration::from_secs(5);

/// Why a trunk is considered down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrunkDownReason {
    /// The OPTIONS got no final response before Timer F (64*T1).
    Timeout,
    /// The transport could not send the OPTIONS (no connection, refused …).
    TransportError,
}

impl TrunkDownReason {
    /// A short token for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::TransportError => "transport_error",
        }
    }
}

/// Keep-alive and registration state of one trunk.
#[derive(Debug, Default)]
pub(super) struct TrunkState {
    /// `None` until the first keep-alive finished.
    up: Option<bool>,
    options_due: Option<Instant>,
    options_tx: Option<TransactionId>,
    /// One Call-ID, From tag and CSeq space for all OPTIONS to this trunk.
    options_ids: Option<(String, String)>,
    options_cseq: u32,
    reg: Option<Registration>,
}

/// REGISTER state: one Call-ID and CSeq space for every registration of the trunk
/// (RFC 3261 §10.2).
#[derive(Debug)]
struct Registration {
    call_id: String,
    tag: String,
    cseq: u32,
    /// Asked for (raised by a 423's Min-Expires).
    expires: u32,
    due: Option<Instant>,
    tx: Option<TransactionId>,
    registered: Option<bool>,
    backoff: Duration,
}

impl B2bua {
    /// Starts trunk maintenance: sends the first OPTIONS keep-alive and REGISTER of every
    /// trunk configured for them (drain [`B2bua::poll_transmit`] after). Call once after [`B2bua::new`], then drive
    /// [`B2bua::handle_timeout`] as usual.
    pub fn start(&mut self, now: Instant) {
        for i in 0..self.config.trunks.len() {
            let t = &self.config.trunks[i];
            let keepalive = t.options_interval.is_some_and(|d| !d.is_zero());
            let register = t
                .credentials
                .is_some()
                .then_some(t.register_expires)
                .flatten();
            let Some(st) = self.trunk_state.get_mut(i) else {
                continue;
            };
            if keepalive {
                st.options_due = Some(now);
            }
            if let Some(expires) = register {
                let (call_id, tag) = (self.ids.call_id(), self.ids.tag());
                st.reg = Some(Registration {
                    call_id,
                    tag,
                    cseq: 0,
                    expires,
                    due: Some(now),
                    tx: None,
                    registered: None,
                    backoff: REGISTER_BACKOFF,
                });
            }
        }
        self.trunk_timers(now);
        self.drain(now, None);
    }

    /// Whether trunk `trunk` answered its last OPTIONS keep-alive: `None` before the first
    /// answer or timeout, without keep-alives, or for an unknown trunk.
    pub fn trunk_up(&self, trunk: usize) -> Option<bool> {
        self.trunk_state.get(trunk).and_then(|s| s.up)
    }

    /// Whether trunk `trunk`'s account is registered with the provider: `None` before the
    /// first attempt finished, without registration, or for an unknown trunk.
    pub fn trunk_registered(&self, trunk: usize) -> Option<bool> {
        self.trunk_state
            .get(trunk)
            .and_then(|s| s.reg.as_ref())
            .and_then(|r| r.registered)
    }

    /// Whether `user` (a Request-URI user from `side`) is the account name a trunk that
    /// registers put in its Contact.
    pub(super) fn is_registered_account(&self, side: Side, user: &str) -> bool {
        let Side::Outside(crate::Outside::Trunk(i)) = side else {
            return false;
        };
        // From the configuration, not the registration state: only the worker that runs
        // the registration has that state, and calls to the account reach every worker.
        self.config.trunks.get(i).is_some_and(|t| {
            t.register_expires.is_some()
                && t.credentials.as_ref().is_some_and(|c| c.username == user)
        })
    }

    /// The earliest keep-alive or registration deadline.
    pub(super) fn trunk_deadline(&self) -> Option<Instant> {
        self.trunk_state
            .iter()
            .flat_map(|s| [s.options_due, s.reg.as_ref().and_then(|r| r.due)])
            .flatten()
            .min()
    }

    /// A new flow to trunk `trunk`: re-register over it at once (a provider routes calls
    /// to the connection that registered last) and probe it unless it is known up. What
    /// is still outstanding on the old flow is abandoned: its outcome no longer counts.
    pub(super) fn trunk_flow_changed(&mut self, now: Instant, trunk: usize) {
        let Some(st) = self.trunk_state.get_mut(trunk) else {
            return;
        };
        if st.options_due.is_some() && (st.options_tx.is_some() || st.up != Some(true)) {
            st.options_tx = None;
            st.options_due = Some(now);
        }
        if let Some(r) = st.reg.as_mut() {
            r.tx = None;
            r.due = Some(now);
        }
        self.trunk_timers(now);
        self.drain(now, None);
    }

    /// Sends what is due at `now`.
    pub(super) fn trunk_timers(&mut self, now: Instant) {
        for i in 0..self.trunk_state.len() {
            let st = &self.trunk_state[i];
            if st.options_due.is_some_and(|d| d <= now) {
                self.send_options(now, i);
            }
            let st = &self.trunk_state[i];
            if st
                .reg
                .as_ref()
                .and_then(|r| r.due)
                .is_some_and(|d| d <= now)
            {
                self.send_register(now, i);
            }
        }
    }

    /// The start of a request to trunk `trunk` from us: request line and Via.
    fn trunk_request_head(&mut self, trunk: usize, method: &str) -> Option<(String, String)> {
        let t = self.config.trunks.get(trunk)?;
        let branch = self.layer.new_branch();
        let mut s = format!(
            "{method} sip:{} SIP/2.0\r\nVia: SIP/2.0/{} {};branch={branch};rport\r\nMax-Forwards: 70\r\n",
            hdr::uri_host(&t.host),
            via_transport(&t.flow),
            t.advertised.host_port()
        );
        if let Some(ua) = &self.config.user_agent {
            let _ = write!(s, "User-Agent: {ua}\r\n");
        }
        Some((s, branch))
    }

    fn send_options(&mut self, now: Instant, trunk: usize) {
        let Some(interval) = self
            .config
            .trunks
            .get(trunk)
            .and_then(|t| t.options_interval)
        else {
            return;
        };
        let ids = match self.trunk_state[trunk].options_ids.clone() {
            Some(ids) => ids,
            None => {
                let ids = (self.ids.call_id(), self.ids.tag());
                self.trunk_state[trunk].options_ids = Some(ids.clone());
                ids
            }
        };
        let st = &mut self.trunk_state[trunk];
        st.options_due = Some(now + interval);
        if st.options_tx.is_some() {
            return; // the previous one is still running (Timer F is longer than a short interval)
        }
        st.options_cseq += 1;
        let cseq = st.options_cseq;
        let Some((mut text, branch)) = self.trunk_request_head(trunk, "OPTIONS") else {
            return;
        };
        let t = &self.config.trunks[trunk];
        let (us, them, flow) = (
            hdr::uri_host(&t.advertised.host).into_owned(),
            hdr::uri_host(&t.host).into_owned(),
            t.flow,
        );
        let _ = write!(
            text,
            "From: <sip:{us}>;tag={}\r\nTo: <sip:{them}>\r\nCall-ID: {}\r\nCSeq: {cseq} OPTIONS\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n",
            ids.1, ids.0
        );
        let Ok(SipMessage::Request(req)) = parse_built(text.as_bytes()) else {
            return;
        };
        let id = self.send_client(
            now,
            req,
            branch,
            Side::trunk(trunk),
            flow,
            TxCtx::KeepAlive { trunk },
        );
        self.trunk_state[trunk].options_tx = id;
        if id.is_none() {
            self.set_trunk_up(trunk, false, TrunkDownReason::TransportError);
        }
    }

    fn set_trunk_up(&mut self, trunk: usize, up: bool, reason: TrunkDownReason) {
        let Some(st) = self.trunk_state.get_mut(trunk) else {
            return;
        };
        if st.up == Some(up) {
            return;
        }
        st.up = Some(up);
        self.events.push_back(if up {
            B2buaEvent::TrunkUp { trunk }
        } else {
            B2buaEvent::TrunkDown { trunk, reason }
        });
    }

    /// A response to an OPTIONS keep-alive: any final one means the trunk is alive
    /// (even 4xx/5xx: something answered on that flow).
    pub(super) fn on_keepalive_response(&mut self, trunk: usize, id: TransactionId, code: u16) {
        if code < 200 || !self.take_options_tx(trunk, id) {
            return;
        }
        self.set_trunk_up(trunk, true, TrunkDownReason::Timeout);
    }

    /// Timer F or a transport error on a keep-alive.
    pub(super) fn on_keepalive_failure(
        &mut self,
        trunk: usize,
        id: TransactionId,
        reason: TrunkDownReason,
    ) {
        if self.take_options_tx(trunk, id) {
            self.set_trunk_up(trunk, false, reason);
        }
    }

    /// Whether `id` is trunk `trunk`'s current keep-alive; if so it is finished.
    fn take_options_tx(&mut self, trunk: usize, id: TransactionId) -> bool {
        match self.trunk_state.get_mut(trunk) {
            Some(st) if st.options_tx == Some(id) => {
                st.options_tx = None;
                true
            }
            _ => false,
        }
    }

    /// A keep-alive or REGISTER transaction ended (after its response or failure).
    pub(super) fn trunk_tx_terminated(&mut self, id: TransactionId) {
        for st in &mut self.trunk_state {
            if st.options_tx == Some(id) {
                st.options_tx = None;
            }
            if let Some(r) = st.reg.as_mut()
                && r.tx == Some(id)
            {
                r.tx = None;
            }
        }
    }

    fn send_register(&mut self, now: Instant, trunk: usize) {
        let Some(t) = self.config.trunks.get(trunk) else {
            return;
        };
        let Some(user) = t.credentials.as_ref().map(|c| c.username.clone()) else {
            return;
        };
        let (host, adv, flow) = (
            hdr::uri_host(&t.host).into_owned(),
            t.advertised.host_port(),
            t.flow,
        );
        let Some(r) = self.trunk_state[trunk].reg.as_mut() else {
            return;
        };
        r.due = None;
        if r.tx.is_some() {
            return;
        }
        r.cseq += 1;
        let (call_id, tag, cseq, expires) = (r.call_id.clone(), r.tag.clone(), r.cseq, r.expires);
        let Some((mut text, branch)) = self.trunk_request_head(trunk, "REGISTER") else {
            return;
        };
        let _ = write!(
            text,
            "From: <sip:{user}@{host}>;tag={tag}\r\nTo: <sip:{user}@{host}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{adv}{}>\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n",
            contact_param(&flow)
        );
        let Ok(SipMessage::Request(req)) = parse_built(text.as_bytes()) else {
            return;
        };
        let ctx = TxCtx::Register {
            trunk,
            request: req.clone(),
            auth_tried: false,
        };
        let id = self.send_client(now, req, branch, Side::trunk(trunk), flow, ctx);
        if let Some(r) = self.trunk_state[trunk].reg.as_mut() {
            r.tx = id;
        }
        if id.is_none() {
            self.register_failed(now, trunk, 503);
        }
    }

    /// The next CSeq of trunk `trunk`'s registration (a challenged REGISTER is re-sent
    /// with a new one).
    pub(super) fn next_register_cseq(&mut self, trunk: usize) -> Option<u32> {
        let r = self.trunk_state.get_mut(trunk)?.reg.as_mut()?;
        r.cseq += 1;
        Some(r.cseq)
    }

    /// The REGISTER of trunk `trunk` is now transaction `id` (after a digest retry).
    pub(super) fn register_retried(&mut self, trunk: usize, id: TransactionId) {
        if let Some(r) = self.trunk_state.get_mut(trunk).and_then(|s| s.reg.as_mut()) {
            r.tx = Some(id);
        }
    }

    pub(super) fn on_register_response(
        &mut self,
        now: Instant,
        trunk: usize,
        id: TransactionId,
        response: &Response,
    ) {
        let code = code_of(response);
        if code < 200 {
            return;
        }
        let adv = self
            .config
            .trunks
            .get(trunk)
            .map(|t| t.advertised.host_port());
        let Some(r) = self.trunk_state.get_mut(trunk).and_then(|s| s.reg.as_mut()) else {
            return;
        };
        if r.tx != Some(id) {
            return;
        }
        r.tx = None;
        if (200..300).contains(&code) {
            let granted = adv
                .and_then(|a| granted_expiry(response, &a))
                .unwrap_or(r.expires);
            if granted == 0 {
                // The provider removed our binding: that is not a registration.
                self.register_failed(now, trunk, code);
                return;
            }
            let refresh = Duration::from_secs(u64::from(granted) / 2).max(REGISTER_MIN_REFRESH);
            r.due = Some(now + refresh);
            r.registered = Some(true);
            r.backoff = REGISTER_BACKOFF;
            self.events.push_back(B2buaEvent::TrunkRegistered {
                trunk,
                expires: granted,
            });
            return;
        }
        if code == 423
            && let Some(min) = header_u32(response, "Min-Expires")
            && min > r.expires
        {
            // Interval Too Brief (RFC 3261 §10.2.8): ask again with the minimum.
            r.expires = min;
            r.due = Some(now);
            return;
        }
        self.register_failed(now, trunk, code);
    }

    /// A REGISTER failed with `status` (408 for Timer F, 503 for a transport error):
    /// report it and try again after a doubling backoff.
    pub(super) fn register_failed(&mut self, now: Instant, trunk: usize, status: u16) {
        let Some(r) = self.trunk_state.get_mut(trunk).and_then(|s| s.reg.as_mut()) else {
            return;
        };
        r.tx = None;
        r.registered = Some(false);
        r.due = Some(now + r.backoff);
        r.backoff = (r.backoff * 2).min(REGISTER_BACKOFF_MAX);
        self.events
            .push_back(B2buaEvent::TrunkRegistrationFailed { trunk, status });
    }

    /// Whether `id` is trunk `trunk`'s current REGISTER (so a failure counts).
    pub(super) fn is_current_register(&self, trunk: usize, id: TransactionId) -> bool {
        self.trunk_state
            .get(trunk)
            .and_then(|s| s.reg.as_ref())
            .is_some_and(|r| r.tx == Some(id))
    }
}

/// The expiry the provider granted our binding: the `expires` parameter of the Contact
/// naming our address, else the Expires header (RFC 3261 §10.2.4).
fn granted_expiry(response: &Response, our_host_port: &str) -> Option<u32> {
    let from_contact = response.headers.iter().find_map(|h| match h {
        Header::Contact(c) => {
            let v = c.value();
            v.split(',')
                .filter(|one| one.contains(our_host_port))
                .find_map(|one| param_u32(one, "expires"))
        }
        _ => None,
    });
    from_contact.or_else(|| header_u32(response, "Expires"))
}

/// `;name=N` in a header value, after the URI.
fn param_u32(value: &str, name: &str) -> Option<u32> {
    let after_uri = value.rsplit_once('>').map_or(value, |(_, p)| p);
    after_uri.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().parse().ok())?
    })
}

/// A header with a number as its value (Expires, Min-Expires).
fn header_u32(response: &Response, name: &str) -> Option<u32> {
    response.headers.iter().find_map(|h| {
        let v = match h {
            Header::Expires(e) if name.eq_ignore_ascii_case("Expires") => e.value(),
            Header::MinExpires(e) if name.eq_ignore_ascii_case("Min-Expires") => e.value(),
            Header::Other(n, v) if n.eq_ignore_ascii_case(name) => v.as_str(),
            _ => return None,
        };
        v.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_expires_parameter_is_read_after_the_uri() {
        assert_eq!(
            param_u32("<sip:u@h:5061;transport=tls>;expires=120", "expires"),
            Some(120)
        );
        assert_eq!(param_u32("<sip:u@h;expires=9>", "expires"), None);
        assert_eq!(param_u32("<sip:u@h>;q=0.5", "expires"), None);
    }
}
