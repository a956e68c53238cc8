#!/usr/bin/python3
"""Oracle tests of train() for linear, ridge and logistic: on the same rows
(test_fraction 0) the coefficients equal scikit-learn's, the OLS statistics
equal the textbook formulas computed with numpy/scipy, and every metric equals
scikit-learn's on the predictions of the stored artifact."""
import json
import warnings

import numpy as np
from scipy import stats
from scipy.special import expit, softmax
from sklearn import datasets, metrics
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

from mlops_test import check, close, connect, finish, fresh_database, query

warnings.simplefilter("ignore")  # ConvergenceWarning of the lbfgs comparisons
conn = fresh_database("test_linear")


def train(model, source, algorithm, hyperparams="{}", features=None, target="target"):
    """Trains with test_fraction 0; returns (metrics, artifact, spec, version row)."""
    (version, returned_metrics), = query(conn, """SELECT version, metrics FROM mlops.train(%s, %s, %s, %s,
                                      features => %s, hyperparams => %s::jsonb, test_fraction => 0)""",
                                         (model, source, target, algorithm, features, hyperparams))
    (artifact, spec, fmt, train_rows, test_rows, stored_metrics), = query(conn, """
        SELECT convert_from(v.artifact, 'UTF8')::jsonb, v.spec, v.artifact_format, v.train_rows, v.test_rows, v.metrics
          FROM mlops.model_version v JOIN mlops.model m ON m.id = v.model_id
         WHERE m.name = %s AND v.version = %s""", (model, version))
    check(fmt == "linear-json" and test_rows == 0 and stored_metrics == returned_metrics,
          f"{model}: linear-json artifact, no test rows, the returned metrics are the stored ones")
    return returned_metrics, artifact, spec, train_rows


def design(spec, rows):
    """The design matrix of rows (dicts by input name) as docs/model-format.md defines it."""
    out = []
    for row in rows:
        x = []
        for inp in spec["inputs"]:
            v = row[inp["name"]]
            if inp["kind"] == "numeric":
                x.append(float(inp["impute"] if v is None else v))
            else:
                cats = inp["categories"]
                v = inp["impute"] if v is None or v not in cats else v
                x.extend(1.0 if v == c else 0.0 for c in cats[1:])
        out.append(x)
    return np.array(out, dtype=float)


def score(artifact, X):
    """Predictions from a linear-json artifact: values, or class probabilities."""
    margin = X @ np.array(artifact["coef"]).T + np.array(artifact["intercept"])
    if artifact["task"] == "regression":
        return margin[:, 0]
    if margin.shape[1] == 1:
        p = expit(margin[:, 0])
        return np.column_stack([1 - p, p])
    return softmax(margin, axis=1)


def rows_of(table, columns):
    return [dict(zip(columns, r)) for r in query(conn, f"SELECT {', '.join(columns)} FROM {table}")]


def check_regression_metrics(name, got, y, pred):
    want = {"r2": metrics.r2_score(y, pred), "mse": metrics.mean_squared_error(y, pred),
            "rmse": metrics.mean_squared_error(y, pred) ** 0.5, "mae": metrics.mean_absolute_error(y, pred)}
    check(set(got) == set(want) and all(close(got[k], want[k], 1e-9) for k in want),
          f"{name}: metrics equal sklearn's ({got})")


def check_classification_metrics(name, got, y, proba, classes):
    pred = classes[np.argmax(proba, axis=1)]
    want = {"accuracy": metrics.accuracy_score(y, pred), "log_loss": metrics.log_loss(y, proba, labels=classes)}
    if len(classes) == 2:
        want.update(precision=metrics.precision_score(y, pred, pos_label=classes[1], zero_division=0),
                    recall=metrics.recall_score(y, pred, pos_label=classes[1], zero_division=0),
                    f1=metrics.f1_score(y, pred, pos_label=classes[1], zero_division=0),
                    roc_auc=metrics.roc_auc_score(y, proba[:, 1]))
    else:
        want["f1_macro"] = metrics.f1_score(y, pred, average="macro", zero_division=0)
    check(set(got) == set(want) and all(close(got[k], want[k], 1e-9) for k in want),
          f"{name}: metrics equal sklearn's ({got})")


