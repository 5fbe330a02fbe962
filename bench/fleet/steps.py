#!/usr/bin/env python3
"""Where a fleet-bench swarm's peers spent their start, and why each CDN piece was fetched: reads the
stderr of every peer of a run kept with `bench/fleet-bench.sh --skip-load --keep --peer-log-level debug`
(WORK/run-all/peer-*/stderr) and prints, per peer, seconds from the first peer's first log line to its
own first line (process start), its peer server listening, its node built, its pieces hash file
accepted, its first join answered (and how many peers it listed), its first CDN piece; then how many
CDN pieces each peer fetched (before its first join answer apart) and the reasons the pieces give,
most common first, and the owner-wait pieces by the fetching member's rank below the owner.

usage: bench/fleet/steps.py RUN_FOLDER
"""
import re, sys, collections
from peerlogs import HTTP_FETCH, peer_logs, stamp as ts
root = sys.argv[1]
rows = []
reasons = collections.Counter()
ranks = collections.Counter()
waits = []
for peer, path in peer_logs(root):
    r = {"peer": str(peer)}
    cdn = 0; cdn_pre = 0
    for line in open(path, errors="replace"):
        t = ts(line)
        if t is None: continue
        r.setdefault("first", t)
        if "sharing verified pieces" in line: r.setdefault("listen", t)
        if "dofs node: cache" in line: r.setdefault("node", t)
        if "pieces hash file from" in line and "accepted" in line: r.setdefault("phf", t)
        if "joined its swarm" in line: 
            r.setdefault("join", t); r.setdefault("listed", int(re.search(r"(\d+) peer\(s\) listed", line).group(1)))
        if "cannot join its swarm" in line: r.setdefault("joinfail", t)
        m = HTTP_FETCH.search(line)
        if m:
            cdn += 1
            why = re.sub(r"[0-9a-f]{40}", "X", m.group(3)); why = re.sub(r"\d+", "N", why)
            reasons[why] += 1
            b = re.search(r"and (\d+) backup\(s\) let (\d+) ms", m.group(3))
            if b:
                k = int(b.group(1)); ms = int(b.group(2))
                ranks[("first backup" if k == 0 else "backups 2-5" if k <= 4 else "backups 6+")
                      + (", peers had it" if "peers have it" in m.group(3) else "")
                      + (", after a hold" if "swarm stalled" in m.group(3) else "")] += 1
                waits.append(ms)
            if "join" not in r: cdn_pre += 1
            r.setdefault("cdn1", t)
    r["cdn"] = cdn; r["cdn_prejoin"] = cdn_pre
    rows.append(r)
t0 = min(r["first"] for r in rows if "first" in r)
def rel(r, k): return f"{r[k]-t0:6.2f}" if k in r else "     -"
print("peer  first listen  node   phf    join  listed cdn1   cdn pre")
for r in rows:
    print(f"{r['peer']:>4} {rel(r,'first')} {rel(r,'listen')} {rel(r,'node')} {rel(r,'phf')} {rel(r,'join')} {r.get('listed','-'):>4} {rel(r,'cdn1')} {r['cdn']:4} {r['cdn_prejoin']:3}")
print("total cdn", sum(r["cdn"] for r in rows), "before join", sum(r["cdn_prejoin"] for r in rows))
for k, v in reasons.most_common(12): print(v, k)
print("owner-wait CDN pieces by the fetching member's rank below the owner:")
for k, v in ranks.most_common(): print(f"  {v} {k}")
if waits:
    waits.sort()
    print(f"  their wait: p50 {waits[len(waits)//2]} ms, p90 {waits[int(len(waits)*0.9)]} ms, max {waits[-1]} ms")
