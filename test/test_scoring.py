#!/usr/bin/python3
"""Oracle tests of scoring: models trained in Python (xgboost, scikit-learn),
imported or registered, then scored in SQL and compared with the peer's own
predictions on the same rows (float32 equality for the compiled trees)."""
import json

import numpy as np
import psycopg2
import xgboost as xgb
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlops_test import check, close, expect_error, finish, fresh_database, query

conn = fresh_database("test_scoring", datasets=False)
rng = np.random.default_rng(7)
N, F = 10000, 8
names = [f"f{i}" for i in range(F)]
X = rng.normal(size=(N, F)).astype(np.float32)
X[rng.random(X.shape) < 0.1] = np.nan
Z = np.nan_to_num(X)
y_reg = Z[:, 0] * 2 + Z[:, 1] ** 2 - Z[:, 2] * Z[:, 3] + rng.normal(scale=0.3, size=N)
y_bin = (y_reg > np.median(y_reg)).astype(int)
y_multi = np.digitize(y_reg, np.quantile(y_reg, [0.33, 0.66]))


def sql_rows(a):
    return [[None if np.isnan(v) else float(v) for v in r] for r in a]


query(conn, "CREATE TABLE data (id int PRIMARY KEY, f float8[])")
with conn.cursor() as cur:
    cur.execute("INSERT INTO data SELECT i - 1, array_agg(v ORDER BY j) FROM unnest(%s::float8[]) "
                "WITH ORDINALITY AS u(v, k), LATERAL (SELECT (k - 1) / %s + 1 AS i, (k - 1) %% %s AS j) ij GROUP BY i",
                ([None if np.isnan(v) else float(v) for v in X.ravel()], F, F))
    cur.execute("CREATE TABLE cols AS SELECT id, " +
                ", ".join(f"f[{i + 1}] AS {n}" for i, n in reversed(list(enumerate(names)))) +
                " FROM data")


def scores(sql_expr, model, table="data", arg="f"):
    """One statement over every row: the expression per row, in id order."""
    return [r[0] for r in query(conn, f"SELECT {sql_expr.format(m=model, a=arg)} FROM {table} t ORDER BY id")]


def train(params, label, rounds, rows=2000):
    """A model trained on the first rows (scored below on all of them: training is what takes time)."""
    return xgb.train({"nthread": 1, "tree_method": "hist", "max_bin": 64, **params},
                     xgb.DMatrix(X[:rows], label=label[:rows]), rounds)


def imp(name, booster, task, fmt="ubj"):
    raw = bytes(booster.save_raw(fmt))
    return query(conn, "SELECT mlops.import_model(%s, %s, %s, %s, %s)",
                 (name, psycopg2.Binary(raw), f"xgboost-{fmt}", names, task))[0][0]


# --- regression, depth 10, 500 trees, imported as JSON --------------------------------------
reg = train({"objective": "reg:squarederror", "max_depth": 10, "eta": 0.05}, y_reg, 500)
check(imp("reg", reg, "regression", "json") == 1, "import_model (xgboost-json) registers version 1")
ours = np.array(scores("mlops.predict('{m}', {a})", "reg"), dtype=np.float64)
peer = reg.inplace_predict(X)
check(np.array_equal(ours.astype(np.float32), peer) and np.array_equal(ours, peer.astype(np.float64)),
      f"regression depth 10 × 500 trees: float32-equal to XGBoost on {N} rows with missing values "
      f"({np.sum(ours.astype(np.float32) != peer)} differ)")
row_form = np.array(scores("mlops.predict('{m}', t)", "reg", table="cols"))
check(np.array_equal(row_form, ours), "row form (columns in another order) equals the float8[] form")

