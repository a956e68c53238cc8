#!/usr/bin/python3
"""Sharding with postgres_fdw: the runner's server is the coordinator, two more
throwaway servers are the shards. A hash-partitioned table whose partitions are
foreign tables on the shards; a model published to both shards under its
version number (idempotent, the shards' counters kept consistent); scores
computed on the shards (Remote SQL) equal to single-server scores; linear
statistics computed per shard (aggregate pushdown), merged on the coordinator,
equal to a single-server fit (1e-9); trainings on the unchanged sharded table
stored bit for bit alike."""
import collections
import json
import threading
import time

import numpy as np

from mlops_test import (check, close, expect_error, finish, fresh_database, query, server_connection,
                        start_server, stop_server)

ROWS = 20000


def nodes(plan):
    """Every node of a JSON plan."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def fit_of(conn, sql):
    """(intercept, coef...) of a linear_fit result."""
    fit = query(conn, sql)[0][0]
    return [fit["intercept"], *fit["coef"]], fit["n"]


def main(shard_dirs):
    coord = fresh_database("shards", datasets=False)
    shards = [server_connection(d) for d in shard_dirs]
    for s in shards:
        query(s, "CREATE EXTENSION mlops")
        query(s, "CREATE TABLE readings (id int, x1 float8, x2 float8, x3 float8, y float8)")
    query(coord, "CREATE EXTENSION postgres_fdw")
    query(coord, "CREATE EXTENSION dblink")
    for i, d in enumerate(shard_dirs):
        query(coord, f"""CREATE SERVER shard{i} FOREIGN DATA WRAPPER postgres_fdw
                         OPTIONS (host '{d}', port '5432', dbname 'mlops', extensions 'mlops',
                                  batch_size '1000', fetch_size '5000', async_capable 'true',
                                  options '-c synchronize_seqscans=off')""")
        query(coord, f"CREATE USER MAPPING FOR CURRENT_USER SERVER shard{i} OPTIONS (user 'postgres')")

    # the same rows on one server and across the shards
    rng = np.random.default_rng(7)
    x = rng.normal(size=(ROWS, 3)) * [1, 10, 0.1]
    y = 5 + x @ [1.5, -0.25, 40] + rng.normal(scale=0.5, size=ROWS)
    query(coord, "CREATE TABLE readings_local (id int, x1 float8, x2 float8, x3 float8, y float8)")
    with coord.cursor() as cur:
        cur.execute("INSERT INTO readings_local SELECT i, a[i][1], a[i][2], a[i][3], b[i] "
                    "FROM (SELECT %s::float8[] a, %s::float8[] b) v, generate_series(1, %s) i",
                    (x.tolist(), y.tolist(), ROWS))
    query(coord, "CREATE TABLE readings (id int, x1 float8, x2 float8, x3 float8, y float8) PARTITION BY HASH (id)")
    for i in range(2):
        query(coord, f"""CREATE FOREIGN TABLE readings_p{i} PARTITION OF readings
                         FOR VALUES WITH (MODULUS 2, REMAINDER {i})
                         SERVER shard{i} OPTIONS (table_name 'readings')""")
    query(coord, "INSERT INTO readings SELECT * FROM readings_local")
    counts = [query(s, "SELECT count(*) FROM readings")[0][0] for s in shards]
    check(sum(counts) == ROWS and min(counts) > ROWS / 3, f"the rows are spread over the shards {counts}")

    # versions 1 (linear) and 2 (xgboost) on the coordinator; publish 2 to both shards
    query(coord, "SELECT mlops.train('m', 'readings_local', 'y', 'linear', features => '{x1,x2,x3}')")
    query(coord, """SELECT mlops.train('m', 'readings_local', 'y', 'xgboost', features => '{x1,x2,x3}',
                                       hyperparams => '{"n_estimators": 20, "max_depth": 4}')""")
    query(coord, "SELECT mlops.set_alias('m', 'production', 2)")
    check(query(coord, "SELECT mlops.publish_model('m', 'shard0')") == [(2,)],
          "publish_model('m', server) publishes the version the reference means (2)")
    check(query(coord, "SELECT mlops.publish_model('m:2', 'shard1')") == [(2,)], "and 'm:2' to the other shard")
    check(query(coord, "SELECT mlops.publish_model('m@production', 'shard0')") == [(2,)],
          "publishing again is idempotent")
    local = query(coord, """SELECT algorithm, task, features, artifact_sha256, artifact_format, hyperparams, metrics
                              FROM mlops.model_versions WHERE name = 'm' AND version = 2""")
    for i, s in enumerate(shards):
        remote = query(s, """SELECT algorithm, task, features, artifact_sha256, artifact_format, hyperparams, metrics
                               FROM mlops.model_versions WHERE name = 'm' AND version = 2""")
        check(remote == local, f"shard{i} holds version 2 with the same artifact, spec and metrics")
        same = query(s, """SELECT v.spec = %s::jsonb AND v.profile = %s::jsonb AND m.last_version = 2
                             FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id
                            WHERE m.name = 'm' AND v.version = 2""",
                     query(coord, """SELECT v.spec::text, v.profile::text FROM mlops.model_version v
                                     JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'm' AND v.version = 2""")[0])
        check(same == [(True,)], f"shard{i}: same spec and drift profile, its counter at 2")

    # the shard's own counter stays consistent: a version trained there is 3,
    # and an older number it has passed is refused
    check(query(shards[1], "SELECT version FROM mlops.train('m', 'readings', 'y', 'linear', features => '{x1,x2,x3}')")
          == [(3,)], "a version trained on a shard after the install is numbered 3")
    # a shard's refusal keeps its SQLSTATE and names the shard (dblink's own
    # context names only its connection, the same for every shard)
    error = expect_error(coord, "SELECT mlops.publish_model('m:1', 'shard0')", "55000")
    check('on foreign server "shard0"' in (error or ""), f"the shard's error names the shard ({error})")
    query(coord, "SELECT mlops.train('m', 'readings_local', 'y', 'linear', features => '{x1,x2}')")
    error = expect_error(coord, "SELECT mlops.publish_model('m:3', 'shard1')", "42710")
    check('on foreign server "shard1"' in (error or "") and "_install_version" in error,
          f"and keeps the shard's context lines ({error})")
    query(coord, "CREATE SERVER gone FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '/nonexistent', dbname 'mlops')")
    query(coord, "CREATE USER MAPPING FOR CURRENT_USER SERVER gone OPTIONS (user 'postgres')")
    error = expect_error(coord, "SELECT mlops.publish_model('m:2', 'gone')", "08001")
    check('on foreign server "gone"' in (error or "") and query(coord, "SELECT dblink_get_connections()") == [(None,)],
          f"a server it cannot connect to is named too, and no connection is left open ({error})")
    query(coord, "DROP SERVER gone CASCADE")
    expect_error(coord, "SELECT mlops.publish_model('m:2', 'nowhere')", "42704")
    query(coord, "CREATE ROLE shards_trainer IN ROLE mlops_trainer")
    query(coord, "SET ROLE shards_trainer")
    expect_error(coord, "SELECT mlops.publish_model('m:2', 'shard0')", "42501")
    query(coord, "RESET ROLE")
    # publish_model keeps no function of dblink's schema but dblink's own: a
    # trainer who may create there (public, often) and makes a dblink(name,
    # text), which matched the server name's type better than dblink(text,
    # text), does not get its code run as whoever publishes
    query(coord, "CREATE TABLE hooked (who name)")
    query(coord, "GRANT INSERT ON hooked TO shards_trainer")
    query(coord, "GRANT CREATE ON SCHEMA public TO shards_trainer")
    query(coord, "SET ROLE shards_trainer")
    query(coord, """CREATE FUNCTION public.dblink(name, text) RETURNS SETOF record LANGUAGE plpgsql AS $f$
                     BEGIN INSERT INTO public.hooked VALUES (current_user); RETURN QUERY SELECT 2; END $f$""")
    query(coord, "RESET ROLE")
    check(query(coord, "SELECT mlops.publish_model('m:2', 'shard0')") == [(2,)]
          and query(coord, "SELECT count(*) FROM hooked") == [(0,)],
          "publish_model calls dblink's dblink(text, text), not a trainer's dblink(name, text)")
    query(coord, "DROP FUNCTION public.dblink(name, text)")
    query(coord, "DROP TABLE hooked")
    query(coord, "REVOKE CREATE ON SCHEMA public FROM shards_trainer")
    query(coord, "DROP ROLE shards_trainer")
    expect_error(coord, "SELECT mlops.publish_model('m:9', 'shard0')", "42704")
    # a publish waiting on the shard (a transaction there holds its registry)
    # stops at the coordinator's statement_timeout, and the installation it
    # sent is cancelled with it: nothing lands on the shard, no connection is
    # left open, and the next publish works. (dblink() waited for the shard's
    # answer without noticing the cancel, then installed and failed anyway.)
    holder = server_connection(shard_dirs[0])
    holder.autocommit = False
    query(holder, "SELECT mlops.set_alias('m', 'held', 2)")
    release = threading.Timer(10, holder.rollback)
    release.start()
    query(coord, "SET statement_timeout = '1s'")
    started = time.monotonic()
    expect_error(coord, "SELECT mlops.publish_model('m:3', 'shard0')", "57014")
    waited = time.monotonic() - started
    query(coord, "RESET statement_timeout")
    release.cancel()
    holder.rollback()
    check(waited < 5, f"publish_model stops at statement_timeout while the shard waits ({waited:.1f} s)")
    check(query(shards[0], """SELECT count(*) FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id
                               WHERE m.name = 'm' AND v.version = 3""") == [(0,)]
          and query(coord, "SELECT dblink_get_connections()") == [(None,)],
          "the cancelled publish installed nothing on the shard and left no dblink connection open")
    check(query(coord, "SELECT mlops.publish_model('m:2', 'shard0')") == [(2,)], "and the next publish works")
    holder.close()

    # sharded scoring. PostgreSQL 15's postgres_fdw ships WHERE clauses, joins
    # and aggregates but not a plain scan's output expressions, and never a
    # function whose text argument (the model name) is a constant: so
    # SELECT predict_version(...) FROM readings fetches the features and scores
    # on the coordinator. It gives the same scores:
    score = "SELECT id, mlops.predict_version('m', 2, ARRAY[x1, x2, x3]) FROM {}"
    sharded = sorted(query(coord, score.format("readings")))
    single = sorted(query(coord, score.format("readings_local")))
    check(len(sharded) == ROWS and sharded == single, "scores over the sharded table equal single-server scores")
    # To score on the shards, each shard exposes a view calling predict_version
    # (the same model on every shard thanks to publish_model) and the
    # coordinator's foreign partitions read the view.
    for s in shards:
        query(s, """CREATE VIEW readings_scored AS
                    SELECT id, mlops.predict_version('m', 2, ARRAY[x1, x2, x3]) AS score FROM readings""")
    query(coord, "CREATE TABLE readings_scored (id int, score float8) PARTITION BY HASH (id)")
    for i in range(2):
        query(coord, f"""CREATE FOREIGN TABLE readings_scored_p{i} PARTITION OF readings_scored
                         FOR VALUES WITH (MODULUS 2, REMAINDER {i})
                         SERVER shard{i} OPTIONS (table_name 'readings_scored')""")
    plan = "\n".join(r[0] for r in query(coord, "EXPLAIN VERBOSE SELECT id, score FROM readings_scored WHERE score > 50"))
    check(plan.count("Remote SQL: SELECT id, score FROM public.readings_scored WHERE ((score > 50::double precision))") == 2
          and "predict_version" not in plan,
          "the scores and the filter on them are computed on both shards (nothing scored here)")
    on_shards = sorted(query(coord, "SELECT id, score FROM readings_scored"))
    check(on_shards == single, "scores computed on the shards equal single-server scores, row for row")

    # sharded training: the aggregate is pushed down to each shard, merged here
    merge = """SELECT mlops.linear_fit(mlops.linear_stats_merge(s)) FROM (
                   SELECT mlops.linear_stats(y, ARRAY[x1, x2, x3]) s FROM readings_p0
                   UNION ALL SELECT mlops.linear_stats(y, ARRAY[x1, x2, x3]) FROM readings_p1) per_shard"""
    plan = "\n".join(r[0] for r in query(coord, "EXPLAIN VERBOSE " + merge))
    check(plan.count("Remote SQL: SELECT mlops.linear_stats(y, ARRAY[x1, x2, x3])") == 2,
          "EXPLAIN VERBOSE shows linear_stats computed on both shards")
    single_fit, n1 = fit_of(coord, "SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[x1, x2, x3])) FROM readings_local")
    merged_fit, n2 = fit_of(coord, merge)
    check(n1 == n2 == ROWS and close(merged_fit, single_fit, rel=1e-9),
          f"merged per-shard statistics give the single-server coefficients (1e-9): {merged_fit}")
    # the partitioned table as a whole: partial aggregates per partition, combined here
    query(coord, "SET enable_partitionwise_aggregate = on")
    whole_fit, _ = fit_of(coord, "SELECT mlops.linear_fit(mlops.linear_stats(y, ARRAY[x1, x2, x3])) FROM readings")
    check(close(whole_fit, single_fit, rel=1e-9), "linear_stats over the partitioned foreign table agrees (1e-9)")
    # train() reads through postgres_fdw like any table
    coefs = []
    for src in ("readings", "readings_local"):
        query(coord, f"""SELECT mlops.train('lin_{src}', '{src}', 'y', 'linear',
                                            features => '{{x1,x2,x3}}', test_fraction => 0)""")
        art = query(coord, f"SELECT convert_from(mlops.export_model('lin_{src}'), 'UTF8')::jsonb")[0][0]
        coefs.append([art["intercept"][0], *art["coef"][0]])
    check(close(coefs[0], coefs[1], rel=1e-9) and close(coefs[1], single_fit, rel=1e-9),
          "train() on the sharded table gives the single-server coefficients (1e-9)")

    # an unchanged sharded table gives the same model bit for bit: its foreign
    # partitions are read one after the other, not as each shard answers
    # (an asynchronous Append would interleave their rows in arrival order)
    notices = collections.deque()
    coord.notices = notices
    query(coord, "LOAD 'auto_explain'")
    for setting, value in (("log_min_duration", "0"), ("log_nested_statements", "on"),
                           ("log_format", "json"), ("log_level", "notice")):
        query(coord, f"SET auto_explain.{setting} = '{value}'")
    for _ in range(3):
        query(coord, "SELECT mlops.train('again', 'readings', 'y', 'linear', features => '{x1,x2,x3}')")
    query(coord, "RESET auto_explain.log_min_duration")
    reads = [json.loads(n.split("plan:", 1)[1]) for n in notices if "plan:" in n]
    reads = [r["Plan"] for r in reads
             if "FROM public.readings AS source" in r["Query Text"] and "LIMIT 0" not in r["Query Text"]]
    check(len(reads) >= 3 and not any(n.get("Async Capable") for r in reads for n in nodes(r)),
          f"train() reads the foreign partitions without an asynchronous Append ({len(reads)} readings)")
    digests = query(coord, "SELECT DISTINCT artifact_sha256 FROM mlops.model_versions WHERE name = 'again'")
    check(len(digests) == 1, f"three trainings on the unchanged sharded table store one artifact ({len(digests)})")
    # nor in the order a synchronized scan on the shard would give: a scan of
    # a large table (beyond a quarter of shared_buffers, 16MB here) starts
    # where another scan of it is, unless the server's options turn
    # synchronize_seqscans off for the sessions postgres_fdw opens there
    query(shards[0], "CREATE TABLE wide (x1 float8, x2 float8, y float8, pad text)")
    query(shards[0], """INSERT INTO wide SELECT sin(i), cos(i * 0.3), 1 + 2 * sin(i) + 0.1 * cos(i * 7.7), repeat('p', 40)
                          FROM generate_series(1, 100000) i""")
    query(coord, "CREATE FOREIGN TABLE wide (x1 float8, x2 float8, y float8) SERVER shard0")
    query(coord, "SELECT mlops.train('wide', 'wide', 'y', 'linear', test_fraction => 0)")
    scanner = server_connection(shard_dirs[0])
    scanner.autocommit = False
    query(scanner, "DECLARE half NO SCROLL CURSOR FOR SELECT * FROM wide")
    query(scanner, "FETCH FORWARD 50000 FROM half")
    query(coord, "SELECT mlops.train('wide', 'wide', 'y', 'linear', test_fraction => 0)")
    scanner.rollback()
    scanner.close()
    digests = query(coord, "SELECT DISTINCT artifact_sha256 FROM mlops.model_versions WHERE name = 'wide'")
    check(len(digests) == 1,
          f"a training while a scan of the table is half done on the shard stores the same artifact ({len(digests)})")


if __name__ == "__main__":
    shard_dirs = []
    try:
        for _ in range(2):
            shard_dirs.append(start_server("shared_buffers = 16MB"))
        main(shard_dirs)
    finally:
        for d in shard_dirs:
            stop_server(d)
    finish()
