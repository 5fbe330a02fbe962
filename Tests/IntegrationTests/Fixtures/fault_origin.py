#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 origin for the dofs integration tests (stdlib only).

URL form: /<mode>/<name> serves file <name> of --root, behaving according to <mode>:

  ok           correct HEAD, GET and single-range GET (206 + Content-Range), 416 when unsatisfiable
  truncate     declares the right Content-Length, sends only half the body, then closes the connection
  badrange     206 with a body of the requested length, but taken from another offset and labelled
               with that other offset in Content-Range
  ignorerange  ignores Range: 200 with the whole body, no Accept-Ranges header
  error500     500 for every request
  changed      the content has changed since it was published: same length, every byte XOR 0xA5
  stall        HEAD as usual; a GET gets no answer at all for ?seconds=N (default 3600), then a 503
  chaos        each GET, with probability ?rate=R (default 0.2), gets one fault at random: truncate,
               badrange, error500, changed (flipped bytes) or a stall of ?stall=S seconds (default 2)

Modes that need no file: /claim/<any name>?length=N answers HEAD with Content-Length N and a range GET
with 206 and "Content-Range: bytes a-b/N" (zero bytes, at most 1 MiB), whatever N is, as a hostile
server claiming an absurd size would; /redirect/<any name>?to=URL answers 302 to URL.

HEAD is answered normally (200, full Content-Length) in every mode but error500, so faults hit the
data path. The chosen port is printed as "PORT <n>" on stdout once the socket listens; every request
is appended to --log as METHOD<TAB>PATH<TAB>STATUS<TAB>BODY_BYTES<TAB>RANGE.
"""
import argparse
import os
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import random
import time
import urllib.parse

MODES = {"ok", "truncate", "badrange", "ignorerange", "error500", "changed", "stall", "chaos"}
CHAOS_FAULTS = ["truncate", "badrange", "error500", "changed", "stall"]
FLIP = bytes(i ^ 0xA5 for i in range(256))
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-origin/1"

    def log_message(self, fmt, *args):  # the access log below replaces stderr chatter
        pass

    def record(self, status, body_bytes):
        line = "\t".join([self.command, self.path.split("?")[0], str(status), str(body_bytes),
                          self.headers.get("Range") or "-"])
        with self.server.log_lock:
            with open(self.server.log_path, "a") as f:
                f.write(line + "\n")

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        self.serve(head=False)

    def plain(self, status, text, extra=()):
        body = text.encode()
        self.send_response(status)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.record(status, 0 if self.command == "HEAD" else len(body))

    def serve(self, head):
        parts = self.path.split("?")[0].lstrip("/").split("/", 1)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if len(parts) == 2 and parts[0] == "claim":
            return self.serve_claim(head, query["length"][0])
        if len(parts) == 2 and parts[0] == "redirect":
            return self.plain(302, "moved\n", [("Location", query["to"][0])])
        if len(parts) != 2 or parts[0] not in MODES:
            return self.plain(404, "unknown mode\n")
        mode, name = parts
        path = os.path.realpath(os.path.join(self.server.root, name))
        if not path.startswith(self.server.root + os.sep) or not os.path.isfile(path):
            return self.plain(404, "no such file\n")
        if mode == "chaos" and not head:
            rate = float(query.get("rate", ["0.2"])[0])
            if random.random() < rate:
                mode = random.choice(CHAOS_FAULTS)
                if mode == "stall":
                    time.sleep(float(query.get("stall", ["2"])[0]))
                    return self.plain(503, "stalled\n")
            else:
                mode = "ok"
        if mode == "stall" and not head:
            time.sleep(float(query.get("seconds", ["3600"])[0]))
            return self.plain(503, "stalled\n")
        if mode == "error500":
            return self.plain(500, "injected server error\n")
        with open(path, "rb") as f:
            data = f.read()
        if mode == "changed":
            data = data.translate(FLIP)
        total = len(data)

        if head:
            self.send_response(200)
            self.send_header("Content-Length", str(total))
            if mode != "ignorerange":
                self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            return self.record(200, 0)

        wanted = self.parse_range(self.headers.get("Range"), total)
        if mode == "ignorerange" or wanted is None:
            return self.send_body(200, data, [], accept_ranges=(mode != "ignorerange"))
        if wanted == "unsatisfiable":
            return self.plain(416, "range not satisfiable\n", [("Content-Range", "bytes */%d" % total)])
        start, end = wanted
        length = end - start + 1
        if mode == "badrange":
            shift = 4096 if end + 4096 < total else -4096
            if 0 <= start + shift and end + shift < total:
                start, end = start + shift, end + shift
            else:  # too small to shift inside the content: claim an impossible range
                start, end = start + 1, end + 1
            body = data[start:end + 1].ljust(length, b"\0")
            return self.send_body(206, body, [("Content-Range", "bytes %d-%d/%d" % (start, end, total))])
        body = data[start:end + 1]
        headers = [("Content-Range", "bytes %d-%d/%d" % (start, end, total))]
        if mode == "truncate":
            return self.send_truncated(body, headers)
        return self.send_body(206, body, headers)

    def serve_claim(self, head, claimed):
        if head:
            self.send_response(200)
            self.send_header("Content-Length", claimed)
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            return self.record(200, 0)
        m = RANGE_RE.match((self.headers.get("Range") or "").strip())
        if not m or m.group(1) == "":
            return self.plain(416, "single ranges only\n")
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else start + (1 << 20) - 1
        end = min(end, start + (1 << 20) - 1)
        body = bytes(end - start + 1)
        return self.send_body(206, body, [("Content-Range", "bytes %d-%d/%s" % (start, end, claimed))])

    @staticmethod
    def parse_range(header, total):
        if not header:
            return None
        m = RANGE_RE.match(header.strip())
        if not m or (m.group(1) == "" and m.group(2) == ""):
            return None  # multi-range or malformed: serve the whole body, as RFC 9110 allows
        if m.group(1) == "":
            n = int(m.group(2))
            if n == 0:
                return "unsatisfiable"
            return max(0, total - n), total - 1
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else total - 1
        if start >= total or end < start:
            return "unsatisfiable"
        return start, min(end, total - 1)

    def send_body(self, status, body, headers, accept_ranges=True):
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if accept_ranges:
            self.send_header("Accept-Ranges", "bytes")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.record(status, len(body))

    def send_truncated(self, body, headers):
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        half = body[: len(body) // 2]
        try:
            self.wfile.write(half)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True
        self.record(206, len(half))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.root = os.path.realpath(args.root)
    server.log_path = args.log
    server.log_lock = threading.Lock()
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
