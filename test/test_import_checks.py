#!/usr/bin/python3
"""import_model reads the artifact with mlops's own reader (JSON, or UBJ) before
libxgboost sees it. A hand-edited document whose categorical split is not listed
in its tree's categories_nodes is loaded by libxgboost 1.7, which then aborts the
process writing it out (Python's too): it is refused with XX001 and the session
(the server) lives on. So are the other documents libxgboost loads unchecked and then crashes
on or scores otherwise (parents, children, features, tree_info, num_trees, weights out of range,
trees too deep). Models XGBoost writes still import, in both formats —
among them a pruned one whose root, turned into a leaf, keeps its categorical
type — and hostile or truncated UBJ is refused, never read out of bounds. The same documents
registered by hand (a trainer may call _register_version itself) are refused, with the same
errors, by the first predict of their version, which libxgboost otherwise aborted or crashed
(but for the depth limit, which is import_model's: train grows trees as deep as it is told)."""
import copy
import json
import struct

import numpy as np
import psycopg2
import xgboost as xgb

from mlops_test import check, connect, expect_error, finish, fresh_database, query

conn = fresh_database("test_import_checks", datasets=False)
feats = ["c", "x"]

# --- a UBJSON writer that mirrors XGBoost 1.7's (UBJWriter, src/common/json.cc) ---------------
# Tree arrays are typed ([$<type>#L<count> + big-endian elements), as XGBoost writes them.
TYPED = {"loss_changes": "d", "sum_hessian": "d", "base_weights": "d", "split_conditions": "d",
         "left_children": "l", "right_children": "l", "parents": "l", "split_indices": "l",
         "categories": "l", "categories_nodes": "l", "categories_segments": "L",
         "categories_sizes": "L", "default_left": "U", "split_type": "U"}
PACK = {"d": ">f", "l": ">i", "L": ">q", "U": ">B"}


def ubj_key(s):
    b = s.encode()
    return b"L" + struct.pack(">q", len(b)) + b


def ubj_int(i):
    if -128 < i < 127:
        return b"i" + struct.pack(">b", i)
    if -32768 < i < 32767:
        return b"I" + struct.pack(">h", i)
    if -2 ** 31 < i < 2 ** 31 - 1:
        return b"l" + struct.pack(">i", i)
    return b"L" + struct.pack(">q", i)


def ubj(v, key=None, typed=True):
    """UBJ of v; typed=False writes every array untyped, as libxgboost also reads them (a split_type
    of 257 then fits)."""
    if isinstance(v, dict):
        return b"{" + b"".join(ubj_key(k) + ubj(x, k, typed) for k, x in v.items()) + b"}"
    if isinstance(v, list):
        if key in TYPED and typed:
            t = TYPED[key]
            return b"[$" + t.encode() + b"#L" + struct.pack(">q", len(v)) + b"".join(struct.pack(PACK[t], x) for x in v)
        return b"[#L" + struct.pack(">q", len(v)) + b"".join(ubj(x, None, typed) for x in v)
    if isinstance(v, bool):
        return b"T" if v else b"F"
    if isinstance(v, int):
        return ubj_int(v)
    if isinstance(v, float):
        return b"d" + struct.pack(">f", v)
    if isinstance(v, str):
        return b"S" + ubj_key(v)
    if v is None:
        return b"Z"
    raise TypeError(type(v))


# --- models -----------------------------------------------------------------------------------
rng = np.random.default_rng(7)
X = np.column_stack([rng.integers(0, 6, 600), rng.normal(size=600)]).astype(np.float32)
y = (X[:, 0] % 2) * 3 + X[:, 1] * 0.5 + rng.normal(size=600) * 0.01
dm = xgb.DMatrix(X, label=y, feature_types=["c", "q"], enable_categorical=True)
base = {"tree_method": "hist", "max_cat_to_onehot": 1, "max_depth": 2, "nthread": 1}
cat_tree = xgb.train(base, dm, 2)
cat_dart = xgb.train({**base, "booster": "dart", "rate_drop": 0.3, "seed": 1}, dm, 3)
# a model pruned back to its root: the root, now a leaf, keeps its categorical type and categories
deep = xgb.train({**base, "max_depth": 3}, dm, 2)
pruned = xgb.train({"process_type": "update", "updater": "prune", "gamma": 1e9, "nthread": 1}, dm, 2, xgb_model=deep)

doc = json.loads(cat_tree.save_raw("json"))
check(ubj(doc) == bytes(cat_tree.save_raw("ubj")),
      "the test's UBJ writer reproduces XGBoost's save_raw('ubj') byte for byte")
pruned_doc = json.loads(pruned.save_raw("json"))
pt = pruned_doc["learner"]["gradient_booster"]["model"]["trees"][0]
check(pt["left_children"][0] == -1 and pt["split_type"][0] == 1 and pt["categories_nodes"] == [0],
      "XGBoost writes a pruned root as a leaf that keeps its categorical type")


