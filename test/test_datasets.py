#!/usr/bin/python3
"""The embedded datasets load into PostgreSQL with exactly scikit-learn's feature
names and values."""
import numpy as np
from sklearn import datasets

from mlops_test import check, close, finish, fresh_database, query

conn = fresh_database("test_datasets")
for table, loader, kwargs in [("breast_cancer", datasets.load_breast_cancer, {}),
                              ("wine", datasets.load_wine, {}),
                              ("diabetes", datasets.load_diabetes, {"scaled": False})]:
    ref = loader(**kwargs)
    columns = [r[0] for r in query(conn, """SELECT attname FROM pg_attribute
                                             WHERE attrelid = %s::regclass AND attnum > 0
                                             ORDER BY attnum""", (table,))]
    check(columns[-1] == "target" and len(columns) == ref.data.shape[1] + 1,
          f"{table}: {len(columns) - 1} feature columns and a target")
    # \copy's HEADER skips the CSV's first line without matching it: the names are checked here
    names = [n.replace(" ", "_").replace("/", "_") for n in ref.feature_names]
    check(columns[:-1] == names, f"{table}: the columns are scikit-learn's features, in its order, by name "
                                 f"({[(c, n) for c, n in zip(columns, names) if c != n][:3]})")
    rows = np.array(query(conn, f"SELECT {', '.join(columns)} FROM {table}"), dtype=float)
    check(rows.shape[0] == ref.data.shape[0], f"{table}: {rows.shape[0]} rows")
    check(np.array_equal(rows[:, :-1], ref.data), f"{table}: features equal scikit-learn's bit for bit")
    check(close(list(rows[:, -1]), list(ref.target.astype(float))), f"{table}: targets equal scikit-learn's")
finish()
