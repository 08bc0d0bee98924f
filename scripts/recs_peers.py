#!/usr/bin/env python3
"""Peer recommenders on the Online Retail II file, measured the way `embudo recs eval` measures.

This script gives Embudo's recommendation engine honest reference numbers: it trains
well-known recommenders (popularity, EASE^R, and the `implicit` package's ALS and BM25
item-kNN) on the same customers, products and orders that `embudo import online-retail`
puts in Embudo's store, and scores them with the same protocol and metrics as
`embudo recs eval`. It scores files written by `embudo recs export` too, so that Embudo's own
recommendations are judged by exactly the same code as the peers'.

Set-up (from the repository root; the versions are pinned in the requirements file)::

    python3 -m venv /tmp/recs-env
    /tmp/recs-env/bin/pip install -r scripts/recs_peers_requirements.txt
    /tmp/recs-env/bin/python scripts/recs_peers.py                      # the peers
    /tmp/recs-env/bin/python scripts/recs_peers.py --filter-bought both  # both rankings
    /tmp/recs-env/bin/python scripts/recs_peers.py --export recs.csv --json

Usage::

    recs_peers.py [--data PATH] [--cutoff DATE] [--horizon DAYS] [--filter-bought no|yes|both]
                  [--recall capped|truth] [--export FILE ...] [--no-peers] [--buy-again]
                  [--json] [--seed N] [--als-seeds N] [model options]

`--data` defaults to `../shared/data/online_retail_ii/online_retail_II_2009_2010.csv`,
relative to the working directory: run it from the repository root or pass the path.

With its defaults (cutoff 2010-09-01, test window to the end of the file, unfiltered rankings,
recall over min(20, |truth|)), the script reproduces the peer figures quoted in Embudo's
recommendation issue: popularity 0.119 / 0.131 (Recall@20 / NDCG@20), EASE^R 0.289 / 0.295,
ALS 0.311 / 0.320 (0.311 / 0.320 on average over ten seeds, ±0.001; quoted 0.312 / 0.321)
and BM25 item-kNN 0.315 / 0.328 (quoted 0.315 / 0.329).

Data: the import rules
======================
The file is read with the rules of `embudo import online-retail` (docs/import.md), so the
customers and products here are exactly those of Embudo's store after the import:

* Rows are CSV, decoded as UTF-8 (invalid bytes replaced); a row with another number of
  fields than the header is skipped. Both UCI header layouts are recognised.
* An invoice made of digits only is an order with that id; `C...` is a cancellation (a refund,
  not an order: it adds nothing here); `A...` (bad debt) and any other shape are skipped.
* A line is skipped when its price does not parse or is <= 0, when its quantity is not a
  whole number, is 0 or is negative, when its date does not parse, or when its stock code is
  blank.
* Times have no zone in the file; like the importer by default, they are read as UTC. An
  order is placed at the earliest time among its kept lines.
* The customer id is the `Customer ID` field trimmed, a float suffix removed (`13085.0` ->
  `13085`): the plain number, without prefix. An order's customer is the first non-empty
  customer id among its kept lines; an order without one is a guest order.
* A stock code starting with five ASCII digits is a product, its id the code exactly as written
  (not trimmed: `47503J` and `47503J ` are two products). Other codes (postage, fees,
  discounts, manual adjustments...) are not products.
* The catalogue is every product on a kept order line (guest orders and orders after the
  cutoff included), in order of first appearance. On the 2009-2010 file: 20,951 orders (1,738
  guest orders), 4,312 customers with orders and 4,213 products, the figures of
  docs/import.md; the script warns if its counts on that file differ.

Protocol
========
* Cutoff: a date, meaning midnight UTC. Training data: the orders placed strictly before it
  that have a customer (a guest order belongs to nobody).
* Confidence matrix C (customers x products): C[u, i] = number of training orders of customer
  u containing product i (a product repeated on one order counts once; quantities are
  ignored). Rows: customers with a product in a training order (3,299 for 2010-09-01).
* Test window: from the cutoff to the end of the file (the default; the 2009-2010 file ends on
  2010-12-09), or to cutoff + `--horizon` days, exclusive.
* Test users: customers with a product in a training order and a product in an order placed in
  the test window (1,989 for 2010-09-01 to the end).
* Truth of a test user: the distinct products of their orders in the test window, including
  products they had bought before the cutoff (about 30% of the truth, on average).
* Rankings: each model ranks the full catalogue for each test user (no sampled negatives) and
  keeps the top 20. By default (`--filter-bought no`) nothing is removed. With `yes`, the
  products of the user's training orders are removed first (implicit's
  `filter_already_liked_items=True`); they stay in the truth, so for a filtered ranking they
  are misses. Ties are broken by catalogue position for the models computed here; `implicit`
  breaks its own.

Metrics
-------
Averages over the test users. With L a user's top-20 list (distinct products, best first), T
their truth, and hit(r) = 1 when L[r] is in T (ranks from 1):

* Recall@20 = |L ∩ T| / min(20, |T|) (`--recall capped`, the default; the best possible list
  scores 1). `--recall truth` divides by |T| instead; the JSON output always has both.
* NDCG@20 = DCG / IDCG, with DCG = Σ_{r<=|L|} hit(r) / log2(r + 1) and
  IDCG = Σ_{r<=min(20,|T|)} 1 / log2(r + 1).
* HR@10 = share of test users with a product of T among L[1..10].
* Coverage = distinct products in the test users' top 20s / products in the catalogue.

A list may be shorter than 20 (BM25 scores only neighbours of the user's products; an
export may hold fewer rows): missing ranks are misses. The JSON counts such lists
(`short_lists`).

Models
======
All are trained on C. The defaults are the settings that reproduce the issue's figures.

* popularity: one list for everybody, products by number of distinct training buyers
  (`--popularity buyers`) or of training orders (`orders`).
* EASE^R (Steck 2019), numpy closed form: G = XᵀX + λI, P = G⁻¹, B[i, j] = -P[i, j] / P[j, j],
  diag(B) = 0; scores = X B. X is C made binary (bought before or not; `--ease-input binary`,
  λ = 200) by default: on the counts (`--ease-input counts`) no λ reproduces the quoted
  figures.
* ALS: `implicit.als.AlternatingLeastSquares`, 128 factors and implicit's defaults
  (regularization 0.01, alpha 1, 15 iterations), seeded (`--seed`); `--als-seeds N` averages N
  seeds.
* BM25 item-kNN: `implicit.nearest_neighbours.BM25Recommender`, K = 128 neighbours per
  product, K1 = 1.2, B = 0.75 (implicit's defaults but K, whose default of 20 gives 0.306 /
  0.314).
* `--buy-again` adds a yardstick that is no peer: the user's own products first (most orders
  first), then the most popular others; unfiltered tables only.

Export files
============
`--export FILE` (repeatable) reads a CSV with the header `customer_id,rank,product_id,score`
(as written by `embudo recs export --k 20 --format csv`). A test user's list is their rows
sorted by rank, the first 20 distinct products. Ids are compared exactly as written. Rows of
customers who are not test users are ignored; a test user without rows has an empty list
(zero hits). Unknown products are kept (they never hit) and counted. Exports are evaluated as
they are, whatever `--filter-bought` says.

Output: a table per filtering mode, or one JSON object with `--json`. Timings are wall-clock
seconds for fitting a model and for ranking the test users.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import scipy.sparse as sp

DEFAULT_DATA = "../shared/data/online_retail_ii/online_retail_II_2009_2010.csv"
K = 20  # list length for Recall, NDCG and coverage
HR_K = 10  # list length for the hit rate

# The published figures of the import on the 2009-2010 file (docs/import.md), checked when
# that file is read: (orders, guest orders, customers with orders, products).
KNOWN_COUNTS = {"online_retail_II_2009_2010.csv": (20_951, 1_738, 4_312, 4_213)}


# ---------------------------------------------------------------------------------------------
# Reading the file with Embudo's import rules
# ---------------------------------------------------------------------------------------------

# The two header layouts of the UCI files (Online Retail, Online Retail II).
LAYOUTS = (
    ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
     "CustomerID", "Country"),
    ("Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
     "Customer ID", "Country"),
)

# Local date-time layouts, tried in order (then a bare date, at midnight).
DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
)

QUANTITY = re.compile(r"[+-]?[0-9]+(?:\.0+)?")
DECIMAL = re.compile(r"[+-]?([0-9]*)(?:\.([0-9]*))?(?:[eE][+-]?[0-9]+)?")
MAX_ID_BYTES = 255


def norm_header(name: str) -> str:
    """A header name reduced to what matters: lower case, no spaces, `_`, `-`, tabs or BOM."""
    name = name.lstrip("\ufeff")
    return "".join(c for c in name if c not in " _-\t").lower()


def valid_id(value: str) -> bool:
    """Embudo's id rule: not blank, at most 255 bytes, no control characters."""
    return (
        value.strip() != ""
        and len(value.encode("utf-8")) <= MAX_ID_BYTES
        and not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value)
    )


