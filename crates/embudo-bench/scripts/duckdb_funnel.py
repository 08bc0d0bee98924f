"""The peer of Embudo's ad-hoc funnel: the same ordered funnel in DuckDB, on the same events.

Usage: python duckdb_funnel.py EVENTS.csv SPEC.json
  EVENTS.csv: person,ts,seq,event (ts in microseconds since the epoch, UTC)
  SPEC.json:  {"steps": [...], "from": micros, "to": micros, "window": micros, "runs": N}
Prints one JSON line: {"duckdb": version, "load_seconds", "prepare_seconds", "seconds": [per run],
"counts": [people per step]}.

Semantics (Embudo's `ordered` mode): a person reaches step k when they have events of steps
1..k in that order in (at, seq), all within `window` of the step-1 event (inclusive), with the
step-1 event in [from, to); each person counts once, at the furthest step over all their
step-1 events. From each step-1 event, the earliest next event of the next step is the best
continuation, so each level is one ASOF join (the earliest later event of that step).
"""
import json
import sys
import time

import duckdb


def main():
    events, spec_path = sys.argv[1], sys.argv[2]
    spec = json.load(open(spec_path))
    steps, lo, hi, window = spec["steps"], spec["from"], spec["to"], spec["window"]
    con = duckdb.connect()
    t = time.perf_counter()
    con.execute(
        "CREATE TABLE raw AS SELECT * FROM read_csv(?, header = true, "
        "columns = {'person': 'VARCHAR', 'ts': 'BIGINT', 'seq': 'BIGINT', 'event': 'VARCHAR'})",
        [events],
    )
    load = time.perf_counter() - t
    # Preparation, timed apart (Embudo's table build is timed apart too): a global order key
    # for (at, seq) and one table per step.
    t = time.perf_counter()
    case = " ".join(f"WHEN ? THEN {i + 1}" for i in range(len(steps)))
    con.execute(
        f"CREATE TABLE ev AS SELECT person, ts, row_number() OVER (ORDER BY ts, seq) AS k, "
        f"CASE event {case} END AS step FROM raw",
        steps,
    )
    for i in range(len(steps)):
        con.execute(f"CREATE TABLE st{i + 1} AS SELECT person, ts, k FROM ev WHERE step = {i + 1}")
    prepare = time.perf_counter() - t

    levels = [f"l1 AS (SELECT person, ts AS t1, k FROM st1 WHERE ts >= {lo} AND ts < {hi})"]
    for i in range(2, len(steps) + 1):
        levels.append(
            f"l{i} AS (SELECT p.person, p.t1, x.k FROM l{i - 1} p ASOF JOIN st{i} x "
            f"ON p.person = x.person AND x.k > p.k WHERE x.ts <= p.t1 + {window})"
        )
    counts = ", ".join(f"(SELECT count(DISTINCT person) FROM l{i})" for i in range(1, len(steps) + 1))
    sql = "WITH " + ", ".join(levels) + " SELECT " + counts
    seconds = []
    result = None
    for _ in range(spec.get("runs", 5)):
        t = time.perf_counter()
        result = con.execute(sql).fetchone()
        seconds.append(time.perf_counter() - t)
    print(json.dumps({
        "duckdb": duckdb.__version__,
        "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
        "load_seconds": load,
        "prepare_seconds": prepare,
        "seconds": seconds,
        "counts": list(result),
    }))


if __name__ == "__main__":
    main()
