#!/usr/bin/python3
"""The HTML reports in a real browser: headless Chromium (Debian's `chromium`)
loads mlops.report_experiment() and mlops.report() pages from files, and the
test checks the DOM it built (sections, one non-empty SVG per expected plot, no
script element even where every name is `<script>alert(1)</script>`, the notes
that replace plots where data is missing), that nothing overflows a 375px-wide
window, that the browser logged no error, and takes screenshots. The pages are
also parsed as XML (well-formed XHTML). A residual plot's markers (one path of
round-capped zero-length subpaths) are rendered and compared, pixel by pixel,
with the same dots drawn as <circle> elements.

Models trained by mlops.train on the embedded datasets (linear, logistic,
XGBoost) and monitored on a shifted copy show the test-split, importance and
drift sections; their numbers are checked against the bars' tooltips: total
gain and mean |SHAP| against Python XGBoost on the exported model, scaled
|coef| against the artifact and the profile, drift fractions against numpy.

Set MLOPS_REPORT_SCREENSHOTS=DIR to keep the pages and screenshots in DIR."""
import os
import shutil
import subprocess
import tempfile
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from html import unescape
from html.parser import HTMLParser

import numpy as np
import psycopg2
import xgboost as xgb

from mlops_test import check, finish, fresh_database, query

EVIL = "<script>alert(1)</script>"
CHROMIUM = shutil.which("chromium")
check(CHROMIUM is not None, "chromium is installed (scripts/install-deps installs it)")
if CHROMIUM is None:
    finish()

conn = fresh_database("test_report_browser")

# An experiment: three finished runs with per-iteration metrics, one failed run.
runs = []
for depth in (3, 4, 5):
    run = query(conn, "SELECT mlops.start_run('churn-tuning', %s, %s, '{\"owner\": \"ana\"}')",
                (f"depth-{depth}", f'{{"max_depth": {depth}, "eta": 0.1}}'))[0][0]
    query(conn, """SELECT mlops.log_metric(%(r)s, 'train-rmse', 60 * exp(-i / (10.0 + %(d)s)) + 30 - %(d)s, i),
                          mlops.log_metric(%(r)s, 'test-rmse', 60 * exp(-i / (10.0 + %(d)s)) + 40 - %(d)s + i * %(d)s / 25.0, i)
                     FROM generate_series(0, 59) i""", {"r": run, "d": depth})
    query(conn, "SELECT mlops.log_metrics(%s, %s, 60), mlops.end_run(%s)",
          (run, f'{{"r2": {0.4 + depth / 50}, "rmse": {50 - depth}}}', run))
    runs.append(run)
failed = query(conn, "SELECT mlops.start_run('churn-tuning', 'depth-9', '{\"max_depth\": 9}')")[0][0]
query(conn, "SELECT mlops.log_metric(%s, 'r2', 'NaN'), mlops.end_run(%s, 'failed')", (failed, failed))

# A model: three versions trained by those runs, moves, a rollback, a gated promotion and a refused one.
for v, run in enumerate(runs, 1):
    query(conn, """SELECT mlops._register_version('churn', 'xgboost', 'regression', '{tenure,charges}', 'churned',
                   NULL, '{}', %s, '{}', NULL, %s, 'customers', 800, 200, 0, 'fp', %s, 'linear-json')""",
          (f'{{"r2": {0.4 + v / 20}, "rmse": {50 - v}, "mae": {40 - 1.5 * v}}}', run, bytes([v])))
query(conn, "SELECT mlops.set_alias('churn', 'staging', 3)")
query(conn, "SELECT mlops.set_alias('churn', 'production', 2)")
query(conn, """SELECT mlops._move_alias(mlops._model_id('churn'), 'production', 3, 'promote', 'gate passed',
               '{"promoted": true, "metric": "rmse", "candidate": 47, "incumbent": 48}')""")
query(conn, "SELECT mlops.rollback('churn')")
query(conn, """INSERT INTO mlops.deployment (model_id, alias, action, from_version, to_version, reason, gate, by)
               VALUES (mlops._model_id('churn'), 'production', 'refused', 2, 3, 'rmse not better',
                       '{"promoted": false, "metric": "rmse", "candidate": 48.5, "incumbent": 48}', 'ci')""")