# --- binary, depth 6, 300 trees, UBJ --------------------------------------------------------
binm = train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1}, y_bin, 300)
imp("bin", binm, "classification")
p = binm.inplace_predict(X)
proba = np.array(scores("mlops.predict_proba('{m}', {a})", "bin"))
check(np.array_equal(proba[:, 1].astype(np.float32), p), "binary: P(class 1) float32-equal to XGBoost on every row")
check(np.array_equal(proba[:, 0].astype(np.float32), (1 - p).astype(np.float32)), "binary: P(class 0) = 1 - p as in XGBClassifier")
labels = np.array(scores("mlops.predict('{m}', {a})", "bin"))
check(np.array_equal(labels, (p > 0.5).astype(float)), "binary: predict returns the class label (p > 0.5)")

# --- multiclass, 3 classes, depth 5, 60 rounds ----------------------------------------------
multi = train({"objective": "multi:softprob", "num_class": 3, "max_depth": 5}, y_multi, 60)
imp("multi", multi, "classification")
pm = multi.inplace_predict(X)
proba = np.array(scores("mlops.predict_proba('{m}', {a})", "multi"))
check(np.array_equal(proba.astype(np.float32), pm), "multiclass: probabilities float32-equal to XGBoost on every row")
labels = np.array(scores("mlops.predict('{m}', {a})", "multi"))
check(np.array_equal(labels, pm.argmax(axis=1).astype(float)), "multiclass: predict returns the argmax class")

# --- other covered objectives, and ones that fall back to libxgboost -------------------------
small = X[:2000]
for obj, label, task, extra in [("reg:pseudohubererror", y_reg, "regression", {}),
                                ("reg:absoluteerror", y_reg, "regression", {}),
                                ("reg:logistic", (y_reg - y_reg.min()) / np.ptp(y_reg), "regression", {}),
                                ("multi:softmax", y_multi, "classification", {"num_class": 3}),
                                ("multi:softmax", y_bin, "classification", {"num_class": 2})]:
    b = train({"objective": obj, "max_depth": 4, **extra}, label, 30)
    name = obj.replace(":", "_") + str(extra.get("num_class", ""))
    obj = f"{obj} {extra}" if extra else obj
    imp(name, b, task)
    if task == "regression":
        ours = np.array(scores("mlops.predict('{m}', {a})", name)[:2000])
        check(np.array_equal(ours.astype(np.float32), b.inplace_predict(small)), f"{obj}: float32-equal to XGBoost")
    else:
        ours = np.array(scores("mlops.predict('{m}', {a})", name)[:2000])
        check(np.array_equal(ours, b.inplace_predict(small).astype(float)), f"{obj}: same classes as XGBoost")
# binary:logitraw predicts margins: XGBoost adds its base_score to them as it is (no logit)
for base in (0.5, 0.2):
    b = train({"objective": "binary:logitraw", "max_depth": 3, "base_score": base}, y_bin, 10)
    name = f"logitraw{int(base * 10)}"
    imp(name, b, "classification")
    m = b.predict(xgb.DMatrix(small), output_margin=True).astype(np.float64)
    pr = np.array(scores("mlops.predict_proba('{m}', {a})", name)[:2000])
    lab = np.array(scores("mlops.predict('{m}', {a})", name)[:2000])
    check(np.allclose(pr[:, 1], 1 / (1 + np.exp(-m)), rtol=1e-6, atol=1e-7) and np.array_equal(lab, (m > 0).astype(float)),
          f"binary:logitraw base_score {base}: P(class 1) = sigmoid of XGBoost's margin, labels its sign")
fallback = {}
for obj, params in [("count:poisson", {"max_depth": 4}), ("reg:gamma", {"max_depth": 3}),
                    ("reg:squarederror", {"booster": "gblinear"})]:
    label = np.abs(y_reg) + 0.1
    b = train({"objective": obj, **params}, label, 20) if "booster" not in params else \
        xgb.train({"objective": obj, "nthread": 1, **params}, xgb.DMatrix(X[:2000], label=label[:2000]), 20)
    name = "fallback_" + obj.replace(":", "_") + params.get("booster", "")
    imp(name, b, "regression")
    fallback[name] = b
    ours = np.array(scores("mlops.predict('{m}', {a})", name)[:2000])
    check(close(list(ours), list(b.predict(xgb.DMatrix(small)).astype(float)), rel=1e-5, abs_=1e-6),
          f"{obj} {params.get('booster', 'gbtree')}: libxgboost fallback agrees with Python XGBoost")