def imp(name, raw, fmt):
    return query(conn, "SELECT mlops.import_model(%s, %s, %s, %s, 'regression')",
                 (name, psycopg2.Binary(raw), f"xgboost-{fmt}", feats))[0][0]


# JSON may start with white space: libxgboost 1.7 could not parse past it ("basic_string::_M_replace_aux")
spaced = imp("spaced", b" \n\t" + bytes(cat_tree.save_raw("json")), "json")
unspaced = imp("unspaced", bytes(cat_tree.save_raw("json")), "json")
check(query(conn, "SELECT mlops.predict_version('spaced', %s, ARRAY[1, 0.5]), "
                  "mlops.predict_version('unspaced', %s, ARRAY[1, 0.5])", (spaced, unspaced))[0] == (
      query(conn, "SELECT mlops.predict_version('unspaced', %s, ARRAY[1, 0.5])", (unspaced,))[0][0],) * 2,
      "a JSON model imported with white space before it scores as without")


# A trainer can register a version's bytes itself, as train and import_model do (_register_version):
# scoring loads them with import_model's checks, or the first predict of a version holding one of the
# documents below aborted or crashed the backend in libxgboost (and the server restarted).
query(conn, "CREATE ROLE import_checks_trainer; GRANT mlops_trainer TO import_checks_trainer")
trainer = connect("test_import_checks")
query(trainer, "SET ROLE import_checks_trainer")


def register_by_hand(raw, task="regression", nclasses=0, features=feats):
    """Registers raw as version of model "hand" (xgboost-ubj) as a trainer may, calling
    _register_version itself; returns its reference."""
    classes = "(SELECT array_agg(g::float8) FROM generate_series(0, %s - 1) g)" if nclasses else "%s"
    version = query(trainer, "SELECT mlops._register_version('hand', 'xgboost', %s, %s, NULL, " + classes +
                    ", '{}', '{}', '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, %s, 'xgboost-ubj')",
                    (task, features, nclasses or None, psycopg2.Binary(raw)))[0][0]
    return f"hand:{version}"


def hand_registered(raw, sqlstate, what, detail_has=None, task="regression", nclasses=0, features=feats):
    """Registers raw by hand: its predict, explain and export_model refused with sqlstate (the
    message holding detail_has), its report without importance, the session alive."""
    ref, row = register_by_hand(raw, task, nclasses, features), [1.0] * len(features)
    msg = expect_error(trainer, "SELECT mlops.predict(%s, %s::float8[])", sqlstate, (ref, row))
    check(msg is not None and (detail_has is None or detail_has in msg),
          f"{what}, registered by hand: predict refuses it with {sqlstate}: {msg and msg.splitlines()[-1]}")
    check(msg is not None and f'CONTEXT:  loading version {ref.split(":")[1]} of model "hand"' in msg,
          f"{what}, registered by hand: the error names the version it loaded")
    expect_error(trainer, "SELECT mlops.explain(%s, %s::float8[])", sqlstate, (ref, row))
    expect_error(trainer, "SELECT mlops.export_model(%s)", sqlstate, (ref,))
    report = query(trainer, "SELECT mlops.report(%s)", (ref,))[0][0]
    check(msg is not None and "The importance could not be computed from the version&#39;s artifact: " +
          msg.splitlines()[0].split(":  ", 1)[-1] in report,
          f"{what}, registered by hand: its report says why it has no importance")
    check(query(trainer, "SELECT 1") == [(1,)], f"{what}, registered by hand: the same connection still works")


def refused(name, d, sqlstate, what, detail_has=None, by_hand=True):
    """Imports document d as JSON and as UBJ: both refused with sqlstate, the session alive; so is
    (by_hand) the first predict of a version of its UBJ registered by hand."""
    for fmt, raw in (("json", json.dumps(d).encode()), ("ubj", ubj(d))):
        msg = expect_error(conn, "SELECT mlops.import_model(%s, %s, %s, %s, 'regression')", sqlstate,
                           (name, psycopg2.Binary(raw), f"xgboost-{fmt}", feats))
        check(msg is not None and (detail_has is None or detail_has in msg),
              f"{what} ({fmt}): refused with {sqlstate}: {msg and msg.splitlines()[-1]}")
        check(query(conn, "SELECT 1") == [(1,)], f"{what} ({fmt}): the same connection still works")
    if by_hand:
        hand_registered(ubj(d), sqlstate, what, detail_has)


def model_of(d):
    """The tree model of a document (dart keeps it in its gbtree)."""
    gb = d["learner"]["gradient_booster"]
    return (gb["gbtree"] if gb["name"] == "dart" else gb)["model"]


def trees_of(d):
    return model_of(d)["trees"]


def drop_first_category(d):
    d = copy.deepcopy(d)
    t = trees_of(d)[0]
    for k in ("categories_nodes", "categories_segments", "categories_sizes"):
        del t[k][0]
    return d