# Bad input: a model with one version and no run; an experiment of a run without per-iteration
# metrics; an experiment without runs.
query(conn, """SELECT mlops._register_version('solo', 'linear', 'regression', '{x}', 'y', NULL, '{}', '{"r2": 0.5}',
               '{}', NULL, NULL, 't', 10, 0, 0, 'fp', '\\x00', 'linear-json')""")
flat = query(conn, "SELECT mlops.start_run('flat', 'once')")[0][0]
query(conn, "SELECT mlops.log_metric(%s, 'r2', 0.7), mlops.end_run(%s)", (flat, flat))
query(conn, "INSERT INTO mlops.experiment (name, created_by) VALUES ('empty', 'nobody')")

# Every user-supplied name is hostile: experiment, run, param, metric, tag, feature, target, description.
evil_run = query(conn, "SELECT mlops.start_run(%s, %s, %s, %s)",
                 (EVIL, EVIL, f'{{"{EVIL}": "{EVIL}"}}', f'{{"{EVIL}": "{EVIL}"}}'))[0][0]
query(conn, "SELECT mlops.log_metric(%s, %s, i, i) FROM generate_series(1, 5) i", (evil_run, EVIL))
query(conn, "SELECT mlops.end_run(%s)", (evil_run,))
query(conn, """SELECT mlops._register_version('evil', 'linear', 'regression', %s, %s, NULL, '{}', %s, '{}', NULL,
               %s, 't', 10, 0, 0, 'fp', '\\x00', 'linear-json')""",
      ([EVIL, "b"], EVIL, f'{{"{EVIL}": 1}}', evil_run))
query(conn, "SELECT mlops._register_version('evil', 'linear', 'regression', '{b}', 'y', NULL, '{}', %s, '{}', NULL, "
            "NULL, 't', 10, 0, 0, 'fp', '\\x01', 'linear-json')", (f'{{"{EVIL}": 2}}',))
query(conn, "UPDATE mlops.model SET description = %s WHERE name = 'evil'", (EVIL,))

# Models trained by train(): a linear regression monitored on a shifted copy of its data, an XGBoost
# classifier never monitored, a multiclass logistic model, a model with a hostile feature name (monitored),
# and an imported XGBoost model (no source, no profile, no run).
query(conn, "SELECT mlops.train('diabetes-lin', 'diabetes', 'target', 'linear')")
query(conn, """SELECT mlops.train('cancer-xgb', 'breast_cancer', 'target', 'xgboost',
               hyperparams => '{"n_estimators": 15, "max_depth": 3}')""")
query(conn, "SELECT mlops.train('wine-logistic', 'wine', 'target', 'logistic')")
query(conn, """CREATE TABLE diabetes_shifted AS
               SELECT age + 15 AS age, sex, bmi * 1.2 AS bmi, bp, s1, s2, s3, s4, s5, s6, target FROM diabetes""")
query(conn, "SELECT mlops.create_monitor('diabetes-drift', 'diabetes-lin', 'diabetes_shifted')")
query(conn, "SELECT mlops.run_monitor('diabetes-drift')")
query(conn, f'CREATE TABLE evil_data AS SELECT age AS "{EVIL}", bmi, target FROM diabetes')
query(conn, "SELECT mlops.train('evil-trained', 'evil_data', 'target', 'xgboost', hyperparams => '{\"n_estimators\": 5}')")
query(conn, "SELECT mlops.create_monitor('evil-drift', 'evil-trained', 'evil_data')")
query(conn, "SELECT mlops.run_monitor('evil-drift')")
rng = np.random.default_rng(7)
Xi = rng.normal(size=(200, 3))
outside = xgb.train({"nthread": 1, "max_depth": 2, "objective": "reg:squarederror"},
                    xgb.DMatrix(Xi, label=Xi[:, 0] * 2 + Xi[:, 1]), 5)
query(conn, "SELECT mlops.import_model('outside', %s, 'xgboost-ubj', '{a,b,c}', 'regression')",
      (psycopg2.Binary(bytes(outside.save_raw("ubj"))),))

keep = os.environ.get("MLOPS_REPORT_SCREENSHOTS")
workdir = keep or tempfile.mkdtemp(prefix="mlops-report-test.")
os.makedirs(workdir, exist_ok=True)


