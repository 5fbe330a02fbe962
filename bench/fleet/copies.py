#!/usr/bin/env python3
"""Which pieces the origin sent more than once in a fleet-bench swarm, and why: reads the stderr of every
peer of a run kept with `bench/fleet-bench.sh --skip-load --keep --peer-log-level debug`
(WORK/run-all/peer-*/stderr) and prints, per piece, each CDN fetch in order as
SECONDS/pPEER/REASON/mMEMBERS/jJOINED: seconds from the first log line of the run to the fetch's end,
the peer, `own` (it owned the piece) or `wait` (its owner and backups let their time pass) or the
reason's start, how many members the peer knew, and when its first join was answered. Then the number of
extra copies, and how many first and extra copies each reason gave, with those after SECONDS apart
(default 7: the swarm's growth in a run of 100 peers started at once on two cores). With --why, each
piece fetched more than once is followed by what every peer that fetched it logged about it (waits,
hedges, holds, the fetch), in time order: the chain of decisions behind each copy.

usage: bench/fleet/copies.py RUN_FOLDER [SECONDS] [--why]
"""
import collections, re, sys

from peerlogs import HTTP_FETCH, peer_logs, stamp

args = [a for a in sys.argv[1:] if a != "--why"]
why_lines = "--why" in sys.argv[1:]
root = args[0]
early = float(args[1]) if len(args) > 1 else 7.0


fetches = collections.defaultdict(list)
joined = {}
start = None
for peer, path in peer_logs(root):
    for line in open(path, errors="replace"):
        t = stamp(line)
        if t is None:
            continue
        start = t if start is None else min(start, t)
        if "joined its swarm" in line:
            joined.setdefault(peer, t)
        m = HTTP_FETCH.search(line)
        if m:
            why = m.group(3)
            members = re.search(r"among (\d+) member", why)
            reason = "own" if "we own it" in why else "wait" if " let " in why else why[:30].replace(" ", "_")
            fetches[int(m.group(1))].append((t, peer, reason, int(members.group(1)) if members else -1))

extra = 0
tally = collections.Counter()
for piece in sorted(fetches):
    row = sorted(fetches[piece])
    extra += len(row) - 1
    for i, (t, peer, reason, members) in enumerate(row):
        tally[("extra" if i else "first", reason, "late" if t - start > early else "early")] += 1
    print(piece, " ".join(f"{t - start:.1f}/p{peer}/{reason}/m{members}/j{joined.get(peer, start) - start:.1f}"
                          for t, peer, reason, members in row))
    if why_lines and len(row) > 1:
        about = re.compile(rf"piece {piece}(?:[: ]|$)")
        told = []
        for peer in sorted({p for _, p, _, _ in row}):
            for line in open(f"{root}/peer-{peer}/stderr", errors="replace"):
                t = stamp(line)
                if t is not None and about.search(line):
                    told.append((t, peer, line.split(" content=")[0].split(": ", 1)[-1]))
        for t, peer, text in sorted(told):
            print(f"    {t - start:6.2f} p{peer}: {text}")
print(f"pieces {len(fetches)}, extra copies {extra}; copies by reason (late: after {early:g} s)")
for (kind, reason, when), n in sorted(tally.items()):
    print(f"  {n:4} {kind}, {reason}, {when}")