def parse_time(text: str) -> datetime | None:
    """A local time without zone (read as UTC), or None when no layout matches."""
    text = text.strip()
    for layout in DATE_FORMATS:
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            pass
    try:
        return datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return None


def price_is_usable(text: str) -> bool:
    """Whether a unit price parses as a decimal and is above zero (judged on its digits)."""
    text = text.strip()
    m = DECIMAL.fullmatch(text)
    if not m or (m.group(1) == "" and not m.group(2)):
        return False
    mantissa = re.split("[eE]", text)[0]
    return not text.startswith("-") and any(c in "123456789" for c in mantissa)


def strip_float_suffix(text: str) -> str:
    """`17850.0` -> `17850`, as spreadsheets write ids; anything else unchanged."""
    whole, dot, frac = text.partition(".")
    if dot and whole and whole.isascii() and whole.isdigit() and set(frac) <= {"0"}:
        return whole
    return text


def is_product_code(code: str) -> bool:
    """A stock code starting with five ASCII digits is a product."""
    return len(code) >= 5 and all("0" <= c <= "9" for c in code[:5])


@dataclass
class Order:
    """One order, as Embudo's store holds it (only what recommenders use)."""

    id: str
    customer: str | None
    placed_at: datetime  # UTC, naive
    products: set[str] = field(default_factory=set)