def chromium(args, url):
    """Runs headless Chromium with a fresh profile; returns (stdout, stderr)."""
    profile = tempfile.mkdtemp(prefix="mlops-chromium.")
    try:
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", "--enable-logging=stderr", "--v=0",
                               f"--user-data-dir={profile}", *args, url],
                              capture_output=True, text=True, timeout=120)
        return done.stdout, done.stderr
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class Dom(HTMLParser):
    """What the checks need from a DOM dump: elements by section, the text, scripts."""

    def __init__(self):
        super().__init__()
        self.section = None
        self.sections = {}      # id -> {"svgs": [data elements per svg], "notes": [...], "tables": n}
        self.scripts = 0
        self.text = []
        self.in_note = False
        self.body_attrs = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "body":
            self.body_attrs = a
        if tag == "section":
            self.section = a.get("id")
            self.sections[self.section] = {"svgs": [], "notes": [], "tables": 0}
        if self.section is None:
            return
        sec = self.sections[self.section]
        if tag == "svg":
            sec["svgs"].append(0)
        elif tag == "table":
            sec["tables"] += 1
        elif tag == "p" and a.get("class") == "note":
            self.in_note = True
            sec["notes"].append("")
        elif sec["svgs"] and (
                (tag == "path" and "series" in a.get("class", "").split() and len(a.get("d", "")) > 3)
                or (tag == "rect" and a.get("class") == "bar"
                    and float(a.get("width", 0)) > 0 and float(a.get("height", 0)) > 0)):
            sec["svgs"][-1] += 1

    def handle_endtag(self, tag):
        if tag == "section":
            self.section = None
        if tag == "p":
            self.in_note = False

    def handle_data(self, data):
        self.text.append(data)
        if self.in_note and self.section:
            self.sections[self.section]["notes"][-1] += data


def load(name, sql, params):
    """Writes a report to NAME.html, checks it is well-formed XML, loads it in the
    browser; returns the parsed DOM dump."""
    html = query(conn, sql, params)[0][0]
    path = os.path.join(workdir, name + ".html")
    with open(path, "w", encoding="ascii") as f:
        f.write(html)
    try:
        ET.fromstring(html)
        well_formed = True
    except ET.ParseError as e:
        well_formed = str(e)
    check(well_formed is True, f"{name}: the page is well-formed XML ({well_formed})")
    out, err = chromium(["--dump-dom", "--window-size=1200,3000"], "file://" + path)
    console = [line for line in err.splitlines() if "CONSOLE" in line or "Refused" in line]
    check(not console, f"{name}: the browser logged no console message or refused load ({console[:2]})")
    dom = Dom()
    dom.feed(out)
    check("<body" in out and dom.sections, f"{name}: the browser built the page ({len(out)} characters of DOM)")
    check(dom.scripts == 0, f"{name}: the DOM has no script element")
    return dom


def plots(dom, section):
    """Number of SVG plots in a section, and whether each has data elements drawn."""
    svgs = dom.sections.get(section, {}).get("svgs", [])
    return len(svgs), all(n > 0 for n in svgs)


def layout_at_375(name):
    """Loads the page, unchanged, in a 375px-wide frame of a probe page (Chromium
    keeps its windows at least 500px wide); returns (page width, rightmost edge of
    an SVG) as laid out in the frame."""
    probe = os.path.join(workdir, name + "-probe.html")
    with open(probe, "w") as f:
        f.write(f"""<!DOCTYPE html><html><body style="margin:0">
<iframe id="frame" src="{name}.html" style="width:375px;height:2000px;border:0"></iframe>
<script>window.addEventListener("load", function () {{
  var d = document.getElementById("frame").contentDocument;
  document.body.setAttribute("data-width", d.documentElement.scrollWidth);
  document.body.setAttribute("data-svg", Math.max(0, ...Array.from(d.querySelectorAll("svg"))
                                                     .map(s => s.getBoundingClientRect().right)));
  document.body.setAttribute("data-text-out", Array.from(d.querySelectorAll("svg text")).filter(t => {{
      var box = t.getBoundingClientRect(), svg = t.ownerSVGElement.getBoundingClientRect();
      return box.left < svg.left - 0.5 || box.right > svg.right + 0.5; }}).length);
}});</script></body></html>""")
    out, _ = chromium(["--dump-dom", "--allow-file-access-from-files"], "file://" + probe)
    dom = Dom()
    dom.feed(out)
    return float(dom.body_attrs.get("data-width", "inf")), float(dom.body_attrs.get("data-svg", "inf"))