# --- the backend-aborting document, gbtree and dart, JSON and UBJ -----------------------------
refused("broken", drop_first_category(doc), "XX001",
        "a categorical split not listed in categories_nodes", "categorical split that categories_nodes does not list")
refused("broken", drop_first_category(json.loads(cat_dart.save_raw("json"))), "XX001",
        "dart: a categorical split not listed in categories_nodes", "categories_nodes does not list")

# --- other inconsistent categorical splits ----------------------------------------------------
d = copy.deepcopy(doc)
t = trees_of(d)[0]
t["split_type"] = [0] * len(t["split_type"])
refused("broken", d, "XX001", "categories_nodes lists a numerical node", "not a categorical split")
# two categorical splits (nodes 0 and 2 of tree 0): valid as written, refused listed in reverse
two = copy.deepcopy(doc)
t = trees_of(two)[0]
check(t["left_children"][0] > 0 and t["left_children"][2] > 0 and t["split_type"][2] == 0, "tree 0 splits at nodes 0 and 2")
t["split_type"][2] = 1
t["split_indices"][2] = 0
t["split_conditions"][2] = float("nan")
t["categories_nodes"].append(2)
t["categories_segments"].append(len(t["categories"]))
t["categories_sizes"].append(1)
t["categories"].append(1)
check(imp("two", json.dumps(two).encode(), "json") == 1 and imp("two", ubj(two), "ubj") == 2,
      "a hand-edited document with two categorical splits, consistent, imports (json and ubj)")
d = copy.deepcopy(two)
t = trees_of(d)[0]
for k in ("categories_nodes", "categories_segments", "categories_sizes"):
    t[k].reverse()
refused("broken", d, "XX001", "categories_nodes out of order (libxgboost would skip some)", "not in ascending order")
d = copy.deepcopy(doc)
trees_of(d)[0]["categories_sizes"][0] = 0
refused("broken", d, "XX001", "a categorical split with no categories")
d = copy.deepcopy(doc)
trees_of(d)[0]["categories_segments"][0] = 2 ** 31 - 2
trees_of(d)[0]["categories_sizes"][0] = 5
refused("broken", d, "XX001", "categories beyond the categories array (no int32 overflow)")
check(query(conn, "SELECT count(*) FROM mlops.model WHERE name = 'broken'") == [(0,)], "nothing registered by the refused imports")

# --- trees whose shape libxgboost 1.7 relies on without checking ---------------------------------
# Each of these documents was loaded by libxgboost, which then crashed the backend (a parent out of
# range at import; a child -2^31, a feature or output group out of range at prediction), or was
# scored differently from XGBoost (children not a consecutive pair: its predictor takes left + 1).
num = xgb.DMatrix(X, label=y)
reg = xgb.train({"max_depth": 2, "nthread": 1}, num, 3)
reg_dart = xgb.train({"booster": "dart", "max_depth": 2, "rate_drop": 0.3, "seed": 1, "nthread": 1}, num, 3)
linear = xgb.train({"booster": "gblinear", "nthread": 1}, num, 2)
binary = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1}, xgb.DMatrix(X, label=X[:, 1] > 0), 2)
reg_doc, dart_doc = json.loads(reg.save_raw("json")), json.loads(reg_dart.save_raw("json"))
rows = np.vstack([X[:20], [[np.nan, 0.5], [1.0, np.nan]]]).astype(np.float32)


def edited(d, edit):
    d = copy.deepcopy(d)
    edit(d, trees_of(d)[0])
    return d


def set_at(key, i, v):
    return lambda d, t: t[key].__setitem__(i, v)


def swap_children(d, t):
    t["left_children"][0], t["right_children"][0] = t["right_children"][0], t["left_children"][0]


def share_children(d, t):
    t["left_children"][2], t["right_children"][2] = t["left_children"][1], t["right_children"][1]


check(reg_doc["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"][:3] == [1, 3, 5],
      "the regression model's first tree splits at nodes 0, 1 and 2")
