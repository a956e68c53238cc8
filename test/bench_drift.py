#!/usr/bin/python3
"""Drift over 1M rows × 10 numeric features per side: compare() against
(a) fetching both sides with psycopg2 and computing the same metrics with
numpy/scipy, and (b) numpy/scipy alone on arrays already in memory. The peers
take about a minute a run on 2 shared cores, so they run once; compare() is
the median of three runs after a warm-up."""
import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

from mlops_bench import median_seconds, report
from mlops_test import fresh_database, query

ROWS, FEATURES = 1_000_000, 10
cols = [f"f{i}" for i in range(FEATURES)]
conn = fresh_database("bench_drift", datasets=False)
for table, shift in (("ref", 0.0), ("cur", 0.05)):
    # a mix of shapes: normal, exponential (skewed), rounded (ties)
    exprs = []
    for i in range(FEATURES):
        if i % 3 == 0:
            exprs.append(f"{shift} + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS f{i}")
        elif i % 3 == 1:
            exprs.append(f"{shift} - ln(1 - random()) AS f{i}")
        else:
            exprs.append(f"round(({shift} + 10 * random())::numeric, 1)::float8 AS f{i}")
    query(conn, f"CREATE TABLE {table} AS SELECT {', '.join(exprs)} FROM generate_series(1, {ROWS})")
    query(conn, f"VACUUM ANALYZE {table}")


def metrics(ref, cur):
    """Every numeric metric of compare() for one feature, in numpy/scipy."""
    e = np.unique(np.quantile(ref, np.linspace(0, 1, 11)))
    inner = e[1:-1]
    nbins = max(len(e) - 1, 1)
    r = np.bincount(np.searchsorted(inner, ref), minlength=nbins) / len(ref)
    c = np.bincount(np.searchsorted(inner, cur), minlength=nbins) / len(cur)
    r0, c0 = np.where(r == 0, 1e-4, r), np.where(c == 0, 1e-4, c)
    psi = np.sum((c0 - r0) * np.log(c0 / r0))
    js = jensenshannon(r, c)
    ks = ks_2samp(ref, cur, method="asymp")
    w = wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
    return psi, js, ks.statistic, ks.pvalue, w, 0.0


def fetch(table):
    with conn.cursor() as cur:
        cur.execute(f"SELECT {', '.join(cols)} FROM {table}")
        return np.array(cur.fetchall(), dtype=float)


def ours():
    query(conn, "SELECT count(*) FROM mlops.compare('ref', 'cur')")


arrays = {}


def peer_fetch():
    a, b = fetch("ref"), fetch("cur")
    for i in range(FEATURES):
        metrics(a[:, i], b[:, i])
    arrays["ref"], arrays["cur"] = a, b


def peer_memory():
    ref_arr, cur_arr = arrays["ref"], arrays["cur"]
    for i in range(FEATURES):
        metrics(ref_arr[:, i], cur_arr[:, i])


ours_s = median_seconds(ours, repeat=3, warmup=1)
fetch_s = median_seconds(peer_fetch, repeat=1, warmup=0)      # also leaves the arrays for peer_memory
report(f"compare(), {ROWS // 1000}k rows x {FEATURES} vs psycopg2 fetch + scipy", ours_s, fetch_s, "<= 0.2")
report(f"compare(), {ROWS // 1000}k rows x {FEATURES} vs scipy on in-memory arrays", ours_s,
       median_seconds(peer_memory, repeat=1, warmup=0), "<= 1.0")
