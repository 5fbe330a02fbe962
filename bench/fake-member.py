#!/usr/bin/env python3
"""bench/fake-member.py — a swarm member that does no good, for bench/swarm-bench.sh.

It joins a content's swarm through the control plane (from its own address, so it is listed there),
answers handshakes for that swarm, and then either announces every piece and never sends one
(--conduct withholds) or announces nothing at all (--conduct empty). It re-joins every few seconds so
it stays listed. Stop it with SIGTERM; every wait is bounded.

usage: fake-member.py --control-plane URL --content-id ID --swarm-hash BASE64 --pieces N
                      --listen IP --conduct withholds|empty
"""
import argparse, base64, http.client, json, os, select, signal, socket, struct, sys, threading, time, urllib.parse

MAGIC = b"Swarm protocol"
VERSION = bytes([0, 0, 0, 1, 0, 0, 0, 0])


def frame(type_code, payload=b""):
    body = bytes([type_code]) + payload
    return struct.pack(">I", len(body)) + body


def http_call(method, url, body, source_ip):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5, source_address=(source_ip, 0))
    path = u.path + ("?" + u.query if u.query else "")
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    return reply.status, data


def join(args, peer_id, port, seq):
    status, data = http_call("GET", f"{args.control_plane}/content/{args.content_id}/discovery", None, args.listen)
    array = json.loads(data)[0]["CollectiveArray"]
    body = {
        "ContentId": args.content_id, "PeerId": peer_id.hex(), "ReportedIp": args.listen, "SubnetMask": "255.255.255.0",
        "Port": str(port), "IsBackground": "0", "ClientDialectVersionMajor": "10", "ClientDialectVersionMinor": "1",
        "ClientDialectVersionBuild": "0", "ClientDialectVersionRevision": "12", "Uploaded": "0", "Downloaded": "0",
        "DownloadedCdn": "0", "DownloadedDoinc": "0", "Left": "0" if args.conduct == "withholds" else str(args.pieces),
        "JoinRequestEvent": "1" if seq == 0 else "0", "RestrictedUpload": "0", "PeersWanted": "50", "GroupId": "",
        "Scope": "1", "Profile": "768", "Seq": str(seq),
    }
    status, data = http_call("POST", array + "join/", json.dumps(body).encode(), args.listen)
    if status != 200:
        print(f"fake-member: join answered {status}: {data[:200]!r}", file=sys.stderr)


def serve(conn, args, peer_id, swarm_hash, stop):
    conn.settimeout(1)
    buf = b""
    try:
        while len(buf) < 78 and not stop.is_set():
            try:
                chunk = conn.recv(4096)
            except socket.timeout:
                continue
            if not chunk:
                return
            buf += chunk
        if buf[26:58] != swarm_hash:
            return
        bits = bytearray((args.pieces + 7) // 8)
        if args.conduct == "withholds":
            for i in range(args.pieces):
                bits[i // 8] |= 0x80 >> (i % 8)
        hello = struct.pack(">I", len(MAGIC)) + MAGIC + VERSION + swarm_hash + peer_id
        conn.sendall(hello + frame(5, bytes(bits)) + frame(1))
        last = time.monotonic()
        while not stop.is_set():
            try:
                if not conn.recv(65536):
                    return
            except socket.timeout:
                pass
            if time.monotonic() - last > 30:
                conn.sendall(struct.pack(">I", 0))
                last = time.monotonic()
    except OSError:
        return
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    for name in ("--control-plane", "--content-id", "--swarm-hash", "--listen", "--conduct"):
        p.add_argument(name, required=True)
    p.add_argument("--pieces", type=int, required=True)
    args = p.parse_args()
    swarm_hash = base64.b64decode(args.swarm_hash)
    peer_id = os.urandom(16) + b"\0\0\0\0"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.listen, 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    seq = 0
    next_join = 0.0
    while not stop.is_set():
        now = time.monotonic()
        if now >= next_join:
            try:
                join(args, peer_id, port, seq)
                seq += 1
            except (OSError, ValueError, KeyError, IndexError) as e:
                print(f"fake-member: join failed: {e}", file=sys.stderr)
            next_join = now + 2
        ready, _, _ = select.select([listener], [], [], 0.2)
        if ready:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn, args, peer_id, swarm_hash, stop), daemon=True).start()
    listener.close()


if __name__ == "__main__":
    main()
