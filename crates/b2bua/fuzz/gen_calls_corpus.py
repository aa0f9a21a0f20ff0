#!/usr/bin/env python3
"""Writes the seed corpus for the `calls` fuzz target (script encoding: see
src/fuzzing/calls.rs). Re-run after changing the encoding; the files are committed."""
import os, struct

OUT = os.path.join(os.path.dirname(__file__), "corpus", "calls")

# Setup byte: bit0 no credentials, bit1 keep-alive, bit2 register, bit3 start,
# bit4 short ring timeout, bit5 refuse media (odd calls), bit6 no admission,
# bit7 admission refuses every third call.
DEFAULT = 0

CODE = {100: 0, 180: 1, 183: 2, 200: 3, 401: 5, 407: 6, 486: 7, 487: 8, 491: 9, 500: 10,
        503: 11, 603: 12, 302: 13, 181: 14, 420: 15, 481: 16, 408: 17, 202: 18, 699: 19}
METHOD = {"ACK": 0, "BYE": 1, "INVITE": 2, "UPDATE": 3, "INFO": 4, "PRACK": 5,
          "OPTIONS": 6, "REFER": 10, "CANCEL": 11}
OOD = {"OPTIONS": 0, "BYE": 1, "REGISTER": 2, "MESSAGE": 3, "PRACK": 4}

# Flags: invite: 1 SDP, 2 Require 100rel, 4 Supported 100rel, 8 to the account user.
# response: 1 SDP, 2 reliable (Require+RSeq), 4/8 fork tag, 16 stale, 32 repeat RSeq.
# in-dialog: 1 SDP, 4/8 fork tag, 16 reuse the echoed CSeq, 32 Request-URI invalid.
SDP, REL, SUP = 1, 2, 4

TRUNK_IN, ECHO, ROGUE, PEER = 1, 0, 2, 3

def msg(pbx, kind, sel=0, arg=0, flags=0, flow=TRUNK_IN, muts=()):
    out = bytes([2 if pbx else 0, kind, sel, arg, flags, flow, len(muts)])
    for m in muts:
        out += m
    return out

def invite(pbx, flags=SDP, mf=2, flow=TRUNK_IN, muts=()):
    return msg(pbx, 0, 0, mf, flags, flow, muts)
def resp(pbx, code, flags=0, sel=0, flow=ECHO, muts=()):
    return msg(pbx, 1, sel, CODE[code], flags, flow, muts)
def req(pbx, method, flags=0, sel=0, flow=ECHO, muts=()):
    return msg(pbx, 3, sel, METHOD[method], flags, flow, muts)
def cancel(pbx, sel=0, flow=TRUNK_IN):
    return msg(pbx, 4, sel, 0, 0, flow)
def ack_of(pbx, sel=0, flow=ECHO):
    return msg(pbx, 5, sel, 0, 0, flow)
def ood(pbx, method, flow=TRUNK_IN):
    return msg(pbx, 6, 0, OOD[method], 0, flow)

def adv(ms):
    v = ms if ms < 0x8000 else 0x8000 + ms // 10
    return bytes([3]) + struct.pack("<H", v)
def fire(): return bytes([4])
def flow_op(sub, port=0): return bytes([5, sub, port])
def hang_up(i=0): return bytes([6, i])
def raw(side, data):
    b = data.encode() if isinstance(data, str) else data
    return bytes([7, side]) + struct.pack("<H", len(b)) + b
def tx_error(i=0): return bytes([8, i & 0x7f])
def retransmit(pbx, i=0): return bytes([8, 0x80 | (0x40 if pbx else 0) | (i & 0x3f)])

# Mutations: drop line, splice (insert / overwrite), number.
def m_drop(line): return bytes([0, line, 0])
def m_splice(line, off, data, overwrite=False):
    b = data.encode() if isinstance(data, str) else data
    return bytes([2 if overwrite else 1, line, off, len(b)]) + b
def m_num(line, which, value): return bytes([3, line, which]) + struct.pack("<I", (value << 2) | 3)

T, P = False, True

inbound_answered = invite(T) + resp(P, 180) + resp(P, 200, SDP) + req(T, "ACK")
outbound_answered = invite(P) + resp(T, 183, SDP) + resp(T, 200, SDP) + req(P, "ACK")

