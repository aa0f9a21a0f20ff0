#!/usr/bin/env python3
"""Writes the seed corpus (run from this directory). The files are committed; this script
documents how they were made and the relay target's input format."""
import os, struct

def rtp(seq, ssrc=0x1234, b0=0x80, pt=0, payload=b"\xd5" * 20):
    return bytes([b0, pt]) + struct.pack(">HII", seq & 0xFFFF, seq * 160, ssrc) + payload

def rtcp(pt=201, words=1, body=b"\0\0\0\x01"):
    return bytes([0x80, pt]) + struct.pack(">H", words) + body

rtp_seeds = {
    "rtp_plain": rtp(1),
    "rtp_marker": rtp(2, pt=0x80 | 8),
    "rtp_csrc2": rtp(3, b0=0x82, payload=b"\0" * 8 + b"\xd5" * 10),
    "rtp_csrc_overflow": rtp(3, b0=0x8F, payload=b"\0" * 8),
    "rtp_ext": rtp(4, b0=0x90, payload=b"\xbe\xde\x00\x01\x10\xaa\x00\x00" + b"\xd5" * 8),
    "rtp_ext_overflow": rtp(4, b0=0x90, payload=b"\xbe\xde\xff\xff"),
    "rtp_pad_ok": rtp(5, b0=0xA0, payload=b"\xd5\xd5\x00\x02"),
    "rtp_pad_zero": rtp(5, b0=0xA0, payload=b"\xd5\x00"),
    "rtp_pad_long": rtp(5, b0=0xA0, payload=b"\xd5\xff"),
    "rtp_header_only": rtp(6, payload=b""),
    "rtp_short": rtp(6, payload=b"")[:11],
    "v0_stun": b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"\0" * 12,
    "v1": rtp(7, b0=0x40),
    "dtls": b"\x16\xfe\xfd" + b"\0" * 20,
    "empty": b"",
    "one": b"\x80",
    "rtcp_rr": rtcp(),
    "rtcp_sr": rtcp(200, 6, b"\0" * 24),
    "rtcp_len_overflow": rtcp(200, 200, b"\0" * 24),
    "rtcp_bye": rtcp(203),
    "rtcp_app": rtcp(204, 2, b"\0\0\0\x01name"),
    "rtcp_compound": rtcp(201) + rtcp(202, 2, b"\0\0\0\x01\x01\x03abc"),
    "rtcp_short": rtcp()[:7],
    "rtcp_pt_rtp": rtcp(96),
}

def packet(sel, src, data, op=0x00):
    assert len(data) < 256
    return bytes([op, sel, src, len(data)]) + data

CREATE, TIMEOUT, REMOVE = 0x07, 0x05, 0x06
A_RTP, A_RTCP, B_RTP, B_RTCP = 2, 6, 3, 7   # first session: port 30000/30001 on both interfaces
TRUNK, TRUNK_RTCP, PBX, PBX_HOST, STRANGER, MAPPED = 0, 1, 2, 3 | (8 << 3), 5, 6

def advance(op, steps):
    return (op & 0x0F) | (steps << 4)

relay_seeds = {
    "empty": b"",
    "create_only": bytes([CREATE]),
    "a_to_b": bytes([CREATE]) + packet(A_RTP, TRUNK, rtp(1)),
    "both_ways": bytes([CREATE]) + packet(A_RTP, TRUNK, rtp(1)) + packet(B_RTP, PBX_HOST, rtp(1, 9))
        + packet(A_RTP, TRUNK, rtp(2)) + packet(B_RTP, PBX_HOST, rtp(2, 9)),
    "rtcp": bytes([CREATE]) + packet(A_RTCP, TRUNK_RTCP, rtcp()) + packet(B_RTCP, PBX_HOST, rtcp()),
    "injection": bytes([CREATE]) + packet(A_RTP, STRANGER, rtp(1)) + packet(A_RTP, PBX, rtp(1)),
    "mapped_source": bytes([CREATE]) + packet(A_RTP, MAPPED, rtp(1)),
    "latch_then_other_port": bytes([CREATE]) + packet(B_RTP, PBX_HOST, rtp(1)) + packet(B_RTP, 3 | (9 << 3), rtp(2)),
    "malformed": bytes([CREATE]) + packet(A_RTP, TRUNK, b"\x00" * 20) + packet(A_RTCP, TRUNK_RTCP, rtp(1)),
    "hold_resume": bytes([CREATE, 0x04, 0, 0x08]) + packet(B_RTP, PBX_HOST, rtp(1)) + bytes([0x04, 0, 0x00])
        + packet(B_RTP, PBX_HOST, rtp(2)),
    "sendonly": bytes([CREATE, 0x04, 0, 0x03]) + packet(A_RTP, TRUNK, rtp(1)),
    "reinvite_move": bytes([CREATE, 0x04, 0, 0x10]) + packet(A_RTP, TRUNK, rtp(1)),
    "timeout": bytes([CREATE]) + bytes([advance(TIMEOUT, 15)]) * 120,
    "timeout_twice": bytes([CREATE]) + bytes([advance(TIMEOUT, 15)]) * 200 + bytes([REMOVE, CREATE]) + bytes([advance(TIMEOUT, 15)]) * 120,
    "churn": bytes([CREATE, CREATE, REMOVE, CREATE, REMOVE, REMOVE, CREATE]) + packet(A_RTP, TRUNK, rtp(1)),
    "exhaust": bytes([CREATE]) * 10 + packet(A_RTP, TRUNK, rtp(1)) + bytes([REMOVE]) * 10,
    "quarantine": bytes([CREATE, REMOVE, CREATE]) + packet(A_RTP, TRUNK, rtp(1)) + bytes([advance(REMOVE, 15)] * 1),
    "burst": bytes([CREATE]) + packet(A_RTP, TRUNK, rtp(1)) * 12 + bytes([advance(TIMEOUT, 15)]) + packet(A_RTP, TRUNK, rtp(2)),
    "closed_port": packet(A_RTP, TRUNK, rtp(1)) + packet(0, TRUNK, rtp(1)) + packet(47, TRUNK, rtp(1)),
    "truncated_op": bytes([CREATE, 0x00, 2]),
}

for name, seeds in (("rtp_header", rtp_seeds), ("relay", relay_seeds)):
    os.makedirs(f"corpus/{name}", exist_ok=True)
    for k, v in seeds.items():
        with open(f"corpus/{name}/{k}", "wb") as f:
            f.write(v)
print(len(rtp_seeds), len(relay_seeds))