# a multiclass objective with num_class 2 gives two margins: libxgboost's boosters too
for booster in ("dart", "gblinear"):
    b = xgb.train({"objective": "multi:softprob", "num_class": 2, "booster": booster, "nthread": 1},
                  xgb.DMatrix(X[:2000], label=y_bin[:2000]), 10)
    name = f"softprob2_{booster}"
    imp(name, b, "classification")
    pr = np.array(scores("mlops.predict_proba('{m}', {a})", name)[:500])
    e = query(conn, "SELECT mlops.explain(%s, f) FROM data WHERE id = 0", (name,))[0][0]
    check(np.array_equal(pr.astype(np.float32), b.predict(xgb.DMatrix(small[:500]))) and e["class"] in (0, 1),
          f"multi:softprob num_class 2 ({booster}, scored by libxgboost): probabilities float32-equal to XGBoost, explain works")

# multi-output regression (one margin per target) is refused at import, whichever booster
for booster in ("gbtree", "dart"):
    b = xgb.train({"tree_method": "hist", "booster": booster, "nthread": 1},
                  xgb.DMatrix(X[:500], label=np.stack([y_reg[:500], y_bin[:500]], axis=1)), 3)
    msg = expect_error(conn, "SELECT mlops.import_model('multi_target', %s, 'xgboost-ubj', %s, 'regression')", "0A000",
                       (psycopg2.Binary(bytes(b.save_raw("ubj"))), names))
    check(msg is not None and "multi-output" in msg, f"import_model refuses a multi-output {booster} model (0A000)")

# a model of no trees (0 rounds) predicts its base_score (its compilation crashed the backend)
b = xgb.train({"objective": "binary:logistic", "base_score": 0.3, "nthread": 1}, xgb.DMatrix(X[:100], label=y_bin[:100]), 0)
imp("no_trees", b, "classification")
pr = query(conn, "SELECT mlops.predict_proba('no_trees', f) FROM data WHERE id = 0")[0][0]
check(np.float32(pr[1]) == b.predict(xgb.DMatrix(X[:1]))[0], "a model of 0 rounds imports and predicts its base_score")

# --- categorical splits ---------------------------------------------------------------------
Xc = X.copy()
Xc[:, 0] = np.where(np.isnan(X[:, 0]), np.nan, np.floor(np.abs(Z[:, 0]) * 3) % 7)
cat = xgb.train({"tree_method": "hist", "max_cat_to_onehot": 1, "max_depth": 5, "nthread": 1},
                xgb.DMatrix(Xc[:2000], label=(y_reg + np.nan_to_num(Xc[:, 0]) % 3)[:2000], feature_types=["c"] + ["q"] * (F - 1),
                            enable_categorical=True), 40)
imp("cat", cat, "regression")
ours = np.array([query(conn, "SELECT mlops.predict('cat', %s::float8[])", (r,))[0][0] for r in sql_rows(Xc[:500])])
check(np.array_equal(ours.astype(np.float32), cat.inplace_predict(Xc[:500])),
      "categorical splits: float32-equal to XGBoost")
# a value that is no category of a split (negative, beyond its set) goes left, even where the
# default direction (missing values) is right: one-hot splits learn such defaults
c = rng.integers(0, 8, 600).astype(np.float32)
yc = np.where(np.isin(c, [1, 4, 6]), 3.0, 0.0) + rng.normal(scale=0.3, size=600)
c[(yc > 2) & (rng.random(600) < 0.5)] = np.nan
Xo = np.stack([c] + [X[:600, i] for i in range(1, F)], axis=1)
onehot = xgb.train({"tree_method": "hist", "max_cat_to_onehot": 64, "max_depth": 2, "nthread": 1},
                   xgb.DMatrix(Xo, label=yc, feature_types=["c"] + ["q"] * (F - 1), enable_categorical=True), 10)