@dataclass
class Shop:
    """The orders of a file and its catalogue (product ids in order of first sight)."""

    orders: list[Order]
    products: list[str]


def read_online_retail(path: str) -> Shop:
    """Reads an Online Retail (II) CSV file with the rules of `embudo import online-retail`."""
    orders: dict[str, Order] = {}
    products: dict[str, None] = {}  # ordered set
    dates: dict[str, datetime | None] = {}
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = csv.reader(f)
        header = next(rows, [])
        names = [norm_header(h) for h in header]
        for layout in LAYOUTS:
            wanted = [norm_header(n) for n in layout]
            if all(w in names for w in wanted):
                inv, code_col, _, qty_col, date_col, price_col, cust_col, _ = (
                    names.index(w) for w in wanted
                )
                break
        else:
            raise SystemExit(f"{path}: header {','.join(header)!r} is no Online Retail layout")
        for row in rows:
            if len(row) != len(header):
                continue
            invoice = row[inv].strip()
            if not (invoice.isascii() and invoice.isdigit()):
                continue  # cancellations (refunds), bad debt, other shapes: not orders
            code = row[code_col]  # exactly as written
            if code.strip() == "":
                continue
            quantity = row[qty_col].strip()
            if not QUANTITY.fullmatch(quantity) or int(quantity.split(".")[0]) <= 0:
                continue
            if not price_is_usable(row[price_col]):
                continue
            date_text = row[date_col]
            if date_text not in dates:
                dates[date_text] = parse_time(date_text)
            at = dates[date_text]
            if at is None:
                continue
            customer = strip_float_suffix(row[cust_col].strip()) or None
            if customer is not None and not valid_id(customer):
                continue
            product = is_product_code(code)
            if product and not valid_id(code):
                continue
            order = orders.get(invoice)
            if order is None:
                order = orders[invoice] = Order(invoice, customer, at)
            order.placed_at = min(order.placed_at, at)
            if order.customer is None:
                order.customer = customer
            if product:
                order.products.add(code)
                products.setdefault(code)
    return Shop(list(orders.values()), list(products))


