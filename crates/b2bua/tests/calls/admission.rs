//! Admission outside the core (`CallAdmission`): asked once per new call before anything
//! is sent on, a refusal answers the caller with its status and opens no leg, and every
//! admitted call is released exactly once when it ends.

// A test: a missing message is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use drawbridge_b2bua::{CallAdmission, CallHandle, Side};

use crate::harness::*;
use crate::inbound::answered_inbound;

#[derive(Default)]
struct Log {
    admitted: Vec<(CallHandle, Side, Side)>,
    released: Vec<CallHandle>,
}

/// Admits at most `limit` calls at a time, refusing others with 503.
struct Limit {
    limit: usize,
    log: Arc<Mutex<Log>>,
}

impl CallAdmission for Limit {
    fn admit(&mut self, _: Instant, call: CallHandle, from: Side, to: Side) -> Result<(), u16> {
        let mut log = self.log.lock().unwrap();
        if log.admitted.len() - log.released.len() >= self.limit {
            return Err(503);
        }
        log.admitted.push((call, from, to));
        Ok(())
    }
    fn release(&mut self, call: CallHandle) {
        self.log.lock().unwrap().released.push(call);
    }
}

#[test]
fn a_refused_call_opens_no_leg_and_admitted_calls_are_released_once() {
    let mut h = Harness::new();
    let log = Arc::new(Mutex::new(Log::default()));
    h.b2bua.set_admission(Box::new(Limit {
        limit: 1,
        log: log.clone(),
    }));
    let (invite, _ok) = answered_inbound(&mut h);
    {
        let log = log.lock().unwrap();
        assert_eq!(log.admitted.len(), 1);
        assert_eq!(
            (log.admitted[0].1, log.admitted[0].2),
            (Side::trunk(0), Side::Pbx)
        );
    }
    // A second call while the first is up: refused with the admission's status.
    h.take();
    h.trunk_sends(
        &trunk_invite()
            .replace("prov-callid-8f3a", "prov-callid-second")
            .replace("z9hG4bKprov-inv-1", "z9hG4bKprov-inv-2"),
    );
    let sent = h.take();
    assert!(
        sent.iter().all(|s| s.flow.id.0 == TRUNK_FLOW),
        "no leg to the PBX"
    );
    assert!(
        sent.iter().any(|s| s.code() == Some(503)),
        "503 to the caller"
    );
    assert_eq!(h.b2bua.calls_active(), 1);
    // The PBX hangs up the first call: released once, and a new call is admitted again.
    h.pbx_sends(&in_dialog_request(
        "BYE",
        "SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-1",
        &invite.text(),
        true,
        "pbx-tag-1",
        101,
        "",
    ));
    let bye = h
        .take_to(TRUNK_FLOW)
        .into_iter()
        .find(|s| s.method().as_deref() == Some("BYE"))
        .unwrap();
    h.trunk_sends(&trunk_response(&bye.request(), 200, "", ""));
    assert_eq!(h.b2bua.calls_active(), 0);
    let first = log.lock().unwrap().admitted[0].0;
    assert_eq!(log.lock().unwrap().released, vec![first]);
    h.trunk_sends(
        &trunk_invite()
            .replace("prov-callid-8f3a", "prov-callid-third")
            .replace("z9hG4bKprov-inv-1", "z9hG4bKprov-inv-3"),
    );
    assert!(
        h.take().iter().any(|s| s.flow.id.0 == PBX_FLOW),
        "admitted again"
    );
    assert_eq!(log.lock().unwrap().admitted.len(), 2);
}