def objective(art, X, y, C=1.0):
    """sklearn LogisticRegression's objective C * sum(log loss) + ||w||^2 / 2 at an artifact's coefficients."""
    W, b = np.array(art["coef"]), np.array(art["intercept"])
    return lr_objective(W, b, X, y, C)


def lr_objective(W, b, X, y, C):
    Z = X @ W.T + b
    classes = np.unique(y)
    idx = np.searchsorted(classes, y)
    if Z.shape[1] == 1:
        loss = np.sum(np.logaddexp(0, Z[:, 0]) - (idx == 1) * Z[:, 0])
    else:
        loss = np.sum(np.logaddexp.reduce(Z, axis=1) - Z[np.arange(len(y)), idx])
    return C * loss + 0.5 * np.sum(W * W)


def check_lbfgs(name, art, X, y, rel):
    """lbfgs stops on its relative-decrease test before the optimum: our objective is
    no higher than its, and the coefficients agree to rel of the largest."""
    ref = LogisticRegression(tol=1e-10, max_iter=100000).fit(X, y)
    ours, theirs = objective(art, X, y), lr_objective(ref.coef_, ref.intercept_, X, y, 1.0)
    check(ours <= theirs * (1 + 1e-12) and norm_close(art["coef"], ref.coef_, rel),
          f"{name}: objective {ours:.12g} <= sklearn lbfgs's {theirs:.12g}, coefficients within {rel} of the largest")


def norm_close(a, b, rel):
    """Agreement relative to the largest magnitude of b (for solvers that stop early)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and float(np.max(np.abs(a - b))) <= rel * float(np.max(np.abs(b)))


def rel_close(a, b, rel):
    """Element-wise relative agreement (absolute near zero)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rel * np.maximum(np.abs(b), 1e-8)))


# --- linear and ridge on diabetes -------------------------------------------------
diabetes = datasets.load_diabetes(scaled=False)
names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
rows = rows_of("diabetes", names + ["target"])
y = np.array([r["target"] for r in rows])

got, art, spec, n = train("diab_ols", "diabetes", "linear")
X = design(spec, rows)
ref = LinearRegression().fit(X, y)
check(art["terms"] == names, "diabetes: the terms are the features in order")
check(rel_close(art["coef"][0], ref.coef_, 1e-6) and rel_close(art["intercept"], [ref.intercept_], 1e-6),
      "diabetes linear: coefficients and intercept equal sklearn LinearRegression's (1e-6 relative)")
check_regression_metrics("diabetes linear", got, y, score(art, X))

# OLS statistics, textbook formulas
X1 = np.column_stack([np.ones(len(y)), X])
beta = np.concatenate([[ref.intercept_], ref.coef_])
resid = y - X1 @ beta
df = len(y) - X1.shape[1]
sigma2 = resid @ resid / df
se = np.sqrt(sigma2 * np.diag(np.linalg.inv(X1.T @ X1)))
t = beta / se
p = 2 * stats.t.sf(np.abs(t), df)
r2 = 1 - resid @ resid / np.sum((y - y.mean()) ** 2)
st = art["stats"]
check(rel_close(st["std_err"], se, 1e-6), "diabetes linear: standard errors equal sigma^2 (X'X)^-1's")
check(rel_close(st["t_stat"], t, 1e-6), "diabetes linear: t statistics")
check(rel_close(st["p_value"], p, 1e-6), "diabetes linear: p-values equal scipy's Student t")
check(close(st["r2"], r2, 1e-9) and close(st["adj_r2"], 1 - (1 - r2) * (len(y) - 1) / df, 1e-9),
      "diabetes linear: r2 and adjusted r2")
