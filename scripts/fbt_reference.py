#!/usr/bin/env python3
"""Reference frequent itemsets for the frequently-bought-together benchmark.

Mines Instacart's train baskets with mlxtend's ``fpgrowth`` on a sparse DataFrame (or with
efficient-apriori) at the given minimum supports, timing the mining alone, and writes the
itemsets in the canonical form the Rust example ``fbt_bench`` writes:

    product_id product_id ...<TAB>count

one itemset a line, product ids ascending within a line, lines ordered by length, then by
product ids. ``compare`` checks two such files for the same itemsets with the same counts.

Set-up (pinned versions in fbt_reference_requirements.txt):

    python3 -m venv target/fbt-env
    target/fbt-env/bin/pip install -r scripts/fbt_reference_requirements.txt

Usage, from the repository root:

    target/fbt-env/bin/python scripts/fbt_reference.py mine [--engine mlxtend|apriori]
        [--data ../shared/data/instacart/order_products__train.csv]
        [--min-support 0.001,0.0005] [--max-len N] [--runs 3] [--out-dir target/fbt-bench]
    target/fbt-env/bin/python scripts/fbt_reference.py compare A.tsv B.tsv

Support is ``count / number of baskets`` and an itemset is frequent when its support is at
least the minimum support, as both libraries define it. mlxtend's ``fpgrowth`` sums the
DataFrame densely (``df.values``) to find the frequent items, which for 131,209 baskets x
39,123 products would take about 5 GB; so by default the columns of items that cannot be
frequent on their own (support below the minimum) are dropped first (this cannot change the
result: every subset of a frequent itemset is frequent) and that step is timed as part of the
mining. ``--no-prefilter`` passes all columns.
"""

import argparse
import math
import os
import statistics
import sys
import time
import warnings


def load(path):
    """The baskets as a sparse boolean CSR matrix (rows: orders, columns: products)."""
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    frame = pd.read_csv(path, usecols=["order_id", "product_id"], dtype={"order_id": "int64", "product_id": "int64"})
    rows, _orders = pd.factorize(frame["order_id"])
    cols, products = pd.factorize(frame["product_id"])
    ones = np.ones(len(frame), dtype=np.int32)
    matrix = sp.csr_matrix((ones, (rows, cols)), shape=(len(_orders), len(products)))
    matrix.sum_duplicates()
    matrix.data = np.ones_like(matrix.data)  # a product repeated in an order counts once
    matrix = matrix.astype(bool)
    return matrix, np.asarray(products, dtype=np.int64), len(frame)


def mine_mlxtend(matrix, products, min_support, max_len, prefilter):
    """(itemsets as tuples of product ids, counts), mined by mlxtend's fpgrowth, and the
    seconds spent in the ``fpgrowth`` call alone."""
    import numpy as np
    import pandas as pd
    from mlxtend.frequent_patterns import fpgrowth

    n = matrix.shape[0]
    columns = np.arange(matrix.shape[1])
    if prefilter:
        support = np.asarray(matrix.sum(axis=0)).reshape(-1) / float(n)
        columns = np.nonzero(support >= min_support)[0]
        matrix = matrix[:, columns]
    frame = pd.DataFrame.sparse.from_spmatrix(matrix, columns=[str(c) for c in range(matrix.shape[1])])
    start = time.perf_counter()
    result = fpgrowth(frame, min_support=min_support, use_colnames=False, max_len=max_len)
    fpgrowth_s = time.perf_counter() - start
    out = []
    for support, itemset in zip(result["support"].to_numpy(), result["itemsets"]):
        ids = tuple(sorted(int(products[columns[i]]) for i in itemset))
        out.append((ids, int(round(support * n))))
    return out, fpgrowth_s


def mine_apriori(transactions, min_support, max_len):
    """(itemsets as tuples of product ids, counts), mined by efficient-apriori."""
    from efficient_apriori.itemsets import itemsets_from_transactions

    itemsets, _ = itemsets_from_transactions(
        transactions, min_support=min_support, max_length=max_len if max_len else 1_000_000
    )
    return [(tuple(sorted(s)), int(c)) for by_len in itemsets.values() for s, c in by_len.items()]


def write_canonical(path, itemsets):
    lines = sorted(itemsets, key=lambda sc: (len(sc[0]), sc[0]))
    with open(path, "w") as out:
        for ids, count in lines:
            out.write(" ".join(map(str, ids)) + "\t" + str(count) + "\n")


def read_canonical(path):
    sets = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            ids, count = line.rstrip("\n").split("\t")
            key = tuple(sorted(int(x) for x in ids.split()))
            if key in sets:
                raise SystemExit(f"{path}:{number}: itemset {key} listed twice")
            sets[key] = int(count)
    return sets