dl = [t["default_left"][n] for t in json.loads(bytes(onehot.save_raw("json")).replace(b"NaN", b"0"))
      ["learner"]["gradient_booster"]["model"]["trees"] for n in t["categories_nodes"]]
imp("cat_onehot", onehot, "regression")
odd = np.repeat(Xo[:12], 1, axis=0)
odd[:, 0] = [-1, -0.5, -0.0, 0, 3.5, 7, 8, 31, 32, 100, 1e7, np.nan]
ours = np.array([query(conn, "SELECT mlops.predict('cat_onehot', %s::float8[])", (r,))[0][0] for r in sql_rows(odd)])
check(0 in dl and np.array_equal(ours.astype(np.float32),
                                 onehot.predict(xgb.DMatrix(odd, feature_types=["c"] + ["q"] * (F - 1), enable_categorical=True))),
      "categorical splits with a right default: negative and out-of-set values go left, as in XGBoost")

# --- explain: TreeSHAP equals XGBoost's, additive on every row -------------------------------
# dart (its trees weighted by weight_drop) and objectives libxgboost scores (log link: base_score
# a margin through the log) are explained over the compiled trees too
dart = train({"booster": "dart", "rate_drop": 0.3, "objective": "reg:squarederror", "max_depth": 4, "seed": 1}, y_reg, 30)
dart_multi = train({"booster": "dart", "rate_drop": 0.2, "skip_drop": 0.3, "objective": "multi:softprob", "num_class": 3,
                    "max_depth": 3, "seed": 2}, y_multi, 20)
tweedie = train({"objective": "reg:tweedie", "max_depth": 4, "base_score": 2}, np.abs(y_reg), 30)
imp("dart", dart, "regression")
imp("dart_multi", dart_multi, "classification")
imp("tweedie", tweedie, "regression")
E = 200
for name, model in [("bin", binm), ("multi", multi), ("dart", dart), ("dart_multi", dart_multi), ("tweedie", tweedie)]:
    expl = scores("mlops.explain('{m}', {a})", name)[:E]
    margins = model.predict(xgb.DMatrix(X[:E]), output_margin=True)
    contribs = model.predict(xgb.DMatrix(X[:E]), pred_contribs=True)
    ok_add = ok_eq = True
    for i, e in enumerate(expl):
        c = [e["contributions"][n] for n in names]
        if margins.ndim == 2:
            k = int(np.argmax(margins[i]))
            ok_eq &= e["class"] == k and np.array_equal(np.float32(c + [e["bias"]]), contribs[i, k])
            m = margins[i, k]
        else:
            ok_eq &= np.array_equal(np.float32(c + [e["bias"]]), contribs[i])
            m = margins[i]
        ok_add &= abs(sum(c) + e["bias"] - m) <= 1e-4 * max(1.0, abs(m))
    check(ok_eq, f"explain {name}: contributions equal XGBoost's pred_contribs on {E} rows")
    check(ok_add, f"explain {name}: bias + Σ contributions = margin on every row")

# explain's class is the class predict returns, also when two classes' margins differ by less than
# float32's exp can tell (their probabilities tie: the first is predicted, as XGBClassifier's argmax
# does; explain took the greater margin's)
for k in (3, 2):
    b = xgb.train({"objective": "multi:softprob", "num_class": k, "max_depth": 2, "base_score": 0, "nthread": 1},
                  xgb.DMatrix(X[:300], label=y_multi[:300] % k), 1)
    j = json.loads(bytes(b.save_raw("json")))
    gb = j["learner"]["gradient_booster"]["model"]
    leaf = [np.float32(0.1), np.nextafter(np.float32(0.1), np.float32(1)), np.float32(-1)]
    for t in gb["trees"]:
        v = float(leaf[gb["tree_info"][t["id"]]])
        t["base_weights"] = [v] * len(t["base_weights"])
        t["split_conditions"] = [v if l == -1 else c for c, l in zip(t["split_conditions"], t["left_children"])]
    b = xgb.Booster(model_file=bytearray(json.dumps(j).encode()))
    pr = b.predict(xgb.DMatrix(X[:1]))
    query(conn, "SELECT mlops.import_model(%s, %s, 'xgboost-json', %s, 'classification')",
          (f"tied{k}", psycopg2.Binary(json.dumps(j).encode()), names))
    lab, e = query(conn, "SELECT mlops.predict(%s, f), mlops.explain(%s, f) FROM data WHERE id = 0", (f"tied{k}", f"tied{k}"))[0]
    check(pr[0, 0] == pr[0, 1] and lab == 0 and e["class"] == 0,
          f"{k} classes, margins 0.1 and 0.1 + 1 ulp (tied probabilities): predict and explain both give class 0")

