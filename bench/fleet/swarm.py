#!/usr/bin/env python3
"""One swarm run of bench/fleet-bench.sh: N `dofs get` peers, each on its own 127.0.0.x address
with its own cache, fetch one content at once and keep seeding; optionally a share of them is
killed (SIGKILL) midway. Prints one JSON object: completion times (launch to file written) of the
peers that were not killed, origin bytes sent during the run, and how many peers finished.

usage: swarm.py DOFS_BIN CONTROL_PLANE CONTENT_ID WORK ACCESS_LOG --peers N [--first-host K]
                [--kill-fraction F --kill-at SECONDS] [--timeout SECONDS] [--port P] [--log-level LEVEL]
                [--idle SECONDS]
Also reports the peers' CPU (utime + stime from /proc, summed over the survivors): up to the moment
the last one finished ("cpu_s": download, serving included), and with --idle, over that many seconds
after it, when every peer holds everything and has nothing to do ("idle_cpu_s"; with voluntary
context switches per peer and second, "idle_wakeups": timers and polls show there).
Every process it starts is stopped by its PID before it exits; every wait is bounded.
"""
import argparse, json, os, random, signal, subprocess, sys, time

def origin_bytes(log, skip):
    total = 0
    with open(log) as f:
        for n, line in enumerate(f):
            if n < skip:
                continue
            parts = line.split('"')
            if len(parts) >= 3:
                fields = parts[2].split()
                if len(fields) >= 2 and fields[1].isdigit():
                    total += int(fields[1])
    return total

def line_count(log):
    with open(log) as f:
        return sum(1 for _ in f)

TICK = os.sysconf("SC_CLK_TCK")

def cpu_seconds(pid):
    """utime + stime of a live process, in seconds (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None

def wakeups(pid):
    """Voluntary context switches of every thread of a live process (None once it is gone)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
    except (OSError, ValueError):
        return None
    return total

def cpu_sample(peers):
    """Per live survivor: (cpu seconds, voluntary context switches)."""
    out = {}
    for p in peers:
        if not p["killed"] and p["proc"].poll() is None:
            c, w = cpu_seconds(p["proc"].pid), wakeups(p["proc"].pid)
            if c is not None and w is not None:
                out[p["i"]] = (c, w)
    return out

