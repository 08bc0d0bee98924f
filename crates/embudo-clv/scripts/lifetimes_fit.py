# Pins that make lifetimes 0.11.3 run on Python 3.11 (numpy 1.26.4, pandas 1.5.3, scipy 1.11.4,
# autograd 1.9.1 when measured):
#   python3 -m venv /tmp/lifetimes-env
#   /tmp/lifetimes-env/bin/pip install "lifetimes==0.11.3" "numpy<2" "pandas<2" "scipy<1.12" autograd
"""The peer of embudo-clv's fit: BG/NBD and Gamma-Gamma fitted by the Python package lifetimes.

lifetimes 0.11.3 predates numpy 2, pandas 2 and scipy 1.12; on Python 3.11 it runs with:

    python3 -m venv lifetimes-env
    lifetimes-env/bin/pip install "lifetimes==0.11.3" "numpy<2" "pandas<2" "scipy<1.12" autograd

(which resolved to numpy 1.26.4, pandas 1.5.3, scipy 1.11.4, autograd 1.9.1).

Usage: python lifetimes_fit.py DATA [--calibration-end YYYY-MM-DD] [--summary RUST.csv] [--runs N]
  DATA: a CDNOW file, whitespace-separated, `customer_id date(YYYYMMDD) number_of_cds
        dollar_value` with a header line (CDNOW_master.txt) or `customer_id sample_id date
        number_of_cds dollar_value` without one (CDNOW_sample.txt, the customer is sample_id).
  --summary: the summary embudo-clv computed (customer,frequency,recency,T,monetary_value), to
        check that both sides fit identical input.

The summary is built by lifetimes' own `summary_data_from_transaction_data` with embudo-clv's
conventions: purchases grouped per customer per day (values summed), frequency = repeat purchase
days, recency and T in weeks (days / 7) from the first purchase, T to the calibration end
inclusive of its day's purchases, monetary value = mean value of the repeat purchase days.
Gamma-Gamma is fitted to the customers with frequency > 0 and monetary value > 0.

Prints one JSON line: the parameters, the BG/NBD log-likelihood, the fit times (median over the
runs; BG/NBD and Gamma-Gamma separately and together; and, for reference, BG/NBD fitted on the
data grouped by identical (frequency, recency, T) with lifetimes' `weights`), and the total time
of one pass (read, summarise, fit).
"""
import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd

import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data


def read(path):
    with open(path) as f:
        first = f.readline().split()
    header = not first[0].isdigit()
    columns = len(first)
    names = (
        ["customer", "date", "cds", "value"]
        if columns == 4
        else ["customer_id", "customer", "date", "cds", "value"]
    )
    df = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        skiprows=1 if header else 0,
        names=names,
        dtype={"customer": np.int64, "date": str, "value": np.float64},
    )
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df[["customer", "date", "value"]]


def summarize(tx, calibration_end):
    s = summary_data_from_transaction_data(
        tx,
        "customer",
        "date",
        monetary_value_col="value",
        observation_period_end=calibration_end,
        freq="D",
        freq_multiplier=7,
    )
    s.index = s.index.astype(np.int64)
    return s.sort_index()


def compare(ours, path):
    rust = pd.read_csv(path, index_col="customer").sort_index()
    rust["monetary_value"] = rust["monetary_value"].fillna(0.0)
    same_customers = list(rust.index) == list(ours.index)
    if not same_customers:
        return {"identical_customers": False}
    diff = {
        col: float((ours[col] - rust[col]).abs().max())
        for col in ["frequency", "recency", "T", "monetary_value"]
    }
    return {
        "identical_customers": True,
        "max_abs_difference": diff,
        "matches": all(v < 1e-9 for v in diff.values()),
    }


def fit(s):
    t0 = time.perf_counter()
    bgf = BetaGeoFitter()
    bgf.fit(s["frequency"], s["recency"], s["T"])
    t1 = time.perf_counter()
    rep = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
    ggf = GammaGammaFitter()
    ggf.fit(rep["frequency"], rep["monetary_value"])
    t2 = time.perf_counter()
    return bgf, ggf, t1 - t0, t2 - t1


def fit_grouped(s):
    g = s.groupby(["frequency", "recency", "T"]).size().reset_index(name="weights")
    t0 = time.perf_counter()
    bgf = BetaGeoFitter()
    bgf.fit(g["frequency"], g["recency"], g["T"], weights=g["weights"])
    return bgf, time.perf_counter() - t0, len(g)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--calibration-end", default="1997-09-30")
    ap.add_argument("--summary")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    t_total = time.perf_counter()
    tx = read(args.data)
    s = summarize(tx, args.calibration_end)
    bgf, ggf, t_bg, t_gg = fit(s)
    total = time.perf_counter() - t_total

    bg_times, gg_times, both_times = [t_bg], [t_gg], [t_bg + t_gg]
    for _ in range(args.runs - 1):
        _, _, t_bg, t_gg = fit(s)
        bg_times.append(t_bg)
        gg_times.append(t_gg)
        both_times.append(t_bg + t_gg)
    grouped_times = []
    for _ in range(args.runs):
        bgf_grouped, t, groups = fit_grouped(s)
        grouped_times.append(t)

    p = bgf.params_
    n = len(s)
    log_params = np.log([p["r"], p["alpha"], p["a"], p["b"]])
    nll = BetaGeoFitter._negative_log_likelihood(
        log_params,
        s["frequency"].values,
        s["recency"].values,
        s["T"].values,
        np.ones(n),
        0.0,
    )
    out = {
        "lifetimes": lifetimes.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "customers": n,
        "gamma_gamma_customers": int(((s["frequency"] > 0) & (s["monetary_value"] > 0)).sum()),
        "bgnbd": {
            "r": float(p["r"]),
            "alpha": float(p["alpha"]),
            "a": float(p["a"]),
            "b": float(p["b"]),
            "log_likelihood": float(-nll * n),
        },
        "gamma_gamma": {
            "p": float(ggf.params_["p"]),
            "q": float(ggf.params_["q"]),
            "gamma": float(ggf.params_["v"]),
        },
        "bgnbd_grouped": {k: float(bgf_grouped.params_[k]) for k in ["r", "alpha", "a", "b"]},
        "runs": args.runs,
        "fit_seconds": statistics.median(both_times),
        "bgnbd_fit_seconds": statistics.median(bg_times),
        "gamma_gamma_fit_seconds": statistics.median(gg_times),
        "bgnbd_grouped_fit_seconds": statistics.median(grouped_times),
        "groups": groups,
        "total_seconds": total,
    }
    if args.summary:
        out["summary_check"] = compare(s, args.summary)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