check(close(st["condition_number"], np.linalg.cond(X1.T @ X1), 1e-6),
      "diabetes linear: condition number of X'X (with the intercept), as MADlib")

for alpha in (1.0, 10.0, 0.001):
    hp = "{}" if alpha == 1.0 else json.dumps({"alpha": alpha})
    got, art, spec, n = train(f"diab_ridge_{alpha}", "diabetes", "ridge", hp)
    ref = Ridge(alpha=alpha).fit(X, y)
    check(rel_close(art["coef"][0], ref.coef_, 1e-6) and rel_close(art["intercept"], [ref.intercept_], 1e-6),
          f"diabetes ridge alpha={alpha}: coefficients equal sklearn Ridge's (1e-6 relative)")
    check("stats" not in art, f"diabetes ridge alpha={alpha}: no OLS statistics")
    check_regression_metrics(f"diabetes ridge alpha={alpha}", got, y, score(art, X))

# --- the aggregate gives the same fit -------------------------------------------
(fit,), = query(conn, f"SELECT mlops.linear_fit(mlops.linear_stats(target, ARRAY[{', '.join(names)}])) FROM diabetes")
ols = LinearRegression().fit(X, y)
check(rel_close(fit["coef"], ols.coef_, 1e-6) and close(fit["intercept"], ols.intercept_, 1e-6) and fit["n"] == 442,
      "linear_fit(linear_stats(...)) equals sklearn LinearRegression")
(fit,), = query(conn, f"SELECT mlops.linear_fit(mlops.linear_stats(target, ARRAY[{', '.join(names)}]), 3.5) FROM diabetes")
check(rel_close(fit["coef"], Ridge(alpha=3.5).fit(X, y).coef_, 1e-6), "linear_fit(..., alpha) equals sklearn Ridge")

# --- logistic on breast_cancer (binary) and wine (multinomial) ------------------
for table, loader in [("breast_cancer", datasets.load_breast_cancer), ("wine", datasets.load_wine)]:
    data = loader()
    cols = [r[0] for r in query(conn, """SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass
                                          AND attnum > 0 AND attname <> 'target' ORDER BY attnum""", (table,))]
    rows = rows_of(table, cols + ["target"])
    yc = np.array([r["target"] for r in rows])
    for C in (1.0, 0.05):
        hp = "{}" if C == 1.0 else json.dumps({"C": C})
        got, art, spec, n = train(f"{table}_{C}", table, "logistic", hp)
        X = design(spec, rows)
        # On these unscaled features lbfgs stops well short of the optimum (even with
        # tol 1e-12), so the reference for the optimum is sklearn's newton-cg.
        ref = LogisticRegression(C=C, solver="newton-cg", tol=1e-8, max_iter=1000).fit(X, yc)
        check(rel_close(art["coef"], ref.coef_, 1e-4) and rel_close(art["intercept"], ref.intercept_, 1e-4),
              f"{table} logistic C={C}: coefficients equal sklearn's (newton-cg, 1e-4 relative)")
        check(art["classes"] == sorted(set(yc.tolist())), f"{table} logistic C={C}: classes in order")
        check_classification_metrics(f"{table} logistic C={C}", got, yc, score(art, X), np.array(art["classes"]))
    # standardised features: lbfgs converges, and matches
    mean, std = X.mean(axis=0), X.std(axis=0)
    select = ", ".join(f"({c} - {m!r}) / {s!r} AS {c}" for c, m, s in zip(cols, mean, std))
    got, art, spec, n = train(f"{table}_std", f"SELECT {select}, target FROM {table}", "logistic")
    Xs = (X - mean) / std
    check_lbfgs(f"{table} logistic on standardised features", art, Xs, yc, 1e-3)
    ref = LogisticRegression(solver="newton-cg", tol=1e-8, max_iter=1000).fit(Xs, yc)
    check(rel_close(art["coef"], ref.coef_, 1e-4) and rel_close(art["intercept"], ref.intercept_, 1e-4),
          f"{table} logistic on standardised features: every coefficient equals newton-cg's (1e-4 relative)")