# --- infinite inputs (and float8 beyond float32, infinite once in float32): XGBoost's DMatrix
# refuses them, its in-place prediction scores them as the compiled trees do; so do the models
# libxgboost scores (they failed with 38000); gblinear, which XGBoost cannot score so, refuses (22003)
inf_rows = X[:4].astype(np.float64)
inf_rows[0, 0], inf_rows[1, 1], inf_rows[2, 2], inf_rows[3, :] = np.inf, -np.inf, 1e39, -1e300
for name, model in [("reg", reg), ("fallback_count_poisson", fallback["fallback_count_poisson"]), ("dart", dart),
                    ("tweedie", tweedie)]:
    ours = np.array([query(conn, "SELECT mlops.predict(%s, %s::float8[])", (name, r))[0][0] for r in sql_rows(inf_rows)])
    check(np.array_equal(ours.astype(np.float32), model.inplace_predict(inf_rows)),
          f"{name}: infinite inputs scored as XGBoost's inplace_predict scores them")
ours = np.array([query(conn, "SELECT mlops.predict_proba('dart_multi', %s::float8[])", (r,))[0][0] for r in sql_rows(inf_rows)])
e = query(conn, "SELECT mlops.explain('dart_multi', %s::float8[])", (sql_rows(inf_rows)[0],))[0][0]
check(np.array_equal(ours.astype(np.float32), dart_multi.inplace_predict(inf_rows)) and
      e["class"] == int(np.argmax(dart_multi.inplace_predict(inf_rows[:1], predict_type="margin")[0])),
      "dart multiclass: infinite inputs give inplace_predict's probabilities, explain's class its argmax")
for fn in ("predict", "explain"):
    msg = expect_error(conn, f"SELECT mlops.{fn}('fallback_reg_squarederrorgblinear', %s::float8[])", "22003",
                       (sql_rows(inf_rows)[2],))
    check(msg is not None and '"f2"' in msg, f"gblinear: {fn} of an infinite input is 22003, naming the input")

# --- export: Python loads the exported JSON and predicts identically --------------------------
for name, model in [("reg", reg), ("multi", multi)]:
    raw = bytes(query(conn, "SELECT mlops.export_model(%s)", (name,))[0][0])
    b = xgb.Booster(model_file=bytearray(raw))
    check(raw.lstrip().startswith(b"{") and np.array_equal(b.inplace_predict(X), model.inplace_predict(X)),
          f"export_model({name}): XGBoost JSON that Python loads and that predicts identically")

# --- feature names the model carries (from a DataFrame): the given ones must not reorder them ---
named = xgb.train({"nthread": 1, "max_depth": 3}, xgb.DMatrix(X[:2000], label=y_reg[:2000], feature_names=names), 10)
raw = psycopg2.Binary(bytes(named.save_raw("ubj")))
msg = expect_error(conn, "SELECT mlops.import_model('named', %s, 'xgboost-ubj', %s, 'regression')", "22023",
                   (raw, names[::-1]))
check(msg is not None and "f7" in msg and "input 8" in msg,
      "import_model refuses the model's own feature names in another order (they would score wrong inputs)")
query(conn, "SELECT mlops.import_model('named', %s, 'xgboost-ubj', %s, 'regression')",
      (raw, [n.upper() for n in names]))