def compare(a_path, b_path):
    a, b = read_canonical(a_path), read_canonical(b_path)
    only_a = sorted(set(a) - set(b), key=lambda s: (len(s), s))
    only_b = sorted(set(b) - set(a), key=lambda s: (len(s), s))
    differ = sorted((s for s in set(a) & set(b) if a[s] != b[s]), key=lambda s: (len(s), s))
    by_len = {}
    for s in a:
        by_len[len(s)] = by_len.get(len(s), 0) + 1
    print(f"{a_path}: {len(a)} itemsets; {b_path}: {len(b)} itemsets")
    print(f"by length (first file): {dict(sorted(by_len.items()))}")
    print(f"only in the first: {len(only_a)}; only in the second: {len(only_b)}; same itemset, different count: {len(differ)}")
    for s in only_a[:10]:
        print(f"  only in the first: {s} {a[s]}")
    for s in only_b[:10]:
        print(f"  only in the second: {s} {b[s]}")
    for s in differ[:10]:
        print(f"  count differs: {s} {a[s]} vs {b[s]}")
    same = not (only_a or only_b or differ)
    print("IDENTICAL" if same else "DIFFERENT")
    return 0 if same else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    mine = commands.add_parser("mine", help="mine and write the canonical itemsets")
    mine.add_argument("--engine", choices=["mlxtend", "apriori"], default="mlxtend")
    mine.add_argument("--data", default="../shared/data/instacart/order_products__train.csv")
    mine.add_argument("--min-support", default="0.001,0.0005", help="comma-separated fractions of baskets")
    mine.add_argument("--max-len", type=int, default=None)
    mine.add_argument("--runs", type=int, default=3)
    mine.add_argument("--out-dir", default="target/fbt-bench")
    mine.add_argument("--no-prefilter", action="store_true", help="mlxtend: pass every product column")
    cmp = commands.add_parser("compare", help="compare two canonical files")
    cmp.add_argument("a")
    cmp.add_argument("b")
    args = parser.parse_args()

    if args.command == "compare":
        return compare(args.a, args.b)

    import mlxtend
    import efficient_apriori
    import pandas
    import numpy
    import scipy

    print(
        f"python {sys.version.split()[0]}, mlxtend {mlxtend.__version__}, efficient-apriori "
        f"{getattr(efficient_apriori, '__version__', '?')}, pandas {pandas.__version__}, "
        f"numpy {numpy.__version__}, scipy {scipy.__version__}"
    )
    start = time.perf_counter()
    matrix, products, lines = load(args.data)
    transactions = None
    if args.engine == "apriori":
        indptr, indices = matrix.indptr, matrix.indices
        transactions = [tuple(int(products[j]) for j in indices[indptr[i] : indptr[i + 1]]) for i in range(matrix.shape[0])]
    load_s = time.perf_counter() - start
    print(f"loaded {lines} lines, {matrix.shape[0]} baskets, {matrix.shape[1]} products in {load_s:.3f} s")
    os.makedirs(args.out_dir, exist_ok=True)
    warnings.simplefilter("ignore", DeprecationWarning)
    for text in args.min_support.split(","):
        min_support = float(text)
        times = []
        inner = []
        itemsets = []
        for _ in range(max(1, args.runs)):
            start = time.perf_counter()
            if args.engine == "mlxtend":
                itemsets, fpgrowth_s = mine_mlxtend(matrix, products, min_support, args.max_len, not args.no_prefilter)
                inner.append(fpgrowth_s)
            else:
                itemsets = mine_apriori(transactions, min_support, args.max_len)
            times.append(time.perf_counter() - start)
        path = os.path.join(args.out_dir, f"{args.engine}_{text.strip()}.tsv")
        write_canonical(path, itemsets)
        by_len = {}
        for ids, _ in itemsets:
            by_len[len(ids)] = by_len.get(len(ids), 0) + 1
        min_count = math.ceil(min_support * matrix.shape[0])
        print(
            f"{args.engine} min_support {text.strip()} (count >= {min_count}): {len(itemsets)} itemsets "
            f"(by length {dict(sorted(by_len.items()))}); mining median {statistics.median(times):.3f} s "
            f"over {len(times)} runs [{', '.join(f'{t:.3f}' for t in times)}] s; written to {path}"
        )
        if inner:
            print(
                f"  of which the fpgrowth call alone: median {statistics.median(inner):.3f} s "
                f"[{', '.join(f'{t:.3f}' for t in inner)}] s (the rest: prefilter, DataFrame, result conversion)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
