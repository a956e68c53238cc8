#!/usr/bin/python3
"""A long training tells its session how it advances: NOTICEs every
mlops.progress_interval (5 s by default, the first once that much time has
passed) naming the pass over the source and the rows read, the logistic
iteration, the xgboost round; -1 silences them, 0 reports every step."""
import re

import psycopg2

from mlops_test import check, expect_error, finish, fresh_database, query

conn = fresh_database("test_progress")


def notices_of(sql, params=None):
    """The NOTICE messages a statement sends (without the severity prefix)."""
    del conn.notices[:]
    query(conn, sql, params)
    return [n.strip().removeprefix("NOTICE:  ") for n in conn.notices if n.startswith("NOTICE:")]


query(conn, "SET mlops.progress_interval = 0")
got = notices_of("SELECT * FROM mlops.train('p_logistic', 'breast_cancer', 'target', 'logistic', "
                 "hyperparams => '{\"max_iter\": 3}')")
check(any(re.fullmatch(r"pass 1 over the source: 569 rows read, \d+\.\d s elapsed", n) for n in got),
      f"interval 0: the first pass over the source reports its 569 rows ({got[:1]})")
iterations = [int(m.group(1)) for n in got
              if (m := re.fullmatch(r"logistic iteration (\d+) of at most 3: objective \S+, largest gradient \S+ "
                                    r"of the first's, \d+\.\d s elapsed", n))]
check(iterations == [1, 2, 3], f"interval 0: every logistic iteration is reported, in order ({iterations})")

got = notices_of("SELECT * FROM mlops.train('p_xgb', 'breast_cancer', 'target', 'xgboost', "
                 "hyperparams => '{\"n_estimators\": 3}')")
rounds = [int(m.group(1)) for n in got
          if (m := re.fullmatch(r"xgboost round (\d+) of 3: test-logloss \S+, \d+\.\d s elapsed, about \d+ s remaining", n))]
check(rounds == [1, 2], f"interval 0: each xgboost round but the last is reported ({rounds})")

query(conn, "SET mlops.progress_interval = -1")
got = notices_of("SELECT * FROM mlops.train('p_quiet', 'breast_cancer', 'target', 'logistic', "
                 "hyperparams => '{\"max_iter\": 3}')")
check(got == [], f"interval -1: no progress notice ({got[:2]})")
expect_error(conn, "SET mlops.progress_interval = -2", "22023")

# the default: quiet for 5 s, then a notice; here a pass over a source too
# large to finish (its rows stream: a function scan alone would first
# materialise them all), stopped by statement_timeout; a linear training on
# every row holds nothing per row (a split would keep a key for each)
query(conn, "RESET mlops.progress_interval")
query(conn, "SET statement_timeout = '9s'")   # a second notice would come at 10 s
del conn.notices[:]
try:
    query(conn, "SELECT * FROM mlops.train('p_slow', 'SELECT b::float8 AS x, (b % 2)::float8 AS y "
                "FROM generate_series(1, 100000) a, generate_series(1, 100000) b', 'y', 'linear', "
                "test_fraction => 0)")
    code = None
except psycopg2.Error as e:
    code = e.pgcode
query(conn, "RESET statement_timeout")
passes = [float(m.group(2)) for n in conn.notices
          if (m := re.search(r"pass 1 over the source: (\d+) rows read, (\d+\.\d) s elapsed", n))]
check(code == "57014" and len(passes) >= 1 and all(e >= 5.0 for e in passes),
      f"by default the first notice comes after 5 s of a long pass ({code}, elapsed {passes})")
finish()
