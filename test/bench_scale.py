#!/usr/bin/python3
"""Scale benchmarks on 2M rows × 3 float features: linear_stats (training
statistics) and predict (a linear model) with 0, 1 and 2 parallel workers; and
two postgres_fdw shards (1M rows each, throwaway servers on this machine)
against one server without workers: scoring on the shards through views
(scores fetched to the coordinator, or summed on the shards), and training
statistics pushed down per shard and merged."""
import os
import statistics
import time

from mlops_bench import report
from mlops_test import fresh_database, query, server_connection, start_server, stop_server

ROWS = int(os.environ.get("BENCH_SCALE_ROWS", 2_000_000))
DATA = ("SELECT i AS id, sin(i) AS x1, cos(i * 0.7) AS x2, sin(i * 0.13) AS x3, "
        "1 + 2 * sin(i) - 3 * cos(i * 0.7) + 0.5 * sin(i * 0.13) + 0.1 * sin(i * 13.1) AS y "
        "FROM generate_series({}, {}) i")
STATS = "SELECT mlops.linear_stats(y, ARRAY[x1, x2, x3]) FROM {}"
SCORE = "SELECT sum(mlops.predict('m', ARRAY[x1, x2, x3])) FROM {}"


def workers(conn, n):
    """Lets the next queries use n parallel workers (forced: no setup or tuple costs)."""
    for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0",
                    f"max_parallel_workers_per_gather = {n}"):
        query(conn, "SET " + setting)


conn = fresh_database("bench_scale", datasets=False)
query(conn, f"CREATE TABLE obs AS {DATA.format(1, ROWS)}")
query(conn, "VACUUM ANALYZE obs")
query(conn, "SELECT mlops.train('m', 'SELECT * FROM obs WHERE id <= 100000', 'y', 'linear', "
      "features => '{x1,x2,x3}')")



def interleaved(runs, rounds=5):
    """Median seconds of each named run, the runs taking turns round after round
    (the machine is shared: all of them see the same load); the first round warms up."""
    times = {name: [] for name in runs}
    for r in range(rounds + 1):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            if r > 0:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def with_workers(n, sql):
    """A run of sql with n parallel workers."""
    def run():
        workers(conn, n)
        query(conn, sql)
    return run


for what, sql in (("linear_stats", STATS), ("predict", SCORE)):
    t = interleaved({n: with_workers(n, sql.format("obs")) for n in (0, 1, 2)})
    for n in (0, 1, 2):
        print(f"{what} {ROWS} rows, {n} workers: {t[n]:.3f} s, {ROWS / t[n]:,.0f} rows/s")
    for n in (1, 2):
        report(f"{what} {ROWS // 1000}k rows, {n} workers vs 0", t[n], t[0])
workers(conn, 0)


shard_dirs = []
try:
    for _ in range(2):
        shard_dirs.append(start_server())
    query(conn, "CREATE EXTENSION postgres_fdw")
    query(conn, "CREATE EXTENSION dblink")
    query(conn, "CREATE TABLE readings_scored (id int, score float8) PARTITION BY RANGE (id)")
    query(conn, "CREATE TABLE readings (id int, x1 float8, x2 float8, x3 float8, y float8) PARTITION BY RANGE (id)")
    half = ROWS // 2
    for i, d in enumerate(shard_dirs):
        lo, hi = 1 + i * half, half if i == 0 else ROWS
        shard = server_connection(d)
        query(shard, "CREATE EXTENSION mlops")
        query(shard, f"CREATE TABLE readings AS {DATA.format(lo, hi)}")
        query(shard, "VACUUM ANALYZE readings")
        query(conn, f"""CREATE SERVER shard{i} FOREIGN DATA WRAPPER postgres_fdw
                        OPTIONS (host '{d}', port '5432', dbname 'mlops', extensions 'mlops',
                                 async_capable 'true', fetch_size '10000')""")
        query(conn, f"CREATE USER MAPPING FOR CURRENT_USER SERVER shard{i} OPTIONS (user 'postgres')")
        query(conn, f"SELECT mlops.publish_model('m', 'shard{i}')")
        query(shard, """CREATE VIEW readings_scored AS
                        SELECT id, mlops.predict_version('m', 1, ARRAY[x1, x2, x3]) AS score FROM readings""")
        shard.close()
        for table in ("readings", "readings_scored"):
            query(conn, f"""CREATE FOREIGN TABLE {table}_p{i} PARTITION OF {table}
                            FOR VALUES FROM ({lo}) TO ({hi + 1}) SERVER shard{i} OPTIONS (table_name '{table}')""")
    workers(conn, 0)
    t = interleaved({
        "single": lambda: query(conn, "SELECT sum(mlops.predict_version('m', 1, ARRAY[x1, x2, x3])) FROM obs"),
        # every score fetched to the coordinator, or summed on each shard (pushed down, shards at the same time)
        "fetched": lambda: query(conn, "SELECT sum(score) FROM readings_scored"),
        "summed": lambda: query(conn, "SELECT sum(s) FROM (SELECT sum(score) FROM readings_scored_p0 "
                                      "UNION ALL SELECT sum(score) FROM readings_scored_p1) per_shard(s)"),
        "stats_single": lambda: query(conn, STATS.format("obs")),
        "stats_sharded": lambda: query(conn, "SELECT mlops.linear_stats_merge(s) FROM ("
                                             f"{STATS.format('readings_p0')} UNION ALL "
                                             f"{STATS.format('readings_p1')}) per_shard(s)")}, rounds=3)
    print(f"scoring {ROWS} rows: one server {ROWS / t['single']:,.0f} rows/s, 2 shards "
          f"{ROWS / t['fetched']:,.0f} rows/s (scores fetched), {ROWS / t['summed']:,.0f} rows/s (summed on the shards)")
    report(f"scoring {ROWS // 1000}k rows, 2 shards (scores fetched) vs 1 server", t["fetched"], t["single"])
    report(f"scoring {ROWS // 1000}k rows, 2 shards (summed there) vs 1 server", t["summed"], t["single"])
    print(f"linear_stats {ROWS} rows: one server {ROWS / t['stats_single']:,.0f} rows/s, "
          f"2 shards {ROWS / t['stats_sharded']:,.0f} rows/s")
    report(f"linear_stats {ROWS // 1000}k rows, 2 shards vs 1 server", t["stats_sharded"], t["stats_single"])
finally:
    for d in shard_dirs:
        stop_server(d)