seeds = {
    "empty": b"",
    "setup_only_maintenance": bytes([2 | 4 | 8]) + adv(40000) + adv(300000),
    "inbound_full": bytes([DEFAULT]) + inbound_answered + req(P, "BYE") + resp(T, 200),
    "inbound_trunk_bye": bytes([DEFAULT]) + inbound_answered + req(T, "BYE", sel=1) + resp(P, 200),
    "inbound_no_sdp": bytes([DEFAULT]) + invite(T, 0) + resp(P, 200, SDP) + req(T, "ACK", SDP) + req(P, "BYE"),
    "inbound_486": bytes([DEFAULT]) + invite(T) + resp(P, 486) + ack_of(T),
    "inbound_reinvite": bytes([DEFAULT]) + inbound_answered + req(T, "INVITE", SDP, sel=1) + resp(P, 200, SDP) + req(T, "ACK") + req(P, "BYE"),
    "inbound_update_info": bytes([DEFAULT]) + invite(T) + resp(P, 183, SDP) + req(T, "UPDATE", SDP) + resp(P, 200, SDP) + req(T, "INFO") + resp(P, 200) + hang_up(0),
    "outbound_full": bytes([DEFAULT]) + outbound_answered + req(T, "BYE", sel=1) + resp(P, 200),
    "outbound_auth_407": bytes([DEFAULT]) + invite(P) + resp(T, 407) + resp(T, 183, SDP) + resp(T, 200, SDP) + req(P, "ACK") + req(P, "BYE", sel=1) + resp(T, 200),
    "outbound_auth_401_twice": bytes([DEFAULT]) + invite(P) + resp(T, 401) + resp(T, 401) + adv(40000),
    "outbound_auth_no_credentials": bytes([1]) + invite(P) + resp(T, 407),
    "outbound_delayed_offer": bytes([DEFAULT]) + invite(P, 0) + resp(T, 200, SDP) + req(P, "ACK", SDP) + hang_up(0),
    "cancel_before_provisional": bytes([DEFAULT]) + invite(T) + cancel(T) + resp(P, 180) + resp(P, 487) + adv(40000),
    "cancel_after_ringing": bytes([DEFAULT]) + invite(T) + resp(P, 180) + cancel(T) + resp(P, 200, sel=0) + resp(P, 487, sel=1),
    "cancel_race_200": bytes([DEFAULT]) + invite(T) + resp(P, 180) + cancel(T) + resp(P, 200, SDP, sel=1) + adv(40000),
    "cancel_ignored": bytes([DEFAULT]) + invite(T) + resp(P, 180) + cancel(T) + adv(160000),
    "pbx_cancel": bytes([DEFAULT]) + invite(P) + resp(T, 180) + cancel(P) + resp(T, 200) + resp(T, 487, sel=1),
    "ring_timeout": bytes([16]) + invite(T) + resp(P, 180) + adv(6000) + resp(P, 487, sel=1),
    "prack_caller_requires": bytes([DEFAULT]) + invite(T, SDP | REL) + resp(P, 183, SDP) + req(T, "PRACK") + resp(P, 200, SDP, sel=0) + req(T, "ACK") + req(P, "BYE"),
    "prack_caller_never": bytes([DEFAULT]) + invite(T, SDP | REL) + resp(P, 180) + adv(40000),
    "prack_caller_no_offer": bytes([DEFAULT]) + invite(T, REL) + resp(P, 183, SDP) + req(T, "PRACK") + resp(P, 200, SDP) + req(T, "ACK", SDP),
    "prack_pbx_caller": bytes([DEFAULT]) + invite(P, SDP | REL) + resp(T, 180) + req(P, "PRACK") + resp(T, 200, SDP) + req(P, "ACK"),
    "prack_callee_reliable": bytes([DEFAULT]) + invite(T) + resp(P, 183, SDP | REL) + resp(P, 200, sel=0) + resp(P, 200, SDP, sel=1) + req(T, "ACK"),
    "prack_callee_retransmit": bytes([DEFAULT]) + invite(P) + resp(T, 180, REL) + retransmit(T) + resp(T, 183, SDP | REL) + resp(T, 200, SDP, sel=2),
    "prack_queue": bytes([DEFAULT]) + invite(T, SDP | REL) + resp(P, 180) + resp(P, 181, sel=1) + resp(P, 183, SDP, sel=2) + resp(P, 180, sel=3) + resp(P, 180, sel=4) + resp(P, 180, sel=5) + req(T, "PRACK") + adv(1000),
    "reconnect_bye": bytes([DEFAULT]) + inbound_answered + flow_op(0) + flow_op(3, 7) + req(T, "BYE", sel=1, flow=TRUNK_IN) + resp(P, 200),
    "reconnect_pbx_bye": bytes([DEFAULT]) + inbound_answered + flow_op(0) + req(P, "BYE") + flow_op(3, 9) + resp(T, 200, flow=TRUNK_IN),
    "reconnect_other_ip": bytes([DEFAULT]) + inbound_answered + flow_op(0) + flow_op(5, 3) + req(T, "BYE", sel=1, flow=ROGUE),
    "set_trunk_flow_outbound": bytes([DEFAULT]) + outbound_answered + flow_op(4, 2) + req(P, "BYE") + resp(T, 200, flow=TRUNK_IN),
    "trunk_flow_closed_ringing": bytes([DEFAULT]) + invite(P) + resp(T, 180) + flow_op(1) + hang_up(0) + adv(40000),
    "forged_bye_rogue": bytes([DEFAULT]) + inbound_answered + req(T, "BYE", sel=1, flow=ROGUE) + req(T, "BYE", sel=1, flow=PEER),
    "forged_response_rogue": bytes([DEFAULT]) + invite(P) + resp(T, 200, SDP, flow=ROGUE) + resp(T, 486),
    "forged_tag": bytes([DEFAULT]) + inbound_answered + req(T, "BYE", flags=4, sel=1),
    "glare_491": bytes([DEFAULT]) + inbound_answered + req(T, "INVITE", SDP, sel=1) + req(P, "INVITE", SDP, sel=1) + resp(P, 491) + adv(5000),
    "fork_two_200": bytes([DEFAULT]) + invite(P) + resp(T, 180) + resp(T, 200, SDP, sel=1) + resp(T, 200, SDP | 4, sel=2),
    "overload_calls": bytes([DEFAULT]) + invite(T) * 4 + invite(P) + adv(130000),
    "admission_refuses": bytes([128]) + invite(T) * 3 + resp(P, 486) + adv(1000),
    "media_refused": bytes([32]) + invite(T) + invite(T) + resp(P, 200, SDP) + req(T, "ACK"),
    "register_trunk": bytes([4 | 8]) + resp(T, 401) + resp(T, 200) + adv(130000),
    "keepalive_trunk": bytes([2 | 8]) + resp(T, 200) + adv(31000) + tx_error(0) + adv(40000),
    "ack_timeout": bytes([DEFAULT]) + invite(T) + resp(P, 200, SDP) + adv(40000),
    "bye_unknown": bytes([DEFAULT]) + ood(T, "BYE") + ood(P, "OPTIONS") + ood(T, "MESSAGE") + ood(P, "PRACK"),
    "registered_account_call": bytes([4 | 8]) + resp(T, 200) + invite(T, SDP | 8),
    "max_forwards_zero": bytes([DEFAULT]) + invite(T, mf=0) + invite(P, mf=1),
    "mutated_invite": bytes([DEFAULT]) + invite(T, muts=[m_drop(5), m_splice(9, 3, "%00;;<>\x7f"), m_num(10, 0, 0)]),
    "mutated_sdp": bytes([DEFAULT]) + invite(T, muts=[m_splice(99, 40, "m=video 0 RTP/AVP 0 ")]) + resp(P, 200, SDP, muts=[m_splice(99, 200, "\x00\xff", True)]),
    "mutated_cseq_bye": bytes([DEFAULT]) + inbound_answered + req(T, "BYE", sel=1, muts=[m_num(6, 0, 1)]),
    "raw_garbage": bytes([DEFAULT]) + raw(0, b"\x00\x01garbage\r\n\r\n") + raw(1, "INVITE sip:x SIP/2.0\r\n\r\n") + raw(2, "SIP/2.0 200 OK\r\n\r\n"),
    "transport_error_invite": bytes([DEFAULT]) + invite(T) + tx_error(0) + tx_error(1) + adv(1000),
    # A re-INVITE answered only with 180: the guard cancels it after 180 s; then the
    # CANCEL's 200 and the 487, a late 200 instead, or nothing (the give-up). sel=2 picks
    # the re-INVITE behind the CANCEL and its retransmission.
    "reinvite_guard": bytes([DEFAULT]) + inbound_answered + req(T, "INVITE", SDP, sel=1) + resp(P, 180) + adv(181000) + resp(P, 200) + resp(P, 487, sel=2) + req(T, "INVITE", SDP, sel=1) + resp(P, 200, SDP) + req(T, "ACK") + req(P, "BYE"),
    "reinvite_guard_late_200": bytes([DEFAULT]) + inbound_answered + req(T, "INVITE", SDP, sel=1) + resp(P, 180) + adv(181000) + resp(P, 200, SDP, sel=2) + adv(40000),
    "reinvite_guard_ignored": bytes([DEFAULT]) + outbound_answered + req(P, "INVITE", SDP, sel=1) + resp(T, 100) + adv(181000) + adv(40000) + req(P, "INVITE", SDP, sel=1),
    "hangup_ringing": bytes([DEFAULT]) + invite(P) + resp(T, 180) + hang_up(0) + resp(T, 487, sel=1) + adv(40000),
}

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {OUT}")
