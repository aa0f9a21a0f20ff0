#!/usr/bin/env python3
"""Writes the seed corpus for the `transactions` fuzz target (op encoding: see
src/fuzzing.rs). Re-run after changing the encoding; the files are committed."""
import os, struct

OUT = os.path.join(os.path.dirname(__file__), "corpus", "transactions")

def adv(ms): return bytes([0]) + struct.pack("<H", ms)
def msg(text, sel=0):
    b = text.encode() if isinstance(text, str) else text
    return bytes([1, sel]) + struct.pack("<H", len(b)) + b
def tu_resp(which, code): return bytes([2, which]) + struct.pack("<H", code - 100)
def tu_req(method, branch, cseq, sel=0): return bytes([3, method, branch, cseq, sel])
def terr(which): return bytes([4, which])
def peer_resp(which, code, sel=0): return bytes([5, which]) + struct.pack("<H", code - 100) + bytes([sel])
def retrans(which, ack=False): return bytes([6, which, 1 if ack else 0])
def fire(): return bytes([7])
def fresh(sel): return bytes([8, sel])

def req(method, branch="z9hG4bKabc", cseq=1, to_tag="", via_host="198.18.0.1", extra=""):
    tag = f";tag={to_tag}" if to_tag else ""
    br = f";branch={branch}" if branch else ""
    return (f"{method} sip:bob@198.18.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP {via_host}:5060{br}\r\n"
            f"From: <sip:alice@198.18.0.1>;tag=a\r\nTo: <sip:bob@198.18.0.2>{tag}\r\n"
            f"Call-ID: c1\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n")

def resp(code, branch="z9hG4bK1", method="INVITE", cseq=1):
    return (f"SIP/2.0 {code} X\r\nVia: SIP/2.0/UDP 198.18.0.100:5060;branch={branch}\r\n"
            f"From: <sip:a@198.18.0.100>;tag=f\r\nTo: <sip:b@198.18.0.2>;tag=p\r\nCall-ID: fuzz\r\n"
            f"CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n")

seeds = {
    "empty": b"",
    "invite_server_486_ack": msg(req("INVITE")) + tu_resp(0, 486) + msg(req("ACK", to_tag="srv")) + adv(6000),
    "invite_server_trying": msg(req("INVITE")) + adv(250) + msg(req("INVITE")) + tu_resp(0, 180) + msg(req("INVITE")),
    "invite_server_200_accepted": msg(req("INVITE")) + tu_resp(0, 200) + msg(req("INVITE")) + tu_resp(0, 200) + msg(req("ACK", branch="z9hG4bKother", to_tag="srv")) + adv(40000),
    "invite_server_timer_h": msg(req("INVITE")) + tu_resp(0, 500) + adv(65535),
    "invite_server_tcp": msg(req("INVITE"), 1) + tu_resp(0, 603) + retrans(0, True),
    "cancel": msg(req("INVITE")) + tu_resp(0, 180) + msg(req("CANCEL")) + tu_resp(1, 200) + tu_resp(0, 487) + retrans(0, True),
    "cancel_unknown": msg(req("CANCEL", branch="z9hG4bKnone")),
    "options_server": msg(req("OPTIONS")) + msg(req("OPTIONS")) + tu_resp(0, 100) + msg(req("OPTIONS")) + tu_resp(0, 200) + msg(req("OPTIONS")) + adv(33000) + msg(req("OPTIONS")),
    "rfc2543": msg(req("INVITE", branch="")) + msg(req("INVITE", branch="")) + tu_resp(0, 404) + msg(req("ACK", branch="", to_tag="srv")),
    "rfc2543_branch": msg(req("INVITE", branch="old1")) + msg(req("INVITE", branch="old1")),
    "invite_client_timer_a_b": tu_req(0, 1, 1) + adv(33000),
    "invite_client_486": tu_req(0, 1, 1) + peer_resp(0, 180) + peer_resp(0, 486) + peer_resp(0, 486) + adv(33000),
    "invite_client_200": tu_req(0, 1, 1) + peer_resp(0, 200) + peer_resp(0, 200) + adv(33000),
    "invite_client_tcp": tu_req(0, 2, 1, 1) + peer_resp(0, 404, 1),
    "invite_client_cancel": tu_req(0, 3, 1) + peer_resp(0, 180) + tu_req(2, 3, 1) + peer_resp(1, 200) + peer_resp(0, 487),
    "options_client_timer_e": tu_req(1, 4, 1) + adv(700) + adv(3000) + adv(30000),
    "options_client_proceeding": tu_req(1, 4, 1) + peer_resp(0, 100) + fire() + fire() + peer_resp(0, 200) + fire(),
    "client_duplicate_branch": tu_req(1, 5, 1) + tu_req(1, 5, 2) + tu_req(4, 5, 1),
    "client_wire_response": tu_req(0, 1, 1) + msg(resp(180)) + msg(resp(200)) + msg(resp(200)),
    "stray_response": msg(resp(200, branch="z9hG4bKnothing")),
    "transport_error": tu_req(0, 1, 1) + msg(req("INVITE")) + terr(0) + terr(1) + adv(1000),
    "fresh_branches": fresh(0) + fresh(1) + fresh(2) + peer_resp(0, 200) + adv(40000),
    "overload": b"".join(msg(req("OPTIONS", branch=f"z9hG4bK{i}")) for i in range(20)) + tu_req(1, 6, 1),
    "overload_invite": b"".join(msg(req("INVITE", branch=f"z9hG4bKi{i}"), i % 2) for i in range(18)) + adv(300) + adv(40000),
    "sent_by_differs": msg(req("OPTIONS", via_host="198.18.0.7")) + msg(req("OPTIONS", via_host="198.18.0.8")),
    "many_fires": tu_req(0, 1, 1) + tu_req(1, 2, 1) + msg(req("INVITE")) + tu_resp(0, 300) + fire() * 20,
    "bad_status": msg(req("OPTIONS")) + bytes([2, 0, 0xff, 0xff]),
    "garbage_message": msg(b"\x00\x01garbage\r\n\r\n") + msg(b"INVITE sip:x SIP/2.0\r\n\r\n"),
    "compact_headers": msg("OPTIONS sip:b@198.18.0.2 SIP/2.0\r\nv: SIP/2.0/UDP 198.18.0.1;branch=z9hG4bKc\r\nf: <sip:a@x>;tag=1\r\nt: <sip:b@y>\r\ni: c\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n") ,
    "truncated_ops": bytes([1, 0, 0xff]),
    "large_advance": adv(65535) * 4 + tu_req(0, 7, 9) + adv(65535),
    "ack_no_transaction": msg(req("ACK", branch="z9hG4bKlone", to_tag="x")),
    "response_before_request": peer_resp(0, 200) + tu_resp(0, 200) + retrans(0),
}

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {OUT}")