for what, d, detail in (
        ("a parent beyond the tree (libxgboost read it at import)", edited(reg_doc, set_at("parents", 3, 10 ** 6)), "parent"),
        ("a negative parent", edited(reg_doc, set_at("parents", 1, -5)), "parent"),
        ("a dart tree's parent beyond the tree", edited(dart_doc, set_at("parents", 4, 2 ** 31 - 1)), "parent"),
        ("a split whose left child is -2^31 (libxgboost walked to it)", edited(reg_doc, set_at("left_children", 1, -2 ** 31)), "has children"),
        ("a leaf with a right child", edited(reg_doc, set_at("right_children", 3, 4)), "has children"),
        ("children swapped (XGBoost's predictor takes left + 1)", edited(reg_doc, lambda d, t: swap_children(d, t)), "consecutive"),
        ("two splits sharing their children", edited(reg_doc, lambda d, t: share_children(d, t)), "as their parent"),
        ("a child pointing back at the root (a cycle)", edited(reg_doc, set_at("right_children", 1, 0)), "has children"),
        ("a dart split on a feature beyond num_feature (libxgboost read beyond the row)",
         edited(dart_doc, set_at("split_indices", 0, 2 ** 28)), "num_feature 2"),
        ("a dart tree in output group 5 of 1 (libxgboost wrote beyond the predictions)",
         edited(dart_doc, lambda d, t: model_of(d)["tree_info"].__setitem__(0, 5)), "output group 5"),
        ("a dart tree_info shorter than the trees", edited(dart_doc, lambda d, t: model_of(d)["tree_info"].pop()), "one entry per tree"),
        ("two trees of id 0 (libxgboost left tree 1's slot empty and crashed writing the model out)",
         edited(reg_doc, lambda d, t: trees_of(d)[1].__setitem__("id", 0)), "Tree 1 of the trees array does not have id 1"),
        ("trees numbered out of order (libxgboost reorders them, away from tree_info)",
         edited(dart_doc, lambda d, t: (t.__setitem__("id", 1), trees_of(d)[1].__setitem__("id", 0))), "Tree 0"),
        ("a tree without an id", edited(reg_doc, lambda d, t: trees_of(d)[2].pop("id")), "Tree 2"),
):
    refused("broken", d, "XX001", what, detail)


# libxgboost keeps the low byte of a split_type: 257 (or -255) made a split categorical that the checks
# took for a numerical one, and writing the model out then failed (38000)
for v in (257, -255):
    d = copy.deepcopy(reg_doc)
    t = trees_of(d)[0]
    t["split_type"] = [0] * len(t["left_children"])
    t["split_type"][0] = v
    msg = expect_error(conn, "SELECT mlops.import_model('broken', %s, 'xgboost-json', %s, 'regression')", "XX001",
                       (psycopg2.Binary(json.dumps(d).encode()), feats))
    check(msg is not None and f"split_type {v}" in msg, f"a split of split_type {v}: refused with XX001: {msg}")
    hand_registered(ubj(d, typed=False), "XX001", f"a split of split_type {v}", f"split_type {v}")


def set_param(key, v):
    return lambda d, t: model_of(d)["gbtree_model_param"].__setitem__(key, v)


for what, d, detail in (
        ("num_trees beyond the trees (libxgboost read that many)", edited(dart_doc, set_param("num_trees", "4")), "num_trees 4"),
        ("num_trees short of the trees", edited(reg_doc, set_param("num_trees", "2")), "num_trees 2"),
        # XGBoost predicts whole rounds of num_parallel_tree trees: it would leave the third tree out
        ("3 trees in rounds of num_parallel_tree 2", edited(reg_doc, set_param("num_parallel_tree", "2")), "whole rounds"),
        ("dart with a weight_drop missing (every prediction then failed)",
         edited(dart_doc, lambda d, t: d["learner"]["gradient_booster"]["weight_drop"].pop()), "weight_drop"),
        ("a categorical dart tree with an empty split_type (libxgboost read beyond it)",
         edited(json.loads(cat_dart.save_raw("json")), lambda d, t: t.__setitem__("split_type", [])), "different lengths"),
):
    refused("broken", d, "XX001", what, detail)

# libxgboost read num_target -1 as 2^32 - 1 targets: a multiclass model then failed to write out (38000)
multi = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "nthread": 1},
                  xgb.DMatrix(X, label=X[:, 0] % 3), 2)
d = json.loads(multi.save_raw("json"))
d["learner"]["learner_model_param"]["num_target"] = "-1"
refused("broken", d, "XX001", "a multiclass model with num_target -1", "num_target")
# and num_target 2: libxgboost loaded it, then failed to write out its configuration (38000)
d["learner"]["learner_model_param"]["num_target"] = "2"
refused("broken", d, "XX001", "a multiclass model with num_target 2", "multiclass multi-output")

# libxgboost multiplies num_parallel_tree by the outputs in 32 bits and divides the trees by the
# product: 2^30 trees per round of 4 classes (a model of no trees) wrapped to 0, a SIGFPE in libxgboost,
# which PostgreSQL's handler turned into an error by jumping out of libxgboost's frames (22P01)
def no_trees(classes, **gbtree_params):
    """The multiclass model with its trees taken out, declaring `classes` classes."""
    d = json.loads(multi.save_raw("json"))
    model_of(d).update(trees=[], tree_info=[],
                       gbtree_model_param=dict(model_of(d)["gbtree_model_param"], num_trees="0", **gbtree_params))
    d["learner"]["learner_model_param"]["num_class"] = str(classes)
    d["learner"]["objective"]["softmax_multiclass_param"]["num_class"] = str(classes)
    return d


d = no_trees(4, num_parallel_tree=str(2 ** 30))
for fmt, raw in (("json", json.dumps(d).encode()), ("ubj", ubj(d))):
    msg = expect_error(conn, "SELECT mlops.import_model('broken', %s, %s, %s, 'classification')", "XX001",
                       (psycopg2.Binary(raw), f"xgboost-{fmt}", feats))
    check(msg is not None and "trees per round" in msg,
          f"num_parallel_tree 2^30 times 4 classes ({fmt}): refused with XX001: {msg}")