def labels_outside(name):
    """The number of chart labels (svg text) that run past their chart's left or right edge, laid
    out as layout_at_375 lays the page out."""
    probe = os.path.join(workdir, name + "-probe.html")
    out, _ = chromium(["--dump-dom", "--allow-file-access-from-files"], "file://" + probe)
    dom = Dom()
    dom.feed(out)
    return float(dom.body_attrs.get("data-text-out", "inf"))


# The experiment report: best run, runs side by side, one history chart per metric.
exp = load("experiment", "SELECT mlops.report_experiment('churn-tuning')", None)
check(list(exp.sections) == ["best-run", "runs", "metric-history"], f"experiment sections {list(exp.sections)}")
check(plots(exp, "best-run") == (1, True), f"experiment: one bar chart of the best metric, drawn {plots(exp, 'best-run')}")
check(exp.sections["runs"]["tables"] == 1, "experiment: the runs table")
check(plots(exp, "metric-history") == (2, True), f"experiment: test-rmse and train-rmse charts, drawn {plots(exp, 'metric-history')}")
text = "".join(exp.text)
check("depth-5 (#3) \u2605 best" in text, "experiment: the best run by r2 (depth-5) is highlighted")

# The model report: versions, learning curve, deployment timeline with gate outcomes.
model = load("model", "SELECT mlops.report('churn')", None)
check(list(model.sections) == ["versions", "learning-curve", "test-split", "importance", "drift", "deployments"],
      f"model sections {list(model.sections)}")
check(plots(model, "versions") == (3, True), f"model: mae, r2, rmse across versions, drawn {plots(model, 'versions')}")
check(plots(model, "learning-curve") == (1, True), f"model: the rmse learning curve (train and test), drawn {plots(model, 'learning-curve')}")
check(plots(model, "deployments") == (1, True), f"model: the deployment timeline, drawn {plots(model, 'deployments')}")
text = "".join(model.text)
check("promoted: rmse candidate 47 vs incumbent 48" in text, "model: the promotion's gate outcome is shown")
check("refused: rmse candidate 48.5 vs incumbent 48" in text, "model: the refused promotion's gate outcome is shown")
check("This report features version 2 (churn@production)" in text, "model: the production version is featured")



def tooltips(html, section, caption):
    """{category: value} (or {(category, series): value}) of the bar chart under a caption in a section."""
    sec = re.search(f'<section id="{section}">.*?</section>', html, re.S).group(0)
    svg = re.search(re.escape(f"<figcaption>{caption}</figcaption>") + ".*?</svg>", sec, re.S)
    values = {}
    for title in re.findall(r'<rect class="bar"[^>]*><title>([^<]*)</title>', svg.group(0) if svg else ""):
        label, value = unescape(title).rsplit(": ", 1)
        parts = label.rsplit(", ", 1)
        values[tuple(parts) if len(parts) == 2 and parts[1] in ("current", "reference (v1)") else label] = float(value)
    return values


def close(ours, theirs, rel):
    """Same keys, every value within rel (relative) or 1e-9 (absolute)."""
    return ours.keys() == theirs.keys() and all(abs(ours[k] - theirs[k]) <= rel * abs(theirs[k]) + 1e-9 for k in ours)


# An XGBoost classifier: ROC and PR curves, total gain and mean |SHAP| as Python XGBoost computes them.
cancer = load("cancer", "SELECT mlops.report('cancer-xgb')", None)
check(plots(cancer, "test-split") == (2, True), f"xgboost: ROC and precision-recall curves, drawn {plots(cancer, 'test-split')}")
check(plots(cancer, "importance") == (2, True), f"xgboost: gain and mean |SHAP| charts, drawn {plots(cancer, 'importance')}")
check(plots(cancer, "drift")[0] == 0 and any("never been monitored" in n for n in cancer.sections["drift"]["notes"]),
      "never monitored: said in place of the drift histograms")
html = query(conn, "SELECT mlops.report('cancer-xgb')")[0][0]
test_rows = query(conn, "SELECT test_rows FROM mlops.model_versions WHERE name = 'cancer-xgb'")[0][0]
check(f": {test_rows} test rows (test_fraction 0.2, seed 42)." in html,
      f"xgboost: the test split has the {test_rows} rows train() held out")