# --- a synthetic set with categorical and NULL features --------------------------
rng = np.random.default_rng(7)
N = 400
query(conn, "CREATE TYPE grade AS ENUM ('low', 'mid', 'high')")
query(conn, """CREATE TABLE synth (x1 float8, x2 int, flag boolean, city text, grade grade,
                                    y float8, label int, kind int)""")
cities = ["paris", "lyon", "rome", "oslo"]
grades = ["low", "mid", "high"]
data = []
for i in range(N):
    x1 = None if rng.random() < 0.1 else float(rng.normal(3, 2))
    x2 = int(rng.integers(0, 50))
    flag = bool(rng.random() < 0.4)
    city = None if rng.random() < 0.08 else cities[rng.choice(4, p=[0.4, 0.3, 0.2, 0.1])]
    grade = grades[int(rng.integers(0, 3))]
    yv = (1.5 * (x1 if x1 is not None else 3) - 0.2 * x2 + 2 * flag + {"paris": 1, "lyon": -1, "rome": 0.5, "oslo": 3, None: 0}[city]
          + {"low": 0, "mid": 1, "high": -2}[grade] + rng.normal(0, 1))
    label = int(yv + rng.normal(0, 1) > 0)
    kind = int(np.clip(np.floor((yv + 8) / 5), 0, 2))
    data.append((x1, x2, flag, city, grade, yv, label, kind))
with conn.cursor() as cur:
    cur.executemany("INSERT INTO synth VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", data)
    cur.execute("INSERT INTO synth VALUES (1, 2, true, 'paris', 'low', NULL, NULL, NULL)")  # a NULL target: skipped
feats = ["x1", "x2", "flag", "city", "grade"]
rows = [r for r in rows_of("synth", feats + ["y", "label", "kind"]) if r["y"] is not None]
got, art, spec, n = train("synth_ols", "synth", "linear", features=feats, target="y")
check(n == N, "synthetic: the NULL-target row is skipped")
(skipped,), = query(conn, "SELECT skipped_rows FROM mlops.model_versions WHERE name = 'synth_ols'")
check(skipped == 1, "synthetic: one skipped row recorded with the version")
inputs = {i["name"]: i for i in spec["inputs"]}
x1 = [r["x1"] for r in rows if r["x1"] is not None]
check(close(inputs["x1"]["impute"], float(np.mean(x1)), 1e-12), "synthetic: x1 imputed with its training mean")
check(inputs["city"]["categories"] == sorted(cities) and inputs["grade"]["categories"] == sorted(grades),
      "synthetic: categories sorted by their text (enum labels too)")
city_counts = {c: sum(r["city"] == c for r in rows) for c in cities}
check(inputs["city"]["impute"] == max(sorted(cities), key=lambda c: city_counts[c]), "synthetic: city imputed with its mode")
check(inputs["flag"]["kind"] == "numeric" and inputs["grade"]["kind"] == "categorical", "synthetic: kinds")
check(art["terms"] == ["x1", "x2", "flag", "city=oslo", "city=paris", "city=rome", "grade=low", "grade=mid"],
      "synthetic: reference-coded terms (first category dropped)")
X = design(spec, rows)
ys = np.array([r["y"] for r in rows])
ref = LinearRegression().fit(X, ys)
check(rel_close(art["coef"][0], ref.coef_, 1e-6) and rel_close(art["intercept"], [ref.intercept_], 1e-6),
      "synthetic linear: coefficients equal sklearn's on the imputed one-hot design")
check_regression_metrics("synthetic linear", got, ys, score(art, X))
# features named in another order than the source's columns: the same model, its terms in that order
_, art_rev, _, _ = train("synth_ols_rev", "synth", "linear", features=list(reversed(feats)), target="y")
coef = dict(zip(art["terms"], art["coef"][0]))
check(art_rev["terms"][:2] == ["grade=low", "grade=mid"]
      and all(close(c, coef[term], 1e-9) for term, c in zip(art_rev["terms"], art_rev["coef"][0])),
      "synthetic linear: features listed in reverse give the same coefficients, in their order")
