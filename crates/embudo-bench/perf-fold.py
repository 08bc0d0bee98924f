#!/usr/bin/env python3
"""Splits a `perf` profile into stages by the frames on each sample's call chain.

    perf record -F 999 --call-graph dwarf,32768 -o perf.data -- \
        target/release/embudo-bench --duration 1 stages --messages 100000 --apply-groups 1000
    perf script -i perf.data -F comm,tid,ip,sym > perf.txt
    ROOT='impl#2\\}::write::\\{async_fn#0\\}::\\{closure' \
        crates/embudo-bench/perf-fold.py perf.txt \
        'commit=execute_batch' 'serialize context=context_json' \
        'serialize properties/traits=serde_json::ser|codec::json|to_string' \
        'visitor links=link_visitor|Writer::visitor|resolve_customer|resolve_message' \
        'insert=insert_event|execute_with_bound|sqlite3_step'

Each NAME=REGEX argument is a stage; a sample belongs to the first stage one of whose frames
matches (so list the narrower stages first), else to "other". With ROOT set, only samples
with a frame matching ROOT count (above: the SQLite store's writer closure, i.e. the work
inside `Store::apply`). Prints each stage's share and its hottest leaf functions.

Release builds keep line tables only (no frame pointers), hence `--call-graph dwarf`.
"""
import collections
import os
import re
import sys


def samples(path):
    current = None
    for line in open(path, errors="replace"):
        if not line.strip():
            if current is not None:
                yield current
            current = None
        elif not line.startswith((" ", "\t")):
            current = []
        elif current is not None:
            parts = line.strip().split(None, 1)
            current.append(re.sub(r"\+0x[0-9a-f]+$", "", parts[-1]))
    if current is not None:
        yield current


def main():
    stages = [arg.split("=", 1) for arg in sys.argv[2:]]
    root = os.environ.get("ROOT")
    by_stage = collections.Counter()
    leaves = collections.defaultdict(collections.Counter)
    total = 0
    for frames in samples(sys.argv[1]):
        if root and not any(re.search(root, f) for f in frames):
            continue
        total += 1
        stage = next((name for name, pattern in stages if any(re.search(pattern, f) for f in frames)), "other")
        by_stage[stage] += 1
        leaves[stage][(frames[0] if frames else "?")[:100]] += 1
    print(f"{total} samples")
    for stage, n in by_stage.most_common():
        print(f"== {stage}: {n} ({100 * n / total:.1f}%)")
        for leaf, m in leaves[stage].most_common(8):
            print(f"   {100 * m / total:5.1f}%  {leaf}")


if __name__ == "__main__":
    main()