hand_registered(ubj(d), "XX001", "num_parallel_tree 2^30 times 4 classes", "trees per round",
                "classification", 4)

# A model of no trees can have any num_class: 10^7 classes over 300 features imported, then the first
# predict overflowed the int sizing a row's buffers ((300 + 1) * 10^7 values) and crashed the backend
d = no_trees(10 ** 7)
d["learner"]["learner_model_param"]["num_feature"] = "300"
msg = expect_error(conn, "SELECT mlops.import_model('many', %s, 'xgboost-json', %s, 'classification')", "54000",
                   (psycopg2.Binary(json.dumps(d).encode()), [f"f{i}" for i in range(300)]))
check(msg is not None and "too many outputs" in msg, f"10^7 classes over 300 features: refused with 54000: {msg}")
check(query(conn, "SELECT count(*) FROM mlops.model WHERE name = 'many'") == [(0,)], "and not registered")
hand_registered(ubj(d), "54000", "10^7 classes over 300 features", "too many outputs", "classification", 10 ** 7,
                [f"f{i}" for i in range(300)])
# and so is a binary classifier of 10^7 targets (import_model refuses any multi-output model; scoring
# sizes a row's buffers by the outputs, num_class or num_target)
d = json.loads(binary.save_raw("json"))
model_of(d).update(trees=[], tree_info=[], gbtree_model_param=dict(model_of(d)["gbtree_model_param"], num_trees="0"))
d["learner"]["learner_model_param"].update(num_feature="300", num_target=str(10 ** 7))
hand_registered(ubj(d), "54000", "10^7 targets over 300 features", "too many outputs", "classification", 10 ** 7,
                [f"f{i}" for i in range(300)])

# A version registered without import_model's check (_register_version, which mlops_trainer may call;
# a shard's _install_version) is refused where it is loaded: (100000 + 1) * 21475 values overflowed
# the int sizing a row's buffers, which then held none, and the first predict crashed the backend;
# (100000 + 1) * 2700 values asked palloc for more than 1 GB (XX000)
for classes in (2700, 21475):
    d = no_trees(classes)
    d["learner"]["learner_model_param"]["num_feature"] = "100000"
    query(conn, """SELECT mlops._register_version(%s, 'xgboost', 'classification',
                         (SELECT array_agg('f' || i ORDER BY i) FROM generate_series(1, 100000) i), 'y',
                         (SELECT array_agg(c::float8 ORDER BY c) FROM generate_series(0, %s - 1) c), '{}', '{}',
                         jsonb_build_object('inputs', (SELECT jsonb_agg(jsonb_build_object('name', 'f' || i, 'kind', 'numeric')
                                                                        ORDER BY i) FROM generate_series(1, 100000) i)),
                         NULL, NULL, NULL, NULL, NULL, NULL, NULL, %s, 'xgboost-ubj')""",
          (f"wide{classes}", classes, psycopg2.Binary(ubj(d))))
    for call in ("predict", "predict_proba", "explain"):
        msg = expect_error(conn, f"SELECT mlops.{call}('wide{classes}', array_fill(0::float8, ARRAY[100000]))", "54000")
        check(msg is not None and "too many outputs for its features" in msg,
              f"{call} of 100000 features and {classes} classes, registered unchecked: refused with 54000: {msg}")

d = json.loads(binary.save_raw("json"))
d["learner"]["learner_model_param"]["base_score"] = "2"
msg = expect_error(conn, "SELECT mlops.import_model('broken', %s, 'xgboost-json', %s, 'classification')", "XX001",
                   (psycopg2.Binary(json.dumps(d).encode()), feats))
check(msg is not None and "base_score" in msg, f"binary:logistic with base_score 2 (libxgboost failed to write it out): {msg}")

d = copy.deepcopy(pruned_doc)
trees_of(d)[0]["parents"][-1] = 10 ** 6
check(trees_of(d)[0]["left_children"] == [-1] * len(trees_of(d)[0]["left_children"]), "the pruned tree's other nodes are deleted")
refused("broken", d, "XX001", "a deleted node's parent beyond the tree", "not a node of the tree")


def chain(depth):
    """The regression model with its first tree a chain of `depth` splits (2 depth + 1 nodes)."""
    d = copy.deepcopy(reg_doc)
    t = trees_of(d)[0]
    n = 2 * depth + 1
    t.update(left_children=[-1] * n, right_children=[-1] * n, parents=[2 ** 31 - 1] + [0] * (n - 1),
             split_indices=[1] * n, split_conditions=[float(k % 5) / 10 for k in range(n)], default_left=[1] * n,
             base_weights=[0.5] * n, sum_hessian=[1.0] * n, loss_changes=[0.0] * n, split_type=[0] * n)
    for k in range(depth):
        t["left_children"][2 * k], t["right_children"][2 * k] = 2 * k + 1, 2 * k + 2
        t["parents"][2 * k + 1] = t["parents"][2 * k + 2] = 2 * k
    t["tree_param"]["num_nodes"] = str(n)
    return d