got, art, spec, n = train("synth_ridge", "synth", "ridge", '{"alpha": 2.5}', features=feats, target="y")
check(rel_close(art["coef"][0], Ridge(alpha=2.5).fit(X, ys).coef_, 1e-6), "synthetic ridge: coefficients equal sklearn's")
for target in ("label", "kind"):
    got, art, spec, n = train(f"synth_{target}", "synth", "logistic", features=feats, target=target)
    yc = np.array([r[target] for r in rows])
    ref = LogisticRegression(solver="newton-cg", tol=1e-8, max_iter=1000).fit(X, yc)
    check(rel_close(art["coef"], ref.coef_, 1e-4) and rel_close(art["intercept"], ref.intercept_, 1e-4),
          f"synthetic logistic ({target}): coefficients equal sklearn's")
    check_lbfgs(f"synthetic logistic ({target})", art, X, yc, 1e-2)
    check_classification_metrics(f"synthetic logistic ({target})", got, yc, score(art, X), np.array(art["classes"]))

# --- logistic's documented stopping rule: the largest gradient component of C·Σ loss + ½‖w‖² at the
# returned coefficients is below tol × 1e-6 (tol 1e-4) of the one at 0 --------------------------
def gradient(art, X, y, C):
    """The objective's gradient (every coefficient, then the intercepts) at the artifact's coefficients."""
    classes = art["classes"]
    W, b = np.array(art["coef"]), np.array(art["intercept"])
    Y = (np.asarray(y)[:, None] == np.array(classes)[None, :]).astype(float)
    if len(classes) == 2:
        R = expit(X @ W.T + b)[:, :1] - Y[:, 1:]
    else:
        R = softmax(X @ W.T + b, axis=1) - Y
    return np.concatenate([(C * X.T @ R + W.T).ravel(), C * R.sum(axis=0)])


def check_stationary(what, art, X, y, C=1.0):
    zero = dict(art, coef=np.zeros_like(art["coef"]).tolist(), intercept=[0.0] * len(art["intercept"]))
    ratio = np.max(np.abs(gradient(art, X, y, C))) / np.max(np.abs(gradient(zero, X, y, C)))
    check(ratio < 1e-10, f"{what}: the largest gradient component is {ratio:.2g} of the first's (< 1e-10)")


# a column constant in the training rows, beside the (unpenalised) intercept: the optimum gives it 0,
# and the probability is the share of positives, which an objective flat to 1e-15 cannot tell apart
yc = (np.arange(1000) < 290).astype(int)
query(conn, "CREATE TABLE const_col AS SELECT 3.0::float8 AS x, t AS target FROM unnest(%s::int[]) t", (yc.tolist(),))
got, art, spec, n = train("const_col", "const_col", "logistic")
check_stationary("logistic with a constant column", art, np.full((1000, 1), 3.0), yc)
p = expit(3.0 * art["coef"][0][0] + art["intercept"][0])
check(close(p, yc.mean(), rel=1e-12), f"logistic with a constant column: probability {p!r} is the share of positives {yc.mean()!r}")
for target in ("label", "kind"):
    art = query(conn, """SELECT convert_from(v.artifact, 'UTF8')::jsonb FROM mlops.model_version v
                           JOIN mlops.model m ON m.id = v.model_id WHERE m.name = %s""", (f"synth_{target}",))[0][0]
    check_stationary(f"synthetic logistic ({target})", art, X, [r[target] for r in rows])