# ---------------------------------------------------------------------------------------------
# The evaluation set-up
# ---------------------------------------------------------------------------------------------


@dataclass
class Split:
    """Training matrix, test users and their truth, for one cutoff and horizon."""

    products: list[str]  # the catalogue; column j of `confidence` is products[j]
    customers: list[str]  # row u of `confidence` is customers[u]
    confidence: sp.csr_matrix  # float32, orders containing the product
    test_rows: np.ndarray  # rows of the test users in `confidence`
    truth: list[np.ndarray]  # per test user, sorted product indices
    window: tuple[datetime, datetime | None]
    train_orders: int
    test_orders: int


def split(shop: Shop, cutoff: datetime, horizon_days: int | None) -> Split:
    """Training matrix before `cutoff`; test users and truth in [cutoff, cutoff + horizon)."""
    end = cutoff + timedelta(days=horizon_days) if horizon_days is not None else None
    index = {p: j for j, p in enumerate(shop.products)}
    train: dict[str, dict[int, int]] = {}
    after: dict[str, set[int]] = {}
    train_orders = test_orders = 0
    for order in shop.orders:
        if order.customer is None or not order.products:
            continue
        if order.placed_at < cutoff:
            train_orders += 1
            counts = train.setdefault(order.customer, {})
            for p in order.products:
                counts[index[p]] = counts.get(index[p], 0) + 1
        elif end is None or order.placed_at < end:
            test_orders += 1
            after.setdefault(order.customer, set()).update(index[p] for p in order.products)
    customers = sorted(train)
    rows, cols, vals = [], [], []
    for u, c in enumerate(customers):
        for j, n in train[c].items():
            rows.append(u)
            cols.append(j)
            vals.append(n)
    confidence = sp.csr_matrix(
        (np.asarray(vals, np.float32), (rows, cols)),
        shape=(len(customers), len(shop.products)),
    )
    confidence.sort_indices()
    test = [u for u, c in enumerate(customers) if c in after]
    truth = [np.array(sorted(after[customers[u]]), dtype=np.int64) for u in test]
    return Split(
        products=shop.products,
        customers=customers,
        confidence=confidence,
        test_rows=np.asarray(test, dtype=np.int64),
        truth=truth,
        window=(cutoff, end),
        train_orders=train_orders,
        test_orders=test_orders,
    )


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

DISCOUNT = 1.0 / np.log2(np.arange(2, K + 2))  # 1 / log2(r + 1) for ranks r = 1..K


