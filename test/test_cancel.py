#!/usr/bin/python3
"""Long work other than training's scan stops within a second of
pg_cancel_backend in each of its stages (test_linear_cancel.py and
test_xgboost.py cover training's): evaluate's roc_auc, which sorts every
scored row once the source is read, profile's sort of the categories of
a text column of millions of distinct values, and import_model's checks of
a hundred thousand feature names."""
import time

from mlops_test import cancelled, check, connect, finish, fresh_database, query

DB = "test_cancel"
conn = fresh_database(DB, datasets=False)
other = connect(DB)


def after_reads(sequence, takes, settle):
    """A when_to_cancel for cancelled(): true `settle` seconds after `takes`
    more values of `sequence` were taken (any session sees them at once: a
    source's last row takes one each time the source is read), counted from
    when it starts waiting, long before a big source's last row; false if the
    statement ends first."""
    def taken():
        return query(other, f"SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {sequence}")[0][0]

    def when(running):
        target = taken() + takes
        while taken() < target:
            if not running.is_set():
                return False
            time.sleep(0.02)
        time.sleep(settle)
        return True
    return when


def check_stops_after_reading(what, call, source, n):
    """Checks that call (a format taking {source}) on the query source(n) stops
    within a second of a pg_cancel_backend sent 0.3 s after its last read of
    the source reached the last row (which takes a value of sequence
    last_row); the reads are counted on source(10) first."""
    query(conn, "SELECT setval('last_row', 1, false)")
    query(conn, call.format(source=source(10)))
    (reads,), = query(conn, "SELECT last_value FROM last_row")
    code, latency = cancelled(conn, other, call.format(source=source(n)), after_reads("last_row", reads, 0.3))
    check(code == "57014" and latency < 1.0,
          f"{what}: pg_cancel_backend after the source was read stops it in {latency:.3f} s (57014)")


query(conn, "CREATE SEQUENCE last_row")

# --- evaluate: roc_auc sorts millions of scores --------------------------
# A binary model scored on 16 million rows: once they are read, roc_auc sorts
# them (a comparison sort took seconds without a check for interrupts).
query(conn, "CREATE TABLE small AS SELECT g::float8 AS x, (g % 3 = 0)::int AS y FROM generate_series(1, 300) g")
query(conn, "SELECT * FROM mlops.train('bin', 'small', 'y', 'logistic', test_fraction => 0)")


def scored_rows(n):
    """n rows of x and a binary y, then one whose reading takes a value of last_row."""
    return (f"SELECT ((g::bigint * 7919) % 1000003)::float8 / 3000 AS x, (g % 3 = 0)::int AS y "
            f"FROM generate_series(1, {n}) g UNION ALL SELECT 1, least(nextval('last_row'), 1)::int")


check_stops_after_reading("evaluate (roc_auc's sort)", "SELECT mlops.evaluate('bin', $${source}$$)",
                          scored_rows, 16000000)
check(query(conn, "SELECT (mlops.evaluate('bin', 'small')->>'roc_auc')::float8 > 0.4") == [(True,)],
      "the session evaluates again after the cancel")

# --- profile: millions of categories --------------------------------------
# A text column of 3 million distinct values (an id): once read, its
# categories are sorted by name (qsort took seconds without a check).


def ids(n):
    """n distinct text values, then one whose reading takes a value of last_row."""
    return (f"SELECT md5(g::text) AS id FROM generate_series(1, {n}) g "
            f"UNION ALL SELECT md5(least(nextval('last_row'), 1)::text)")


check_stops_after_reading("profile (the categories' sort)", "SELECT mlops.profile($${source}$$)", ids, 3000000)
check(query(conn, f"SELECT mlops.profile($${ids(10)}$$)->'features'->0->'categories' ? md5('7')") == [(True,)],
      "the session profiles again after the cancel")

# --- import_model: a hundred thousand feature names -------------------------
# Each name is compared with every name before it (given twice?) and, when
# the model names its features, with each of those (given at another
# position?): 120,000 names took 25 s without a check for interrupts.


def half_a_second_in(running):
    """A when_to_cancel for cancelled(): true 0.5 s after the statement starts, if it still runs."""
    time.sleep(0.5)
    return running.is_set()


code, latency = cancelled(conn, other, "SELECT mlops.import_model('wide', '\\x7b7d'::bytea, 'xgboost-json', "
                          "array(SELECT 'f' || g FROM generate_series(1, 120000) g), 'regression')",
                          half_a_second_in)
check(code == "57014" and latency < 1.0,
      f"import_model (its feature names' checks): pg_cancel_backend stops it in {latency:.3f} s ({code}, 57014 expected)")
finish()
