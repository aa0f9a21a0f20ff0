//! Several B2BUAs as workers sharing the calls (`Shard`): every message a peer sends back
//! must be routed, by `Shard::owner` on the unparsed bytes alone, to the worker that owns
//! its call — in both directions, for requests and responses — and the whole call must
//! complete on that worker.

// A test: a missing header is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use drawbridge_b2bua::Shard;
use drawbridge_sip::route_key;

use crate::harness::*;
use crate::outbound::pbx_invite;

const WORKERS: usize = 3;

fn workers() -> Vec<Harness> {
    (0..WORKERS)
        .map(|i| {
            let mut c = config();
            c.shard = Shard::new(i, WORKERS);
            Harness::with_config(c)
        })
        .collect()
}

fn owner(text: &str) -> usize {
    Shard::owner(&route_key(text.as_bytes()), WORKERS)
}

#[test]
fn inbound_calls_are_routed_to_their_worker_from_start_to_end() {
    let mut w = workers();
    let mut owners = [0usize; WORKERS];
    for i in 0..12 {
        let invite = trunk_invite()
            .replace("prov-callid-8f3a", &format!("prov-callid-{i}"))
            .replace("prov-tag-1", &format!("prov-tag-{i}"))
            .replace("z9hG4bKprov-inv-1", &format!("z9hG4bKprov-inv-{i}"));
        let o = owner(&invite);
        owners[o] += 1;
        let h = &mut w[o];
        h.trunk_sends(&invite);
        let to_pbx = h.take_to(PBX_FLOW);
        let pbx_leg = to_pbx[0].request();
        // The PBX answers on the leg the worker opened: its branch names the worker.
        let ok = pbx_response(&pbx_leg, 200, &pbx_sdp(1, "sendrecv"));
        assert_eq!(owner(&ok), o, "PBX's 200 routed elsewhere");
        h.pbx_sends(&ok);
        let ok_out = h
            .take_to(TRUNK_FLOW)
            .into_iter()
            .find(|s| s.code() == Some(200))
            .expect("200 to the provider");
        let ack = ack_for(
            &ok_out.text(),
            "SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-ack",
            4711,
            "",
        );
        assert_eq!(owner(&ack), o, "provider's ACK routed elsewhere");
        h.trunk_sends(&ack);
        // The PBX hangs up inside the leg's dialog: the Call-ID is the worker's own.
        let bye = in_dialog_request(
            "BYE",
            &format!("SIP/2.0/UDP 198.19.5.5:5060;branch=z9hG4bKpbx-bye-{i}"),
            &to_pbx[0].text(),
            true,
            &pbx_response_tag(&ok),
            2,
            "",
        );
        assert_eq!(owner(&bye), o, "PBX's BYE routed elsewhere");
        h.pbx_sends(&bye);
        let bye_out = h
            .take_to(TRUNK_FLOW)
            .into_iter()
            .find(|s| s.method().as_deref() == Some("BYE"))
            .expect("BYE to the provider");
        let ok = trunk_response(&bye_out.request(), 200, "", "");
        assert_eq!(owner(&ok), o, "provider's 200 to BYE routed elsewhere");
        h.trunk_sends(&ok);
        assert_eq!(
            h.b2bua.calls_active(),
            0,
            "call {i} did not end on worker {o}"
        );
    }
    assert!(
        owners.iter().all(|n| *n > 0),
        "calls not spread over the workers: {owners:?}"
    );
}

/// The To tag the PBX put in its response.
fn pbx_response_tag(resp: &str) -> String {
    let to = header_in(resp, "To").unwrap();
    to.split("tag=").nth(1).unwrap().to_owned()
}

#[test]
fn outbound_calls_are_routed_to_their_worker_both_ways() {
    let mut w = workers();
    for i in 0..6 {
        let invite = pbx_invite(true)
            .replace("pbx-callid-77", &format!("pbx-callid-{i}"))
            .replace("z9hG4bKpbx-inv-1", &format!("z9hG4bKpbx-inv-{i}"));
        let o = owner(&invite);
        let h = &mut w[o];
        h.pbx_sends(&invite);
        let out = h
            .take_to(TRUNK_FLOW)
            .into_iter()
            .find(|s| s.method().as_deref() == Some("INVITE"))
            .expect("INVITE to the trunk");
        for code in [183, 200] {
            let r = trunk_response(&out.request(), code, "", &provider_sdp());
            assert_eq!(owner(&r), o, "provider's {code} routed elsewhere");
            h.trunk_sends(&r);
        }
        // The provider hangs up: its BYE carries the Call-ID the worker minted.
        let ok_text = trunk_response(&out.request(), 200, "", &provider_sdp());
        let bye = in_dialog_request(
            "BYE",
            &format!("SIP/2.0/TLS 198.18.7.7:5061;branch=z9hG4bKprov-bye-{i}"),
            &ok_text,
            true,
            "",
            9,
            "",
        );
        assert_eq!(owner(&bye), o, "provider's BYE routed elsewhere");
        h.trunk_sends(&bye);
        let bye_in = h
            .take_to(PBX_FLOW)
            .into_iter()
            .find(|s| s.method().as_deref() == Some("BYE"))
            .expect("BYE to the PBX");
        let ok = pbx_response(&bye_in.request(), 200, "");
        assert_eq!(owner(&ok), o, "PBX's 200 to BYE routed elsewhere");
        h.pbx_sends(&ok);
        for (j, other) in w.iter().enumerate() {
            assert_eq!(other.b2bua.calls_active(), 0, "worker {j} after call {i}");
        }
    }
}