booster = xgb.Booster(model_file=bytearray(bytes(query(conn, "SELECT mlops.export_model('cancer-xgb')")[0][0])))
features = query(conn, "SELECT features FROM mlops.model_versions WHERE name = 'cancer-xgb'")[0][0]
gain = booster.get_score(importance_type="total_gain")
gain = {f: gain.get(f, gain.get(f"f{i}", 0.0)) for i, f in enumerate(features)}
ours = tooltips(html, "importance", "Total gain")
check(close(ours, gain, 1e-5), f"xgboost: total gain per feature as XGBoost's get_score ({len(ours)} features)")
rows = np.array(query(conn, f"SELECT {', '.join(features)} FROM breast_cancer LIMIT 500"), dtype=np.float32)
contribs = booster.predict(xgb.DMatrix(rows, feature_names=booster.feature_names), pred_contribs=True)
shap = dict(zip(features, np.abs(contribs[:, :-1]).mean(axis=0).tolist()))
ours = tooltips(html, "importance", "Mean |SHAP| over the first 500 rows of the source")
check(close(ours, shap, 1e-4), f"xgboost: mean |SHAP| per feature as XGBoost's pred_contribs ({len(ours)} features)")

# A linear regression, monitored: residual plot, scaled |coef|, drift histograms of two series.
lin = load("linear", "SELECT mlops.report('diabetes-lin')", None)
check(plots(lin, "test-split") == (1, True), f"linear: the residual plot, drawn {plots(lin, 'test-split')}")
check(plots(lin, "importance") == (2, True), f"linear: |coef| and mean |SHAP| charts, drawn {plots(lin, 'importance')}")
check(plots(lin, "drift") == (10, True), f"linear: one histogram per feature, drawn {plots(lin, 'drift')}")
check(lin.sections["drift"]["tables"] == 1, "linear: the table of drift metrics")
html = query(conn, "SELECT mlops.report('diabetes-lin')")[0][0]
artifact, profile = query(conn, """SELECT convert_from(v.artifact, 'UTF8')::jsonb, v.profile FROM mlops.model_version v
                                    JOIN mlops.model m ON m.id = v.model_id WHERE m.name = 'diabetes-lin'""")[0]
std = {f["name"]: f["std"] for f in profile["features"]}
expected = {t: abs(c) * std[t] for t, c in zip(artifact["terms"], artifact["coef"][0])}
ours = tooltips(html, "importance", "|coef| x std of the term")
check(close(ours, expected, 1e-5), f"linear: |coef| x std per term from the artifact and the profile ({len(ours)} terms)")
ref = next(f for f in profile["features"] if f["name"] == "age")
current = np.array([r[0] for r in query(conn, "SELECT age FROM diabetes_shifted")], dtype=np.float64)
inner = np.array(ref["edges"][1:-1])
counts = np.bincount(np.searchsorted(inner, current, side="left"), minlength=len(inner) + 1)
ours = tooltips(html, "drift", "age (reference deciles)")
check(len(ours) == 2 * len(ref["fractions"]) and
      [v for (_, s), v in ours.items() if s.startswith("reference")] == [float(f"{x:.6g}") for x in ref["fractions"]] and
      np.allclose([v for (_, s), v in ours.items() if s == "current"], counts / len(current), rtol=1e-5),
      f"linear: the age histogram holds the reference fractions and the shifted data's, bin by bin ({len(ours)} bars)")
check("<td class=\"refused\">drifted</td>" in html, "linear: the drifted features are marked in the drift table")

# A multiclass logistic model: one ROC and one precision-recall curve per class.
wine = load("wine", "SELECT mlops.report('wine-logistic')", None)
check(plots(wine, "test-split") == (2, True), f"logistic: one-vs-rest ROC and precision-recall charts, drawn {plots(wine, 'test-split')}")
check("".join(wine.text).count("class 2") >= 2, "logistic: a curve per class, in the legends")

# A hostile feature name, trained, explained and monitored: text everywhere it appears.
evil_trained = load("evil-trained", "SELECT mlops.report('evil-trained')", None)
text = "".join(evil_trained.text)
check(all(plots(evil_trained, s)[0] > 0 and plots(evil_trained, s)[1] for s in ("test-split", "importance", "drift")),
      "hostile feature: test split, importance and drift plots drawn")
check(text.count(EVIL) >= 5, f"hostile feature: its name appears as text ({text.count(EVIL)} times)")

# An imported model: no source, no run, no profile, never monitored; said in place of each plot.
outside = load("imported", "SELECT mlops.report('outside')", None)
notes = {s: " ".join(outside.sections[s]["notes"]) for s in outside.sections}
check(plots(outside, "test-split")[0] == 0 and "not trained by mlops.train" in notes["test-split"],
      "imported: no test split, said in place")
