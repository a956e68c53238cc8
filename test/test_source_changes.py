#!/usr/bin/python3
"""A query source whose rows change between the passes of a training (a random()
target: the same number of rows, other values) is refused (55000) by any later
full pass, not only when the number of rows changes; the same rows in another
order are not a change."""
from mlops_test import check, expect_error, finish, fresh_database, query

conn = fresh_database("test_source_changes")


def versions(model):
    return query(conn, """SELECT count(*) FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id
                           WHERE m.name = %s""", (model,))[0][0]


RANDOM_TARGET = "SELECT g::float8 AS x, g + random() AS y FROM generate_series(1, 100) g"
RANDOM_CLASS = "SELECT g::float8 AS x, (g + 20 * random() > 50)::int AS y FROM generate_series(1, 100) g"
# nearly collinear x1, x2 (reciprocal condition ~1e-11): linear refines its solution with more passes
query(conn, """CREATE TABLE near AS
               SELECT x1, x1 + 1e-5 * sin(g * 7.3) AS x2, cos(g * 3.1) AS x3
                 FROM (SELECT g, sin(g * 1.7) AS x1 FROM generate_series(1, 300) g) s""")
NEAR_RANDOM = "SELECT x1, x2, x3, x1 + 2 * x2 + x3 + 0.1 * random() AS y FROM near"

for name, source, algorithm, fraction, what in [
        ("lin_random", RANDOM_TARGET, "linear", 0, "the scoring pass of linear"),
        ("log_random", RANDOM_CLASS, "logistic", 0, "the scoring pass of logistic"),
        ("near_random", NEAR_RANDOM, "linear", 0.2, "linear's refinement pass")]:
    message = expect_error(conn, f"""SELECT * FROM mlops.train('{name}', $${source}$$, 'y', '{algorithm}',
                                       test_fraction => {fraction})""", "55000")
    check(message is not None and "changed while it was read" in message,
          f"{name}: {what} refuses a source whose values changed ({(message or '').strip()[:200]})")
    check(versions(name) == 0, f"{name}: no version is left behind")

# the same rows in another order: the fingerprint is a sum over the rows, the same in any order
query(conn, """SELECT * FROM mlops.train('shuffled', 'SELECT g::float8 AS x, g * 0.5 AS y
                                                        FROM generate_series(1, 100) g ORDER BY random()',
                                         'y', 'linear', test_fraction => 0)""")
check(versions("shuffled") == 1, "the same rows in another order at each pass train a model")
query(conn, "SELECT * FROM mlops.train('near_fixed', 'near', 'x3', 'linear', test_fraction => 0)")
check(versions("near_fixed") == 1, "an unchanged source trains through linear's refinement passes")
finish()