def evaluate(lists: list[list[int]], truth: list[np.ndarray], n_products: int,
             recall: str = "capped") -> dict[str, float]:
    """Recall@20, NDCG@20, HR@10 and catalogue coverage of top lists against the truth.

    `lists[k]` is test user k's ranking (product indices, best first; indices >= n_products
    are products unknown to the catalogue, which never hit). See the module docstring for the
    definitions.
    """
    over_truth, over_capped, ndcgs, hits10 = [], [], [], []
    shown: set[int] = set()
    short = 0
    for ranking, t in zip(lists, truth):
        top = ranking[:K]
        short += len(top) < K
        shown.update(i for i in top if i < n_products)
        hit = np.isin(np.asarray(top, dtype=np.int64), t)
        n_hits = int(hit.sum())
        over_truth.append(n_hits / len(t))
        over_capped.append(n_hits / min(K, len(t)))
        dcg = float(DISCOUNT[: len(top)][hit].sum())
        idcg = float(DISCOUNT[: min(K, len(t))].sum())
        ndcgs.append(dcg / idcg)
        hits10.append(float(hit[:HR_K].any()))

    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if values else 0.0

    return {
        "recall@20": mean(over_capped if recall == "capped" else over_truth),
        "ndcg@20": mean(ndcgs),
        "hr@10": mean(hits10),
        "coverage": len(shown) / n_products,
        "users": len(truth),
        "recall@20_over_min20_truth": mean(over_capped),
        "recall@20_over_truth": mean(over_truth),
        "short_lists": short,
    }


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def top_k(scores: np.ndarray, exclude: sp.csr_matrix | None, k: int = K) -> list[list[int]]:
    """Rows of `scores` ranked (best first, ties by lower index), `exclude`'s nonzeros removed."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        r, c = exclude.nonzero()
        scores[r, c] = -np.inf
    # A stable sort of the negated scores keeps lower indices first among equal scores.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    out = []
    for row, idx in zip(scores, order):
        out.append([int(i) for i in idx if row[i] != -np.inf])
    return out


def rank_popularity(x: sp.csr_matrix, users: np.ndarray, filtered: bool,
                    by: str = "buyers", batch: int = 512) -> list[list[int]]:
    """Most popular products first: distinct buyers (`buyers`) or orders (`orders`)."""
    if by == "buyers":
        pop = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)
    else:
        pop = np.asarray(x.sum(axis=0)).ravel().astype(np.float64)
    out = []
    for s in range(0, len(users), batch):
        rows = users[s: s + batch]
        scores = np.broadcast_to(pop, (len(rows), x.shape[1]))
        out += top_k(scores, x[rows] if filtered else None)
    return out


def rank_buy_again(x: sp.csr_matrix, users: np.ndarray, batch: int = 512) -> list[list[int]]:
    """The user's own products first (most orders first), then the most popular others.

    Ties among the user's products go to the more popular (by buyers), then to the lower
    catalogue position. Not a peer: a yardstick for how much repeat purchases weigh.
    """
    pop = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)
    out = []
    for s in range(0, len(users), batch):
        rows = users[s: s + batch]
        own = x[rows].toarray().astype(np.float64)
        out += top_k(own * (pop.max() + 1.0) + pop, None)
    return out


def fit_ease(x: sp.csr_matrix, lam: float, binary: bool = False) -> np.ndarray:
    """EASE^R's item-item weights B = I - P / diag(P), P = (XᵀX + λI)⁻¹ (diag(B) = 0)."""
    if binary:
        x = x.copy()
        x.data[:] = 1.0
    g = (x.T @ x).toarray().astype(np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[np.newaxis, :]
    b[np.diag_indices_from(b)] = 0.0
    return b


def rank_ease(b: np.ndarray, x: sp.csr_matrix, users: np.ndarray, filtered: bool,
              binary: bool = False, batch: int = 512) -> list[list[int]]:
    """Scores X[u] B for each test user, ranked."""
    if binary:
        x = x.copy()
        x.data[:] = 1.0
    out = []
    for s in range(0, len(users), batch):
        rows = users[s: s + batch]
        out += top_k(x[rows] @ b, x[rows] if filtered else None)
    return out


def implicit_lists(model, x: sp.csr_matrix, users: np.ndarray, filtered: bool) -> list[list[int]]:
    """Top-20 lists from an `implicit` model's `recommend` (it ranks the whole catalogue)."""
    ids, scores = model.recommend(users, x[users], N=K, filter_already_liked_items=filtered)
    out = []
    for row_ids, row_scores in zip(ids, scores):
        # implicit pads short lists (BM25's) with id -1 and score -max(float32).
        keep = (row_ids >= 0) & (row_scores > -np.finfo(np.float32).max)
        out.append([int(i) for i in row_ids[keep]])
    return out


def fit_als(x: sp.csr_matrix, factors: int, regularization: float, alpha: float,
            iterations: int, seed: int):
    """implicit's ALS on the confidence matrix, single-threaded BLAS as implicit advises."""
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=seed,
        )
        model.fit(x, show_progress=False)
    return model


def fit_bm25(x: sp.csr_matrix, k: int, k1: float, b: float):
    """implicit's BM25 item-kNN on the confidence matrix."""
    from implicit.nearest_neighbours import BM25Recommender

    model = BM25Recommender(K=k, K1=k1, B=b)
    model.fit(x, show_progress=False)
    return model


# ---------------------------------------------------------------------------------------------
# Export files
# ---------------------------------------------------------------------------------------------