check(plots(outside, "importance") == (1, True) and "records no source" in notes["importance"],
      "imported: the gain chart, and a note in place of mean |SHAP|")
check(plots(outside, "drift")[0] == 0 and "never been monitored" in notes["drift"], "imported: never monitored, said")



def path_dots(d):
    """The dots of a markers path ("M x y h0 m dx dy h0 ..."), in absolute viewBox units."""
    dots, x, y = [], 0.0, 0.0
    for cmd, dx, dy in re.findall(r"([Mm])(-?[0-9]*\.?[0-9]+) ?(-?[0-9]*\.?[0-9]+)h0", d):
        x, y = (float(dx), float(dy)) if cmd == "M" else (x + float(dx), y + float(dy))
        dots.append((x, y))
    return dots


def png_pixels(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB or RGBA PNG, as Chromium writes them."""
    with open(path, "rb") as f:
        data = f.read()
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for r in range(height):
        kind, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def render_svg(name, svg):
    """Screenshot of an SVG chart alone, 480 CSS pixels wide (one pixel per viewBox unit); its pixels."""
    page = os.path.join(workdir, name + ".html")
    with open(page, "w") as f:
        f.write('<!DOCTYPE html><html><body style="margin:0;background:#fff">'
                '<style>svg{display:block;width:480px;height:auto}</style>' + svg + "</body></html>")
    png = os.path.join(workdir, name + ".png")
    chromium([f"--screenshot={png}", "--window-size=480,340", "--force-device-scale-factor=1", "--hide-scrollbars"],
             "file://" + page)
    return png_pixels(png)


# The residual plot's markers render as dots: the path of zero-length round-capped subpaths draws what
# one <circle> per dot drew (the same pixels but for anti-aliasing), a dot in the marker's colour at each.
html = query(conn, "SELECT mlops.report('diabetes-lin')")[0][0]
svg = re.search(r"<figcaption>Residuals</figcaption>(<svg.*?</svg>)", html, re.S).group(1)
markers = re.search(r'<path class="series markers" fill="none" stroke="(#[0-9a-f]{6})" stroke-width="6" '
                    r'stroke-linecap="round" d="([^"]*)"/>', svg)
dots = path_dots(markers.group(2)) if markers else []
check(len(dots) > 50 and len(set(dots)) == len(dots),
      f"linear: the residual plot's markers are one path, one subpath per distinct position ({len(dots)} dots)")
colour = tuple(int(markers.group(1)[i:i + 2], 16) for i in (1, 3, 5)) if markers else (0, 0, 0)
circles = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{markers.group(1)}"/>' for x, y in dots)
_, _, drawn = render_svg("residuals-path", svg)
_, _, reference = render_svg("residuals-circles", svg.replace(markers.group(0), circles) if markers else svg)
differ = sum(1 for a, b in zip(drawn, reference) for p, q in zip(a, b) if max(abs(i - j) for i, j in zip(p, q)) > 96)
coloured = sum(1 for row in reference for p in row if max(abs(i - j) for i, j in zip(p, colour)) <= 24)
centred = sum(1 for x, y in dots if max(abs(i - j) for i, j in zip(drawn[int(y)][int(x)], colour)) <= 24)
check(coloured > 10 * len(dots) and differ <= coloured // 20,
      f"linear: the dots render as the circles did ({differ} of {coloured} marker pixels differ)")
check(centred >= 0.9 * len(dots), f"linear: a dot in the marker colour at {centred} of {len(dots)} positions")

# Narrow window: nothing wider than the window except inside the scrolled table boxes.
for name in ("experiment", "model", "linear"):
    width, svg_right = layout_at_375(name)
    check(width <= 375, f"{name}: the page does not overflow a 375px window (scroll width {width})")
    check(svg_right <= 375, f"{name}: every chart fits in a 375px window (rightmost edge {svg_right})")

# Long names without a space wrap in the paragraphs that name them (the best run's line, the notes):
# a run name of 250 characters made the experiment page 2900px wide, a model reference of 128 + 60 a
# note of the model page 2400px.
long_run = query(conn, "SELECT mlops.start_run('long-names', repeat('r', 250))")[0][0]
query(conn, "SELECT mlops.log_metric(%s, 'r2', 0.5), mlops.end_run(%s)", (long_run, long_run))
query(conn, """SELECT mlops._register_version(repeat('m', 128), 'linear', 'regression', '{x}', 'y', NULL, '{}',
               '{"r2": 0.5}', '{}', NULL, NULL, 't', 10, 0, 0, 'fp', '\\x00', 'linear-json')""")
query(conn, "SELECT mlops.set_alias(repeat('m', 128), repeat('s', 60), 1)")
for name, sql in (("long-run", "SELECT mlops.report_experiment('long-names')"),
                  ("long-metric", "SELECT mlops.report_experiment('long-names', repeat('n', 250))"),
                  ("long-model", "SELECT mlops.report(repeat('m', 128) || '@' || repeat('s', 60))")):
    load(name, sql, None)
    width, svg_right = layout_at_375(name)
    check(width <= 375 and svg_right <= 375,
          f"{name}: long names wrap within a 375px window (scroll width {width}, rightmost chart edge {svg_right})")

# Chart labels stay inside their chart: a bar label is right-aligned 140 units from the edge, a legend entry
# has 200 units, the y axis label the plot's height; text estimated wider is squeezed into its room (twenty
# capitals of a run name, "20240115-0930-base-x" in bold, ran off the bar chart's left edge).
for name in ("Mixed-20240115-0930-base-x", "MMMMMMMMMMWWWWWWWWWWMMMMMMMMMMWWWWWWWWWW", "ALL CAPS METRIC NAME " * 3):
    run = query(conn, "SELECT mlops.start_run('wide-labels', %s)", (name,))[0][0]
    query(conn, "SELECT mlops.log_metric(%s, %s, i, i), mlops.log_metric(%s, 'r2', 0.5) FROM generate_series(1, 2) i",
          (run, name[:36], run))
    query(conn, "SELECT mlops.end_run(%s)", (run,))
load("wide-labels", "SELECT mlops.report_experiment('wide-labels')", None)
layout_at_375("wide-labels")
outside = labels_outside("wide-labels")
check(outside == 0, f"wide-labels: every chart label lies within its chart ({outside} run past an edge)")
for name in ("experiment", "model", "linear"):
    outside = labels_outside(name)
    check(outside == 0, f"{name}: every chart label lies within its chart ({outside} run past an edge)")

# Missing data is said in place of the plot.
solo = load("solo", "SELECT mlops.report('solo')", None)
check(plots(solo, "versions")[0] == 0 and any("one version" in n for n in solo.sections["versions"]["notes"]),
      "one version: said in place of the metrics-across-versions charts")
check(plots(solo, "learning-curve")[0] == 0 and any("not trained in a run" in n for n in solo.sections["learning-curve"]["notes"]),
      "no run: said in place of the learning curve")
flat_dom = load("flat", "SELECT mlops.report_experiment('flat')", None)
check(plots(flat_dom, "metric-history")[0] == 0
      and any("more than one step" in n for n in flat_dom.sections["metric-history"]["notes"]),
      "a run without per-iteration metrics: said in place of the history charts")
empty = load("empty", "SELECT mlops.report_experiment('empty')", None)
check(all(plots(empty, s)[0] == 0 and any("no runs" in n for n in empty.sections[s]["notes"])
          for s in ("best-run", "runs", "metric-history")), "an experiment without runs: said in every section")

# Hostile names render as text.
for name, sql in (("evil-experiment", "SELECT mlops.report_experiment(%s)"), ("evil-model", "SELECT mlops.report('evil')")):
    dom = load(name, sql, (EVIL,) if "%s" in sql else None)
    check("".join(dom.text).count(EVIL) >= 3, f"{name}: the hostile names appear as text ({''.join(dom.text).count(EVIL)} times)")
    check(sum(plots(dom, s)[0] for s in dom.sections) >= 1 and all(plots(dom, s)[1] for s in dom.sections),
          f"{name}: its plots are drawn")

# Screenshots: a wide window and a phone-sized one.
for name, size in (("experiment", "1200,3000"), ("model", "1200,3000"), ("model", "375,3000"),
                   ("linear", "1200,5000"), ("cancer", "375,5000")):
    png = os.path.join(workdir, f"{name}-{size.split(',')[0]}.png")
    chromium([f"--screenshot={png}", f"--window-size={size}"], "file://" + os.path.join(workdir, name + ".html"))
    check(os.path.exists(png) and os.path.getsize(png) > 20000, f"screenshot {os.path.basename(png)} taken")

if not keep:
    shutil.rmtree(workdir, ignore_errors=True)
finish()