ours = np.array(scores("mlops.predict('{m}', {a})", "named"), dtype=np.float64)
check(np.array_equal(ours.astype(np.float32), named.inplace_predict(X)),
      "names the model does not have rename its inputs in order (same predictions)")

# --- linear models: registered with a linear-json artifact from scikit-learn ------------------
Nl = 2000
Xl = Z[:Nl, :3].astype(np.float64)
city = rng.choice(["lyon", "paris", "rome"], size=Nl)
onehot = np.stack([(city == "paris"), (city == "rome")], axis=1).astype(float)
design = np.hstack([Xl, onehot])
terms = ["a", "b", "c", "city=paris", "city=rome"]
yl = design @ np.array([1.5, -2, 0.5, 3, -1]) + 1 + rng.normal(scale=0.1, size=Nl)
spec = {"inputs": [{"name": "a", "kind": "numeric", "impute": float(Xl[:, 0].mean())},
                   {"name": "b", "kind": "numeric", "impute": float(Xl[:, 1].mean())},
                   {"name": "c", "kind": "numeric", "impute": float(Xl[:, 2].mean())},
                   {"name": "city", "kind": "categorical", "categories": ["lyon", "paris", "rome"], "impute": "paris"}]}


def register(name, algorithm, task, est, classes=None):
    art = {"format": "mlops-linear", "algorithm": algorithm, "task": task, "terms": terms,
           "intercept": np.atleast_1d(est.intercept_).tolist(), "coef": np.atleast_2d(est.coef_).tolist()}
    if classes is not None:
        art["classes"] = classes
    query(conn, "SELECT mlops._register_version(%s, %s, %s, %s, NULL, %s, '{}', '{}', %s, NULL, NULL, NULL, "
          "NULL, NULL, NULL, NULL, %s, 'linear-json')",
          (name, algorithm, task, ["a", "b", "c", "city"], classes, json.dumps(spec), json.dumps(art).encode()))


lin = LinearRegression().fit(design, yl)
register("lin", "linear", "regression", lin)
query(conn, "CREATE TABLE ldata AS SELECT i AS id, a, b, c, city FROM unnest(%s::float8[], %s::float8[], "
      "%s::float8[], %s::text[]) WITH ORDINALITY AS u(a, b, c, city, i)",
      (list(Xl[:, 0]), list(Xl[:, 1]), list(Xl[:, 2]), list(city)))
ours = [r[0] for r in query(conn, "SELECT mlops.predict('lin', t) FROM ldata t ORDER BY id")]
check(close(ours, list(lin.predict(design)), rel=1e-12, abs_=1e-9), "linear: row form (one-hot city) equals sklearn predict")
idx = {"lyon": 0, "paris": 1, "rome": 2}
arr = [r[0] for r in query(conn, "SELECT mlops.predict('lin', ARRAY[a, b, c, %s::jsonb->>city]::float8[]) FROM ldata ORDER BY id",
                           (json.dumps(idx),))]
check(close(arr, ours, rel=1e-12), "linear: float8[] form with the category index equals the row form")
expl = [r[0] for r in query(conn, "SELECT mlops.explain('lin', t) FROM ldata t ORDER BY id")]
ok = True
for i, e in enumerate(expl):
    terms_x = design[i] * lin.coef_
    want = {"a": terms_x[0], "b": terms_x[1], "c": terms_x[2], "city": terms_x[3] + terms_x[4]}
    ok &= close(e["bias"], lin.intercept_) and all(close(e["contributions"][k], v, rel=1e-12, abs_=1e-12) for k, v in want.items())
    ok &= close(e["bias"] + sum(e["contributions"].values()), ours[i], rel=1e-9)