# explain keeps a path per level of a tree, in memory up to the square of its depth (3 GB per call at
# depth 20000 over as many features). Trees up to 1024 deep import; deeper ones are refused.
refused("broken", chain(1025), "XX001", "a tree 1025 levels deep", "1025 levels deep", by_hand=False)
# the limit is import_model's: train grows trees as deep as it is told, and scoring loads them
check(query(trainer, "SELECT mlops.predict(%s, '{1, 0.5}'::float8[]) IS NOT NULL",
            (register_by_hand(ubj(chain(1025))),)) == [(True,)], "a tree 1025 levels deep registered by hand scores")
d = chain(1024)
imp("deep", json.dumps(d).encode(), "json")
deep = xgb.Booster(model_file=bytearray(json.dumps(d).encode()))
ours = np.array([query(conn, "SELECT mlops.predict('deep', %s::float8[])", ([float(v) for v in r],))[0][0]
                 for r in rows], dtype=np.float32)
check(np.array_equal(ours, deep.predict(xgb.DMatrix(rows))), "a tree 1024 levels deep imports and scores as XGBoost does")
e = query(conn, "SELECT mlops.explain('deep', %s::float8[])", ([float(v) for v in rows[0]],))[0][0]
shap = deep.predict(xgb.DMatrix(rows[:1]), pred_contribs=True)[0]
check(np.allclose([e["contributions"]["c"], e["contributions"]["x"], e["bias"]], shap, rtol=1e-6),
      f"and explains as XGBoost does ({e})")

d = json.loads(linear.save_raw("json"))
d["learner"]["gradient_booster"]["model"]["weights"].pop()
refused("broken", d, "XX001", "gblinear with a weight missing (libxgboost read beyond its weights)", "weights")
d = json.loads(linear.save_raw("json"))
d["learner"]["gradient_booster"]["model"]["boosted_rounds"] = -1
refused("broken", d, "XX001", "gblinear with negative boosted_rounds (libxgboost took them as its rounds)",
        "boosted_rounds")
d = copy.deepcopy(doc)
trees_of(d)[0]["categories"][0] = 2 ** 24
refused("broken", d, "XX001", "a category beyond XGBoost's largest, 2^24 - 1", "categories are 0 to 16777215")
check(query(conn, "SELECT count(*) FROM mlops.model WHERE name = 'broken'") == [(0,)], "nothing registered by these either")

# A NaN threshold on a numerical split: XGBoost sends every value right (not x < NaN), and so must
# the compiled trees; a missing value still goes the default way.
d = edited(reg_doc, set_at("split_conditions", 0, float("nan")))
nan_booster = xgb.Booster(model_file=bytearray(json.dumps(d).encode()))
imp("nan_threshold", json.dumps(d).encode(), "json")
ours = np.array([query(conn, "SELECT mlops.predict('nan_threshold', %s::float8[])", ([float(v) for v in r],))[0][0]
                 for r in rows], dtype=np.float32)
check(np.array_equal(ours, nan_booster.predict(xgb.DMatrix(rows))), "a NaN threshold scores as XGBoost does")

# A NaN leaf of a binary:logistic model: XGBoost's sigmoid keeps the margin NaN (std::min(-x, 88.7f)
# returns the NaN), so P is NaN, not 3e-39.
d = json.loads(binary.save_raw("json"))
t = trees_of(d)[0]
t["split_conditions"][t["left_children"].index(-1)] = float("nan")
nan_leaf = xgb.Booster(model_file=bytearray(json.dumps(d).encode()))
query(conn, "SELECT mlops.import_model('nan_leaf', %s, 'xgboost-json', %s, 'classification')",
      (psycopg2.Binary(json.dumps(d).encode()), feats))
ours = np.array([query(conn, "SELECT (mlops.predict_proba('nan_leaf', %s::float8[]))[2]", ([float(v) for v in r],))[0][0]
                 for r in rows], dtype=np.float64)
theirs = nan_leaf.predict(xgb.DMatrix(rows)).astype(np.float64)
check(np.isnan(theirs).any() and np.array_equal(np.isnan(ours), np.isnan(theirs)) and
      np.array_equal(ours[~np.isnan(ours)], theirs[~np.isnan(theirs)]),
      f"a NaN leaf gives P = NaN as XGBoost does ({np.isnan(ours).sum()} rows)")