def read_export(path: str, data: Split) -> tuple[list[list[int]], dict[str, int]]:
    """Test users' top lists from a `customer_id,rank,product_id,score` CSV, and counts."""
    index = {p: j for j, p in enumerate(data.products)}
    unknown: dict[str, int] = {}
    test_customers = {data.customers[u] for u in data.test_rows}
    rows: dict[str, list[tuple[float, int, str]]] = {}
    stats = {"rows": 0, "customers": 0, "test_users_present": 0, "unknown_product_rows": 0,
             "duplicate_product_rows": 0}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"customer_id", "rank", "product_id"} - set(reader.fieldnames or [])
        if missing:
            raise SystemExit(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        seen_customers = set()
        for n, r in enumerate(reader):
            stats["rows"] += 1
            customer = r["customer_id"]
            seen_customers.add(customer)
            if customer not in test_customers:
                continue
            try:
                rank = float(r["rank"])
            except (TypeError, ValueError):
                raise SystemExit(f"{path}: row {n + 2}: rank {r['rank']!r} is not a number")
            rows.setdefault(customer, []).append((rank, n, r["product_id"]))
        stats["customers"] = len(seen_customers)
    lists = []
    for u in data.test_rows:
        ranked = sorted(rows.get(data.customers[u], []))
        stats["test_users_present"] += bool(ranked)
        top: list[int] = []
        for _, _, product in ranked:
            if len(top) == K:
                break
            j = index.get(product)
            if j is None:
                stats["unknown_product_rows"] += 1
                j = unknown.setdefault(product, len(data.products) + len(unknown))
            if j in top:
                stats["duplicate_product_rows"] += 1
                continue
            top.append(j)
        lists.append(top)
    return lists, stats


# ---------------------------------------------------------------------------------------------
# Running it all
# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Peer recommenders (popularity, EASE^R, implicit ALS and BM25 item-kNN) and "
        "Embudo exports on Online Retail II, under `embudo recs eval`'s protocol. The defaults "
        "reproduce the peer figures quoted in Embudo's recommendation issue.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--data", default=DEFAULT_DATA, help="the Online Retail (II) CSV file")
    ap.add_argument("--cutoff", default="2010-09-01", help="train before this date (UTC)")
    ap.add_argument("--horizon", default=None,
                    help="test window length in days (`90` or `90d`); none: to the end of the file")
    ap.add_argument("--filter-bought", choices=("yes", "no", "both"), default="no",
                    help="remove products the user bought before the cutoff from the rankings")
    ap.add_argument("--recall", choices=("capped", "truth"), default="capped",
                    help="Recall@20 denominator: min(20, |truth|) or |truth|")
    ap.add_argument("--export", action="append", default=[], metavar="FILE",
                    help="a `customer_id,rank,product_id,score` CSV to evaluate (repeatable)")
    ap.add_argument("--no-peers", action="store_true", help="evaluate the exports only")
    ap.add_argument("--buy-again", action="store_true",
                    help="add the buy-again yardstick (own products first) to unfiltered tables")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--seed", type=int, default=42, help="random seed (ALS)")
    ap.add_argument("--als-seeds", type=int, default=1, metavar="N",
                    help="fit ALS with seeds seed, seed+1, ... seed+N-1 and report the means "
                    "(and standard deviations in JSON)")
    m = ap.add_argument_group("models")
    m.add_argument("--popularity", choices=("buyers", "orders"), default="buyers",
                   help="popularity by distinct buyers or by orders")
    m.add_argument("--ease-lambda", type=float, default=200.0, help="EASE^R's λ")
    m.add_argument("--ease-input", choices=("binary", "counts"), default="binary",
                   help="EASE^R on the 0/1 matrix (bought or not) or on the confidence counts")
    m.add_argument("--als-factors", type=int, default=128)
    m.add_argument("--als-regularization", type=float, default=0.01)
    m.add_argument("--als-alpha", type=float, default=1.0)
    m.add_argument("--als-iterations", type=int, default=15)
    m.add_argument("--bm25-k", type=int, default=128, help="neighbours kept per product")
    m.add_argument("--bm25-k1", type=float, default=1.2)
    m.add_argument("--bm25-b", type=float, default=0.75)
    return ap.parse_args(argv)


def parse_horizon(text: str | None) -> int | None:
    """`90`, `90d` -> 90; nothing (or `all`) -> None: the test window runs to the end."""
    if text is None or text.strip().lower() in ("", "none", "all"):
        return None
    text = text.strip().lower()
    try:
        days = int(text[:-1] if text.endswith("d") else text)
    except ValueError:
        raise SystemExit(f"--horizon must be a number of days (`90` or `90d`), got {text!r}")
    if days <= 0:
        raise SystemExit("--horizon must be a positive number of days")
    return days