check(ok, "linear explain: contribution = coef·x per input (indicator terms summed), bias = intercept")
query(conn, "SET extra_float_digits = 0")
rounded = [r[0] for r in query(conn, "SELECT mlops.explain('lin', t) FROM ldata t ORDER BY id")]
query(conn, "RESET extra_float_digits")
check(rounded == expl, "explain's numbers are exact whatever extra_float_digits says")
row = np.array([[spec["inputs"][0]["impute"], 1.0, 2.0, 1, 0]])
expect_error(conn, "SELECT mlops.predict('lin', ROW(1.0::float8, 1.0::float8)::record)", "42703")
query(conn, "CREATE TYPE pt AS (a float8, b float8, city text, c float8)")
got = query(conn, "SELECT mlops.predict('lin', ROW(NULL, 1.0, 'nowhere', 2.0)::pt)")[0][0]
check(close(got, float(lin.predict(row)[0]), rel=1e-12), "linear: NULL numeric → training mean, unseen category → most frequent")

logit = LogisticRegression(C=1.0).fit(design, (yl > np.median(yl)).astype(int))
register("logit", "logistic", "classification", logit, [0.0, 1.0])
pr = np.array([r[0] for r in query(conn, "SELECT mlops.predict_proba('logit', t) FROM ldata t ORDER BY id")])
check(np.allclose(pr, logit.predict_proba(design), rtol=1e-12, atol=1e-15), "logistic: predict_proba equals sklearn")
lab = [r[0] for r in query(conn, "SELECT mlops.predict('logit', t) FROM ldata t ORDER BY id")]
check(lab == list(logit.predict(design).astype(float)), "logistic: predict equals sklearn's labels")

y3 = np.digitize(yl, np.quantile(yl, [0.33, 0.66]))
multinom = LogisticRegression(C=1.0, max_iter=1000).fit(design, y3)
register("multinom", "logistic", "classification", multinom, [0.0, 1.0, 2.0])
pr = np.array([r[0] for r in query(conn, "SELECT mlops.predict_proba('multinom', t) FROM ldata t ORDER BY id")])
check(np.allclose(pr, multinom.predict_proba(design), rtol=1e-12, atol=1e-15), "multinomial logistic: predict_proba equals sklearn")
lab = [r[0] for r in query(conn, "SELECT mlops.predict('multinom', t) FROM ldata t ORDER BY id")]
check(lab == list(multinom.predict(design).astype(float)), "multinomial logistic: predict equals sklearn's labels")
e = query(conn, "SELECT mlops.explain('multinom', t) FROM ldata t WHERE id = 1")[0][0]
k = int(np.argmax(multinom.decision_function(design[:1])[0]))
check(e["class"] == k and close(e["bias"] + sum(e["contributions"].values()), multinom.decision_function(design[:1])[0][k], rel=1e-9),
      "multinomial explain: the predicted class's margin = bias + Σ contributions")

# --- overloads, parallel workers, cache eviction ------------------------------------------------
check(query(conn, "SELECT mlops.predict('lin', ARRAY[1, 2.5, 3, 1])")[0][0] ==
      query(conn, "SELECT mlops.predict('lin', ARRAY[1, 2.5, 3, 1]::float8[])")[0][0],
      "ARRAY[1, 2.5, ...] (numeric[]) resolves to the float8[] form")
check(query(conn, "SELECT mlops.predict('lin', ARRAY[1, 2, 3, 1])")[0][0] is not None,
      "ARRAY[1, 2, ...] (int[]) resolves to the float8[] form")
serial = query(conn, "SELECT sum(mlops.predict('bin', f)), sum(mlops.predict('reg', f)) FROM data")[0]
query(conn, "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0")
plan = "\n".join(r[0] for r in query(conn, "EXPLAIN SELECT sum(mlops.predict('bin', f)) FROM data"))
par = query(conn, "SELECT sum(mlops.predict('bin', f)), sum(mlops.predict('reg', f)) FROM data")[0]
check("Parallel" in plan and close(par, serial, rel=1e-12), "parallel workers score (a parallel plan gives the same sums)")
query(conn, "RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size")
query(conn, "SET mlops.model_cache_size = 1")
both = query(conn, "SELECT sum(mlops.predict('bin', f)), sum(mlops.predict('reg', f)) FROM data")[0]
check(close(both, serial, rel=1e-12), "with mlops.model_cache_size = 1, two models in one statement still score right")
finish()
