"""What the fleet scripts (copies.py, steps.py, drops.py) read in the stderr of a kept fleet-bench swarm:
each peer's log, a log line's time, and a piece fetched from HTTP with the reason it gives."""
import datetime, glob, re

# "piece N from cdn|cache after M ms: WHY content=…": the piece, its source, why HTTP was asked.
HTTP_FETCH = re.compile(r"piece (\d+) from (cdn|cache) after \d+ ms: (.*?) content=")


def stamp(line):
    """The line's time in seconds since the epoch; None for a line that does not start with one."""
    try:
        return datetime.datetime.fromisoformat(line[:23]).timestamp()
    except ValueError:
        return None


def peer_logs(folder):
    """(peer number, path of its stderr) of every peer in a run folder (WORK/run-all), by peer number."""
    paths = glob.glob(f"{folder}/peer-*/stderr")
    return sorted((int(path.split("peer-")[1].split("/")[0]), path) for path in paths)