METRICS = ("recall@20", "ndcg@20", "hr@10", "coverage", "recall@20_over_min20_truth",
           "recall@20_over_truth", "short_lists")


def run_peers(data: Split, args: argparse.Namespace, filtered: bool) -> list[dict]:
    """Fits and ranks every peer for one filtering mode; returns their result rows."""
    x, users = data.confidence, data.test_rows
    n = len(data.products)
    results = []

    def record(name: str, params: dict, fit_s: float, lists: list[list[int]], rank_s: float):
        results.append({"model": name, "params": params,
                        **evaluate(lists, data.truth, n, args.recall),
                        "fit_seconds": round(fit_s, 3), "rank_seconds": round(rank_s, 3)})

    t = time.perf_counter()
    lists = rank_popularity(x, users, filtered, args.popularity)
    record("popularity", {"by": args.popularity}, 0.0, lists, time.perf_counter() - t)

    binary = args.ease_input == "binary"
    t = time.perf_counter()
    b = fit_ease(x, args.ease_lambda, binary)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    lists = rank_ease(b, x, users, filtered, binary)
    record("EASE^R", {"lambda": args.ease_lambda, "input": args.ease_input}, fit_s, lists,
           time.perf_counter() - t)
    del b

    # ALS depends on its random start: with several seeds, every figure is the mean.
    runs = []
    for seed in range(args.seed, args.seed + max(1, args.als_seeds)):
        t = time.perf_counter()
        als = fit_als(x, args.als_factors, args.als_regularization, args.als_alpha,
                      args.als_iterations, seed)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        lists = implicit_lists(als, x, users, filtered)
        rank_s = time.perf_counter() - t
        runs.append({**evaluate(lists, data.truth, n, args.recall), "fit_seconds": fit_s,
                     "rank_seconds": rank_s})
    row = {"model": "implicit ALS",
           "params": {"factors": args.als_factors, "regularization": args.als_regularization,
                      "alpha": args.als_alpha, "iterations": args.als_iterations,
                      "seeds": [args.seed + i for i in range(len(runs))]},
           **{k: float(np.mean([r[k] for r in runs])) for k in METRICS},
           "users": len(users),
           "fit_seconds": round(float(np.mean([r["fit_seconds"] for r in runs])), 3),
           "rank_seconds": round(float(np.mean([r["rank_seconds"] for r in runs])), 3)}
    row["short_lists"] = int(round(row["short_lists"]))
    if len(runs) > 1:
        row["sd"] = {k: float(np.std([r[k] for r in runs])) for k in METRICS[:4]}
    results.append(row)

    t = time.perf_counter()
    bm25 = fit_bm25(x, args.bm25_k, args.bm25_k1, args.bm25_b)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    lists = implicit_lists(bm25, x, users, filtered)
    record("implicit BM25 item-kNN", {"K": args.bm25_k, "K1": args.bm25_k1, "B": args.bm25_b},
           fit_s, lists, time.perf_counter() - t)

    if args.buy_again and not filtered:
        t = time.perf_counter()
        lists = rank_buy_again(x, users)
        record("buy-again (yardstick)", {}, 0.0, lists, time.perf_counter() - t)
    return results


