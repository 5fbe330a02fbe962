#!/usr/bin/env python3
"""How long the members of a fleet-bench swarm waited behind their peers' chokes, and whom they dropped:
reads the stderr of every peer of a run kept with `bench/fleet-bench.sh --skip-load --keep
--peer-log-level debug` (WORK/run-all and WORK/run-killed). Per swarm: the requests that overran their
budget while queued behind a choke, with the choke's age (p50, p90, max, and how many past the 5 s after
which the engine counts a queue as silence); the drops, by kind (silent: disconnected, owning nothing;
busy: kept connected; slow: ten times slower than the typical peer). Then, for every piece the origin
sent more than once, the peers the extra copy's fetcher dropped in the 8 s before it, and whether one
of them was the piece's first fetcher (its owner, most often).

usage: bench/fleet/drops.py WORK_FOLDER
"""
import collections, re, sys

from peerlogs import HTTP_FETCH, peer_logs, stamp

CHOKE = re.compile(r"it has choked us for (\d+) ms")
PEER_ID = re.compile(r"peer id ([0-9a-f]{40})")
DROPPED = re.compile(r"peer=([0-9a-f]{40})")
KINDS = {"it keeps timing out": "silent", "each queued behind its choke": "busy", "for the typical peer": "slow"}


def swarm(folder):
    chokes, drops, fetches, who = [], collections.defaultdict(list), collections.defaultdict(list), {}
    for peer, path in peer_logs(folder):
        for line in open(path, errors="replace"):
            if m := CHOKE.search(line):
                chokes.append(int(m.group(1)))
            if m := PEER_ID.search(line):
                who[m.group(1)] = peer
            if m := HTTP_FETCH.search(line):
                fetches[int(m.group(1))].append((stamp(line), peer))
            for text, kind in KINDS.items():
                if text in line and "dropping peer" in line:
                    dropped = DROPPED.search(line)
                    drops[peer].append((stamp(line), kind, dropped.group(1) if dropped else None))
    return chokes, drops, fetches, who


def main(work):
    for run in ("run-all", "run-killed"):
        chokes, drops, fetches, who = swarm(f"{work}/{run}")
        chokes.sort()
        at = lambda q: chokes[min(len(chokes) - 1, int(q * len(chokes)))] if chokes else 0
        kinds = collections.Counter(kind for peer in drops.values() for _, kind, _ in peer)
        print(f"{run}: {len(chokes)} overruns behind a choke, its age p50 {at(.5)} p90 {at(.9)} "
              f"max {chokes[-1] if chokes else 0} ms, {sum(c > 5000 for c in chokes)} past 5 s; "
              f"drops: silent {kinds['silent']}, busy {kinds['busy']}, slow {kinds['slow']}")
        starts = [t for copies in fetches.values() for t, _ in copies if t]
        start = min(starts) if starts else 0
        for piece, copies in sorted(fetches.items()):
            copies.sort()
            for when, peer in copies[1:]:
                before = [(t, kind, who.get(id, "?")) for t, kind, id in drops[peer] if when - 8 < t < when]
                owner = copies[0][1]
                said = ", ".join(f"{kind} p{p} at {t - start:.1f} s" for t, kind, p in before) or "none"
                mark = " (the first fetcher)" if any(p == owner for _, _, p in before) else ""
                print(f"  piece {piece}: extra copy by p{peer} at {when - start:.1f} s, first by p{owner}; "
                      f"its drops before: {said}{mark}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