def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dofs"); ap.add_argument("cp"); ap.add_argument("content"); ap.add_argument("work"); ap.add_argument("access_log")
    ap.add_argument("--peers", type=int, default=100)
    ap.add_argument("--first-host", type=int, default=20)
    ap.add_argument("--port", type=int, default=17680)
    ap.add_argument("--kill-fraction", type=float, default=0.0)
    ap.add_argument("--kill-at", type=float, default=0.0)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--seed-for", type=int, default=900)
    ap.add_argument("--stagger", type=float, default=0.0, help="launch the peers evenly over this many seconds")
    ap.add_argument("--http-delay", type=int, default=None, help="passed to every peer (dofs's default when absent)")
    ap.add_argument("--idle", type=float, default=0.0, help="after the last peer finished, measure their CPU for this many seconds")
    ap.add_argument("--log-level", default="warning", help="every peer's --log-level (debug says why each piece came from the CDN)")
    a = ap.parse_args()

    os.makedirs(a.work, exist_ok=True)
    skip = line_count(a.access_log)
    peers = []
    started = time.monotonic()
    for i in range(a.peers):
        host = f"127.0.0.{a.first_host + i}"
        d = os.path.join(a.work, f"peer-{i}")
        os.makedirs(d, exist_ok=True)
        out = open(os.path.join(d, "stdout"), "w")
        err = open(os.path.join(d, "stderr"), "w")
        args = [a.dofs, "get", a.content, "-o", os.path.join(d, "file"), "--json", "--seed-for", str(a.seed_for),
                "--control-plane", a.cp, "--cache-dir", os.path.join(d, "cache"), "--peer-listen", f"{host}:{a.port}",
                "--download-mode", "3", "--log-level", a.log_level]
        if a.http_delay is not None:
            args += ["--http-delay", str(a.http_delay)]
        if a.stagger > 0 and a.peers > 1:
            time.sleep(a.stagger / (a.peers - 1) * (1 if i > 0 else 0))
        p = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        peers.append({"i": i, "host": host, "proc": p, "launched": time.monotonic(), "done": None, "killed": False,
                      "stdout": os.path.join(d, "stdout"), "stderr": os.path.join(d, "stderr"), "outcome": None})
    killed_at = None
    at_end, idle = {}, {}
    try:
        while time.monotonic() - started < a.timeout:
            now = time.monotonic()
            for p in peers:
                if p["done"] is None and not p["killed"]:
                    try:
                        with open(p["stdout"]) as f:
                            text = f.read()
                    except OSError:
                        text = ""
                    line = next((l for l in text.splitlines() if l.startswith("{")), None)
                    if line:
                        p["done"] = now - p["launched"]
                        p["outcome"] = json.loads(line)
                    elif p["proc"].poll() is not None:
                        p["done"] = float("nan")  # exited without an outcome: failed
            if a.kill_fraction > 0 and killed_at is None and now - started >= a.kill_at:
                running = [p for p in peers if p["done"] is None]
                victims = random.sample(running, min(len(running), int(round(a.kill_fraction * a.peers))))
                for p in victims:
                    p["proc"].send_signal(signal.SIGKILL)
                    p["killed"] = True
                killed_at = now - started
            if all(p["done"] is not None or p["killed"] for p in peers):
                break
            time.sleep(0.1)
        at_end = cpu_sample(peers)
        if a.idle > 0 and at_end:
            time.sleep(a.idle)
            after = cpu_sample(peers)
            idle = {i: (after[i][0] - at_end[i][0], after[i][1] - at_end[i][1]) for i in after if i in at_end}
    finally:
        for p in peers:
            if p["proc"].poll() is None:
                p["proc"].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for p in peers:
            try:
                p["proc"].wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p["proc"].send_signal(signal.SIGKILL)
                p["proc"].wait(timeout=10)
    survivors = [p for p in peers if not p["killed"]]
    times = [p["done"] for p in survivors if p["done"] is not None and p["done"] == p["done"]]
    failed = [p["i"] for p in survivors if p["done"] is not None and p["done"] != p["done"]]
    unfinished = [p["i"] for p in survivors if p["done"] is None]
    errors = {}
    for p in survivors:
        if p["done"] is not None and p["done"] != p["done"]:
            try:
                with open(p["stderr"]) as f:
                    errors[p["i"]] = (f.read().strip().splitlines() or ["(empty)"])[-1][-300:]
            except (OSError, IndexError):
                errors[p["i"]] = "(no stderr)"
    fetched = {"cdn": 0, "cache": 0, "peer": 0}
    for p in survivors:
        if p["outcome"]:
            for k in fetched:
                fetched[k] += p["outcome"]["fetched"].get(k, 0)
    print(json.dumps({
        "peers": a.peers, "killed": sum(p["killed"] for p in peers), "killed_at": killed_at,
        "completed": len(times), "failed": failed, "unfinished": unfinished,
        "p50": pct(times, 50), "p90": pct(times, 90), "max": max(times) if times else None,
        "origin_bytes": origin_bytes(a.access_log, skip), "fetched": fetched, "errors": errors,
        "wall": time.monotonic() - started,
        "cpu_s": sum(c for c, _ in at_end.values()), "cpu_peers": len(at_end),
        "cpu_max_s": max((c for c, _ in at_end.values()), default=None),
        "idle_s": a.idle if idle else None, "idle_cpu_s": sum(c for c, _ in idle.values()) if idle else None,
        "idle_wakeups": sum(w for _, w in idle.values()) if idle else None, "idle_peers": len(idle),
    }))

if __name__ == "__main__":
    main()