def print_table(title: str, rows: list[dict]) -> None:
    """One filtering mode's results as a text table."""
    print(f"\n{title}")
    header = (f"{'model':<30} {'Recall@20':>9} {'NDCG@20':>8} {'HR@10':>7} {'coverage':>8} "
              f"{'users':>6} {'fit s':>7} {'rank s':>7}")
    print(header)
    print("-" * len(header))
    for r in rows:
        seconds = [f"{r[k]:7.2f}" if r.get(k) is not None else f"{'-':>7}"
                   for k in ("fit_seconds", "rank_seconds")]
        print(f"{r['model'][:30]:<30} {r['recall@20']:9.4f} {r['ndcg@20']:8.4f} "
              f"{r['hr@10']:7.4f} {r['coverage']:8.4f} {r['users']:6d} {' '.join(seconds)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", module="implicit")
    np.random.seed(args.seed)
    horizon = parse_horizon(args.horizon)
    try:
        cutoff = datetime.strptime(args.cutoff, "%Y-%m-%d")
    except ValueError:
        raise SystemExit(f"--cutoff must be a date YYYY-MM-DD, got {args.cutoff!r}")
    if not os.path.exists(args.data):
        raise SystemExit(f"{args.data}: not found (give the Online Retail II CSV with --data)")

    t = time.perf_counter()
    shop = read_online_retail(args.data)
    read_s = time.perf_counter() - t
    customers_with_orders = len({o.customer for o in shop.orders if o.customer is not None})
    counts = (len(shop.orders), sum(o.customer is None for o in shop.orders),
              customers_with_orders, len(shop.products))
    expected = KNOWN_COUNTS.get(os.path.basename(args.data))
    if expected is not None and counts != expected:
        print(f"warning: import counts {counts} differ from docs/import.md's {expected} "
              "(orders, guest orders, customers with orders, products)", file=sys.stderr)
    data = split(shop, cutoff, horizon)
    if not data.truth:
        raise SystemExit("no test users: nobody bought both before and after the cutoff")

    output = {
        "data": os.path.basename(args.data),
        "protocol": {
            "cutoff": cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "test_end": data.window[1].strftime("%Y-%m-%dT%H:%M:%SZ") if data.window[1]
            else None,
            "horizon_days": horizon,
            "recall_denominator": "min(20, |truth|)" if args.recall == "capped" else "|truth|",
            "confidence": "number of training orders containing the product",
            "k": K,
            "hr_k": HR_K,
        },
        "counts": {
            "orders": counts[0], "guest_orders": counts[1],
            "customers_with_orders": counts[2], "products": counts[3],
            "train_orders": data.train_orders, "train_customers": len(data.customers),
            "train_products": int(np.count_nonzero(np.bincount(
                data.confidence.indices, minlength=len(data.products)))),
            "train_interactions": int(data.confidence.nnz),
            "test_orders": data.test_orders, "test_users": len(data.test_rows),
            "mean_truth_size": float(np.mean([len(t) for t in data.truth])),
            "read_seconds": round(read_s, 3),
        },
        "versions": versions(),
        "results": {},
    }
    exports = [(path, *read_export(path, data)) for path in args.export]
    modes = {"yes": [True], "no": [False], "both": [False, True]}[args.filter_bought]
    for filtered in modes:
        rows = [] if args.no_peers else run_peers(data, args, filtered)
        for path, lists, stats in exports:
            rows.append({"model": f"export {os.path.basename(path)}", "file": path,
                         **evaluate(lists, data.truth, len(data.products), args.recall),
                         "fit_seconds": None, "rank_seconds": None, "export": stats})
        output["results"]["filtered" if filtered else "unfiltered"] = rows

    if args.json:
        print(json.dumps(output, indent=2, ensure_ascii=False))
        return 0
    c, p = output["counts"], output["protocol"]
    print(f"{output['data']}: {c['orders']} orders ({c['guest_orders']} guest), "
          f"{c['customers_with_orders']} customers with orders, {c['products']} products")
    print(f"cutoff {p['cutoff']}, test window to {p['test_end'] or 'the end of the file'}")
    print(f"train: {c['train_orders']} orders, {c['train_customers']} customers, "
          f"{c['train_products']} products; test: {c['test_users']} users, mean truth "
          f"{c['mean_truth_size']:.1f} products; recall over {p['recall_denominator']}")
    for key, rows in output["results"].items():
        note = "bought products removed" if key == "filtered" else "bought products kept"
        print_table(f"{key} rankings ({note})", rows)
        for r in rows:
            if "export" in r:
                s = r["export"]
                print(f"  {r['file']}: {s['rows']} rows, {s['customers']} customers, "
                      f"{s['test_users_present']} of {r['users']} test users present, "
                      f"{s['unknown_product_rows']} rows of unknown products")
    return 0


def versions() -> dict[str, str]:
    """Versions of Python and of the packages the numbers depend on."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("implicit", "numpy", "scipy", "threadpoolctl"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "missing"
    return out


if __name__ == "__main__":
    sys.exit(main())