for table in ("breast_cancer", "wine"):
    cols = [r[0] for r in query(conn, """SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass
                                          AND attnum > 0 AND attname <> 'target' ORDER BY attnum""", (table,))]
    trows = rows_of(table, cols + ["target"])
    for C in (1.0, 0.05):
        (art, spec), = query(conn, """SELECT convert_from(v.artifact, 'UTF8')::jsonb, v.spec FROM mlops.model_version v
                                        JOIN mlops.model m ON m.id = v.model_id WHERE m.name = %s""", (f"{table}_{C}",))
        check_stationary(f"{table} logistic C={C}", art, design(spec, trows), [r["target"] for r in trows], C)

# features far from 0 (1e9 + noise): the intercept is not penalised, so the coefficients are those of the
# centred features; the raw columns, nearly collinear with the intercept's ones, left Newton's method at
# the all-but-zero model (log_loss 0.69 instead of 0.11, no warning)
rng = np.random.default_rng(7)
Xo = rng.normal(size=(300, 3))
yo = (Xo @ [1, -1, 0.5] > 0).astype(int)
query(conn, """CREATE TABLE offset_cols AS SELECT 1e9 + a AS a, 1e9 + b AS b, 1e9 + c AS c, t AS target
                 FROM unnest(%s::float8[], %s::float8[], %s::float8[], %s::int[]) AS u(a, b, c, t)""",
      (Xo[:, 0].tolist(), Xo[:, 1].tolist(), Xo[:, 2].tolist(), yo.tolist()))
got, art, spec, n = train("offset_cols", "offset_cols", "logistic")
ref = LogisticRegression(solver="newton-cg", tol=1e-12, max_iter=1000).fit(Xo, yo)
check(rel_close(art["coef"], ref.coef_, 1e-4),
      f"logistic on features offset by 1e9: coefficients equal sklearn's on the centred features ({art['coef']})")

# --- with a split: exact stratification for classification, categories of the training rows
(version, m), = query(conn, "SELECT version, metrics FROM mlops.train('synth_split', 'synth', 'label', 'logistic', features => %s)",
                      (feats,))
(train_rows, test_rows, spec), = query(conn, """SELECT v.train_rows, v.test_rows, v.spec FROM mlops.model_version v
                                          JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'synth_split'""")
labels = [r["label"] for r in rows]
expected_test = sum(int(np.floor(0.2 * labels.count(c) + 0.5)) for c in set(labels))
check(train_rows + test_rows == N and test_rows == expected_test,
      f"synthetic logistic split: {test_rows} test rows = sum of round(0.2 x class size)")
check(set(m) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}, "synthetic logistic split: binary metrics")
query(conn, "SELECT version FROM mlops.train('synth_split_r', 'synth', 'y', 'ridge', features => %s)", (feats,))
(train_rows, test_rows), = query(conn, """SELECT v.train_rows, v.test_rows FROM mlops.model_version v
                                          JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'synth_split_r'""")
check(train_rows + test_rows == N and 0.1 * N < test_rows < 0.3 * N,
      f"synthetic ridge split (categorical inputs, two passes): {train_rows} + {test_rows} rows")

# --- a regression over numeric inputs is streamed in one pass: NULLs first met in a
# --- late batch are imputed with the mean of every training row all the same
late_nulls = """SELECT g::float8 AS a, (g % 13)::float8 AS b,
                       CASE WHEN g > 40000 AND g % 997 = 0 THEN NULL ELSE sqrt(g) END AS c,
                       g % 7 + 0.5 * sqrt(g) AS y
                  FROM generate_series(1, 45000) g"""
got, art, spec, n = train("stream", late_nulls, "ridge", features=["a", "b", "c"], target="y")
rows = [dict(zip(["a", "b", "c", "y"], r)) for r in query(conn, late_nulls)]
c_values = [r["c"] for r in rows if r["c"] is not None]
check(n == 45000 and close(spec["inputs"][2]["impute"], float(np.mean(c_values)), 1e-12),
      "streamed regression: a NULL first met in the 5th batch is imputed with the mean of all training rows")
