"""DNS as clients in a VPC see it, for names tests register: a database's
DNS name that is a CNAME of the interface endpoint an AWS service created
for it (RDS Proxy, Aurora Serverless). Served over UDP on the simulator's
port (`doctor --nameserver 127.0.0.1:<port>`); unknown names are NXDOMAIN.
"""

from __future__ import annotations

import socket
import threading

from dnslib import CNAME, QTYPE, RCODE, RR, DNSRecord

LOCK = threading.Lock()
# name (lower case, no trailing dot) -> CNAME target
CNAMES: dict[str, str] = {}


def _key(name: str) -> str:
    return name.rstrip(".").lower()


def register(name: str, cname: str) -> dict[str, str]:
    with LOCK:
        CNAMES[_key(name)] = _key(cname)
    return {"name": _key(name), "cname": _key(cname)}


def answer(data: bytes) -> bytes:
    request = DNSRecord.parse(data)
    reply = request.reply()
    name = _key(str(request.q.qname))
    with LOCK:
        hops = 0
        while name in CNAMES and hops < 16:
            target = CNAMES[name]
            reply.add_answer(RR(name + ".", QTYPE.CNAME, rdata=CNAME(target + "."), ttl=60))
            if request.q.qtype == QTYPE.CNAME:
                break
            name, hops = target, hops + 1
    if not reply.rr:
        reply.header.rcode = RCODE.NXDOMAIN
    return reply.pack()


def serve(host: str, port: int) -> threading.Thread:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))

    def loop() -> None:
        while True:
            data, peer = sock.recvfrom(4096)
            try:
                sock.sendto(answer(data), peer)
            except Exception:  # a malformed query gets no answer, as from a real server
                continue

    thread = threading.Thread(target=loop, name="dns", daemon=True)
    thread.start()
    return thread