# Category sets take a bit per category up to the largest: 130 splits on category 2^24 - 1 would
# take 260 MB (in libxgboost too); refused at 256 MB with XX001, not at 1 GB with an internal error.
d = copy.deepcopy(doc)
model = d["learner"]["gradient_booster"]["model"]
t = model["trees"][0]
t["categories"][t["categories_segments"][0]] = 2 ** 24 - 1
model["trees"] = [dict(copy.deepcopy(t), id=i) for i in range(130)]
model["tree_info"] = [0] * 130
model["gbtree_model_param"]["num_trees"] = "130"
refused("broken", d, "XX001", "category sets beyond 256 MB", "more than 256 MB")

# --- hostile and truncated UBJ: 22023, no read outside the bytes ------------------------------
raw = bytes(cat_tree.save_raw("ubj"))
cuts = sorted(set(list(range(1, 64)) + list(range(64, len(raw), max(1, len(raw) // 60)))))
bad = []
for cut in cuts:
    try:
        imp("trunc", raw[:cut], "ubj")
        bad.append((cut, "accepted"))
    except psycopg2.Error as e:
        if e.pgcode != "22023":
            bad.append((cut, e.pgcode))
check(not bad, f"{len(cuts)} truncations of a UBJ model: each refused with 22023 ({bad[:5]})")
huge = b"{" + ubj_key("learner") + b"[$l#L" + struct.pack(">q", 2 ** 62) + b"\0\0\0\1}"
expect_error(conn, "SELECT mlops.import_model('h', %s, 'xgboost-ubj', %s, 'regression')", "22023", (psycopg2.Binary(huge), feats))
huge_key = b"{L" + struct.pack(">q", -1) + b"x}"
expect_error(conn, "SELECT mlops.import_model('h', %s, 'xgboost-ubj', %s, 'regression')", "22023", (psycopg2.Binary(huge_key), feats))
deep_nest = b"{" + ubj_key("a") + b"[" * 100000 + b"]" * 100000 + b"}"
expect_error(conn, "SELECT mlops.import_model('h', %s, 'xgboost-ubj', %s, 'regression')", "XX001", (psycopg2.Binary(deep_nest), feats))
expect_error(conn, "SELECT mlops.import_model('h', %s, 'xgboost-ubj', %s, 'regression')", "22023", (psycopg2.Binary(raw + b"x"), feats))
expect_error(conn, "SELECT mlops.import_model('h', %s, 'xgboost-json', %s, 'regression')", "22023",
             (psycopg2.Binary(bytes(cat_tree.save_raw("json")).replace(b'"learner"', b'"le\xffrner"')), feats))
# a field given twice in one object: the reader took in both values, libxgboost only one (the last
# in JSON, the first in UBJ): tree_info [] then [0, 0, 0] passed as three entries, and the UBJ one
# crashed the backend in libxgboost
info = model_of(reg_doc)["tree_info"]
for what, second in (("tree_info given twice", info), ("tree_info given twice, the second empty", [])):
    text = json.dumps(reg_doc)
    check(text.count('"tree_info": ') == 1, "the regression model has one tree_info")
    text = text.replace('"tree_info": ', '"tree_info": %s, "tree_info": ' % json.dumps(second))
    once = ubj_key("tree_info") + ubj(info, "tree_info")
    binary_doc = ubj(reg_doc).replace(once, ubj_key("tree_info") + ubj(second, "tree_info") + once)
    for fmt, raw_doc in (("json", text.encode()), ("ubj", binary_doc)):
        msg = expect_error(conn, "SELECT mlops.import_model('h', %s, %s, %s, 'regression')", "XX001",
                           (psycopg2.Binary(raw_doc), f"xgboost-{fmt}", feats))
        check(msg is not None and 'field "tree_info" twice' in msg, f"{what} ({fmt}): refused with XX001: {msg}")
# a gradient booster with both a model and a gbtree: the reader took in the trees of both, libxgboost
# only those of one (model for gbtree, gbtree for dart); a tree_info cut short in that one, made up in
# the other, crashed the backend in libxgboost (UBJ)
def split_tree_info(d, t):
    gb = d["learner"]["gradient_booster"]
    model = model_of(d)
    rest = {"tree_info": model["tree_info"][1:]}
    if gb["name"] == "dart":
        gb["model"] = rest
    else:
        gb["gbtree"] = {"model": rest}
    model["tree_info"] = model["tree_info"][:1]


for what, d in (("gbtree", edited(reg_doc, split_tree_info)), ("dart", edited(dart_doc, split_tree_info))):
    refused("broken", d, "XX001", f"{what}: a tree_info split between the booster's model and its gbtree",
            'both a "model" and a "gbtree"')
# a UBJ key with a zero byte: the reader saw the key up to it ("split_type"), libxgboost the whole
# ("split_type\0", a field it does not know): 22023, as a zero byte in a JSON document
nul_key = ubj(reg_doc).replace(ubj_key("split_type"), b"L" + struct.pack(">q", 11) + b"split_type\0")
msg = expect_error(conn, "SELECT mlops.import_model('h', %s, 'xgboost-ubj', %s, 'regression')", "22023",
                   (psycopg2.Binary(nul_key), feats))
check(msg is not None and "zero byte" in msg, f"a UBJ key holding a zero byte: refused with 22023: {msg}")
# a UBJ string that is not UTF-8: libxgboost kept the feature name "x\xff" and export_model wrote it
# into its JSON, which then was not UTF-8: 22023, as a JSON document that is not UTF-8
named = copy.deepcopy(reg_doc)
named["learner"].update(feature_names=["c", "x"], feature_types=["q", "q"])
latin = ubj(named).replace(b"S" + ubj_key("x"), b"SL" + struct.pack(">q", 2) + b"x\xff")
check(latin != ubj(named), "the UBJ document names a feature x\\xff")
msg = expect_error(conn, "SELECT mlops.import_model('h', %s, 'xgboost-ubj', %s, 'regression')", "22023",
                   (psycopg2.Binary(latin), feats))
check(msg is not None and "not valid UTF-8" in msg, f"a UBJ feature name that is not UTF-8: refused with 22023: {msg}")
hand_registered(latin, "22023", "a UBJ feature name that is not UTF-8", "not valid UTF-8")
check(query(conn, "SELECT 1") == [(1,)], "the server lives after the hostile documents")

# --- what XGBoost writes still imports, in both formats, and scores as XGBoost does -----------
gblinear = xgb.train({"booster": "gblinear", "nthread": 1}, xgb.DMatrix(X, label=y), 3)
for name, booster in (("cat", cat_tree), ("cat_dart", cat_dart), ("pruned", pruned), ("linear", gblinear)):
    for fmt in ("json", "ubj"):
        v = imp(name, bytes(booster.save_raw(fmt)), fmt)
        check(v >= 1, f"{name} imports as xgboost-{fmt} (version {v})")
    ours = np.array([query(conn, "SELECT mlops.predict(%s, %s::float8[])", (name, [float(a), float(b)]))[0][0]
                     for a, b in X[:40]], dtype=np.float64)
    peer = booster.predict(xgb.DMatrix(X[:40], feature_types=["c", "q"], enable_categorical=True)) \
        if name != "linear" else booster.predict(xgb.DMatrix(X[:40]))
    check(np.array_equal(ours.astype(np.float32), peer), f"{name}: scores equal XGBoost's after import")
# a model the exact method grew, then pruned by gamma: its trees keep the deleted nodes (leaves of
# a split turned leaf), which pass the shape checks
partly = xgb.train({"tree_method": "exact", "gamma": 0.5, "max_depth": 6, "nthread": 1}, num, 5)
partly_trees = trees_of(json.loads(partly.save_raw("json")))
check(sum(int(t["tree_param"]["num_deleted"]) for t in partly_trees) > 0 and len(partly_trees[0]["left_children"]) > 3,
      "the exact method pruned some splits of its trees and kept others")
for fmt in ("json", "ubj"):
    v = imp("partly", bytes(partly.save_raw(fmt)), fmt)
    ours = np.array([query(conn, "SELECT mlops.predict('partly', %s::float8[])", ([float(a), float(b)],))[0][0]
                     for a, b in X[:40]], dtype=np.float64)
    check(v >= 1 and np.array_equal(ours.astype(np.float32), partly.predict(xgb.DMatrix(X[:40]))),
          f"the pruned model imports as xgboost-{fmt} and scores as XGBoost does")
# A UBJ document written by the test's writer from edited-then-restored JSON imports as well
check(imp("cat_ubj_rewritten", ubj(json.loads(cat_tree.save_raw("json"))), "ubj") == 1,
      "a UBJ document of the same dialect (the test's writer) imports")

# --- memory: what libxgboost frees goes back to the system -----------------------------------
# Parsing a model, libxgboost mallocs several times the document and frees it; glibc would keep
# that in the backend (its trim threshold grows with the largest block freed) until the session
# ends: about 200 MB for this 23 MB forest.
rng = np.random.default_rng(1)
deep_x = rng.normal(size=(20000, 2))
deep = xgb.train({"max_depth": 10, "tree_method": "hist", "nthread": 1},
                 xgb.DMatrix(deep_x, label=deep_x[:, 0] + np.sin(deep_x[:, 1] * 3)), 1)
forest = json.loads(deep.save_raw("json"))
model = forest["learner"]["gradient_booster"]["model"]
model["trees"] = [dict(model["trees"][0], id=i) for i in range(400)]
model["tree_info"] = [0] * 400
model["gbtree_model_param"]["num_trees"] = "400"
forest_raw = json.dumps(forest).encode()
backend = query(conn, "SELECT pg_backend_pid()")[0][0]


def backend_anon_mb():
    """The backend's resident anonymous memory (its heap), in MB."""
    with open(f"/proc/{backend}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon")) / 1024


before = backend_anon_mb()
imp("forest", forest_raw, "json")
grown = backend_anon_mb() - before
check(grown < 100, f"importing a {len(forest_raw) / 1e6:.0f} MB model leaves the backend {grown:.0f} MB bigger (< 100)")

finish()