X = design(spec, rows)
yl = np.array([r["y"] for r in rows])
check(rel_close(art["coef"][0], Ridge(alpha=1.0).fit(X, yl).coef_, 1e-6), "streamed regression: coefficients equal sklearn's")
check_regression_metrics("streamed regression", got, yl, score(art, X))
# --- nearly collinear features: the normal equations square the condition number, and lost ~1e-16 / rcond
# --- of the coefficients (7e-6 at rcond 3e-11, 1e-4 at 3e-12); train() refines the solution with passes
# --- over the rows (residuals in twice the working precision) and agrees with sklearn's lstsq to 1e-6
rng = np.random.default_rng(5)
x1 = rng.normal(size=200)
for noise, ridge_alpha in ((1e-5, 0.0), (3e-6, 0.0), (3e-6, 1e-9)):
    x2 = x1 + noise * rng.normal(size=200)
    x3 = rng.normal(size=200)
    yn = x1 + 2 * x2 + x3 + 0.1 * rng.normal(size=200)
    Xn = np.column_stack([x1, x2, x3])
    Xc = Xn - Xn.mean(axis=0)
    gram = Xc.T @ Xc + ridge_alpha * np.eye(3)
    scaled = gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
    w = np.linalg.eigvalsh(scaled)
    name = f"near_collinear_{noise:g}_{ridge_alpha:g}".replace("-", "m").replace(".", "_")
    query(conn, f"DROP TABLE IF EXISTS near_collinear; CREATE TABLE near_collinear AS SELECT * FROM "
                f"unnest(%s::float8[], %s::float8[], %s::float8[], %s::float8[]) AS t(x1, x2, x3, target)",
          (x1.tolist(), x2.tolist(), x3.tolist(), yn.tolist()))
    if ridge_alpha == 0:
        got, art, spec, n = train(name, "near_collinear", "linear")
        ref = LinearRegression().fit(Xn, yn)
    else:
        got, art, spec, n = train(name, "near_collinear", "ridge", f'{{"alpha": {ridge_alpha}}}')
        ref = Ridge(alpha=ridge_alpha, solver="svd").fit(Xn, yn)
    check(1e-12 < w[0] / w[-1] < 1e-10, f"{name}: reciprocal condition {w[0] / w[-1]:.2g} of the scaled system")
    check(rel_close(art["coef"][0], ref.coef_, 1e-6) and rel_close(art["intercept"][0], ref.intercept_, 1e-6),
          f"{name}: coefficients {art['coef'][0]} and intercept equal sklearn's {ref.coef_.tolist()} to 1e-6")
    check_regression_metrics(name, got, yn, score(art, Xn))
# --- a large table is read from its first block: a scan that could join another running scan of it
# --- (synchronize_seqscans) would sum the rows in another order and change the last digits
query(conn, "CREATE TABLE big (a float8, b float8, c float8, y float8) WITH (fillfactor = 10)")
query(conn, "INSERT INTO big SELECT sin(g), cos(g), sqrt(g), sin(g) * 3 + cos(g) / 7 + sqrt(g) * 1e-3 + sin(g * 7) "
            "FROM generate_series(1, 300000) g")
check(query(conn, "SELECT pg_relation_size('big') / 8192 > setting::int / 4 FROM pg_settings WHERE name = 'shared_buffers'")[0][0],
      "the table is larger than a quarter of shared_buffers (the size at which scans synchronise)")


def big_model(name):
    query(conn, f"SELECT version FROM mlops.train('{name}', 'big', 'y', 'linear', test_fraction => 0)")
    return bytes(query(conn, f"SELECT mlops.export_model('{name}')")[0][0])


alone = big_model("big_alone")
other = connect("test_linear")
query(other, "BEGIN")
query(other, "DECLARE half NO SCROLL CURSOR FOR SELECT * FROM big")
query(other, "FETCH 150000 FROM half")
joined = big_model("big_joined")
query(other, "COMMIT")
check(alone == joined, "a training while another scan of the table is half way gives the same model, bit for bit")
finish()
