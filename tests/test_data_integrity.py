"""Data is never silently wrong (issue 26, class 2): missing cells read as pandas reads
them, one list; a duplicated CSV column refused wherever a header is read; a fitted
statistic that is not finite located at its transform, and check reading every cell;
id-like categories warned of; `data.exclude`; image caches keyed on what a rewrite
changes; unseen categories at predict named. One small CSV run serves the run tests."""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest

import specdl
import specdl.runs.inputs
import specdl.runs.predict
import specdl.sources  # noqa: F401 - registers read_csv
from specdl.components.trust import resolve
from specdl.errors import RunError, SpecError

# pandas' default na_values (pandas.read_csv's documentation), as written there
PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
             "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]

SPEC = """
name: churn
data:
  source: csv
  path: {path}
  target: churn
  categorical: [city, plan]
  exclude: [customer_id]
  transforms: [{{fill: mean}}, standardize]
model: {{layers: [{{linear: 8}}, relu, {{linear: 2}}]}}
train: {{epochs: 1, device: cpu}}
"""
PLAIN = SPEC.replace("  exclude: [customer_id]\n", "")  # a spec the parent commit reads too


def write_churn(path, n=60, blank=lambda i: i % 7 == 3, ids=True):
    rng = np.random.default_rng(0)
    lines = [("customer_id," if ids else "") + "tenure,monthly_charge,city,plan,churn"]
    for i in range(n):
        charge = "" if blank(i) else f"{rng.normal(50, 10):.2f}"
        lines.append((f"c{1000 + i}," if ids else "") + f"{i % 24},{charge},{['paris', 'lyon'][i % 2]},"
                     f"{['basic', 'pro', 'max'][i % 3]},{'yes' if i % 4 < 2 else 'no'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def spec_at(tmp_path, text=SPEC, **kw):
    write_churn(tmp_path / "d.csv", **kw)
    return specdl.load(text.format(path=tmp_path / "d.csv"))


def issues(spec) -> list:
    with pytest.raises(SpecError) as e:
        specdl.check(spec)
    return e.value.issues


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run on a CSV of categories and blanks (filled), without an id column."""
    root = tmp_path_factory.mktemp("integrity")
    spec = spec_at(root, PLAIN, ids=False)
    return specdl.train(spec, out=root / "run").run_dir


# -- missing cells: one list, pandas' na_values, any case, spaces stripped

def test_pandas_na_values_are_missing_in_any_case(tmp_path):
    cells = [*PANDAS_NA, "  n/A ", "Null", "?"]
    rows = "".join(f"{i},{c},{'a' if i % 2 else 'b'}\n" for i, c in enumerate(cells))
    (tmp_path / "m.csv").write_text("x,v,y\n" + rows)
    x, _, _ = resolve("read_csv")(str(tmp_path / "m.csv"), "y", ["x", "v"], [], True)
    assert np.isnan(x[:, 1]).all() and not np.isnan(x[:, 0]).any()
    (tmp_path / "t.csv").write_text("x,y\n1,a\n2,#N/A\n3,b\n")  # a target cell pandas reads as missing
    with pytest.raises(ValueError, match=r"target `y` has no value .* line\(s\) 3"):
        resolve("read_csv")(str(tmp_path / "t.csv"), "y", ["x"], [], True)


def test_evaluate_reads_a_missing_label_as_missing(run, tmp_path):
    write_churn(tmp_path / "e.csv")
    text = (tmp_path / "e.csv").read_text().splitlines()
    text[5] = text[5].rsplit(",", 1)[0] + ",N/A"
    (tmp_path / "e.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(RunError, match="line 6: the target `churn` has no value"):
        specdl.evaluate(run, tmp_path / "e.csv")


# -- a duplicated column name is refused wherever a header is read

def test_evaluate_refuses_the_target_twice(run, tmp_path):
    write_churn(tmp_path / "e.csv")
    lines = (tmp_path / "e.csv").read_text().splitlines()
    (tmp_path / "e.csv").write_text("\n".join(f"{r},{'no' if i else 'churn'}" for i, r in enumerate(lines)) + "\n")
    with pytest.raises(RunError, match="has two columns named `churn`; rename one"):
        specdl.evaluate(run, tmp_path / "e.csv")


@pytest.mark.parametrize("column", ["tenure", "customer_id", "other"])
def test_predict_and_keep_refuse_a_duplicated_column(run, tmp_path, column):
    write_churn(tmp_path / "p.csv")
    lines = (tmp_path / "p.csv").read_text().splitlines()
    lines = [f"{r},{column if i == 0 else '1'}" for i, r in enumerate(lines)]
    if column == "other":
        lines = [f"{r},{column if i == 0 else '2'}" for i, r in enumerate(lines)]
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    loaded = specdl.load_run(run)
    with pytest.raises(RunError, match=f"two columns named `{column}`"):
        loaded.predict(specdl.runs.inputs.read_inputs(loaded, tmp_path / "p.csv"))
    with pytest.raises(RunError, match=f"two columns named `{column}`"):
        specdl.runs.predict.kept_columns(loaded, tmp_path / "p.csv", ["city"])


def test_the_scripts_csv_reader_refuses_any_duplicated_column(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,b,y\n1,2,3,x\n4,5,6,z\n")
    with pytest.raises(ValueError, match="two columns named `b`"):
        resolve("read_csv")(str(tmp_path / "d.csv"), "y", ["a"], [], True)


# -- a fitted statistic that is not finite; check reads every cell

def test_fill_after_standardize_is_found_by_check(tmp_path):
    spec = spec_at(tmp_path, PLAIN.replace("[{{fill: mean}}, standardize]", "[standardize, {{fill: mean}}]"), ids=False)
    (issue,) = issues(spec)
    assert issue.path == ("data", "transforms", 0) and issue.line == 8, issue.render()
    assert "blank cells in `monthly_charge`" in issue.message and "put `fill` before `standardize`" in issue.message


def test_blank_cells_without_fill_are_found_by_check_on_a_regression(tmp_path):
    text = (PLAIN.replace("target: churn", "target: tenure").replace("[city, plan]", "[city, plan, churn]")
            .replace("  transforms: [{{fill: mean}}, standardize]\n", ""))
    spec = specdl.load(text.replace("linear: 2", "linear: 1").format(path=write_churn(tmp_path / "d.csv", ids=False)))
    (issue,) = issues(spec)
    assert issue.path == ("data", "transforms") and "blank cells in `monthly_charge`" in issue.message
    assert "d.csv line 5" in issue.message and "add `fill: mean`" in issue.message


def test_fit_transforms_refuses_a_statistic_that_is_not_finite():
    from specdl.components.transforms import FillSpec, MinMaxSpec, StandardizeSpec
    from specdl.runtime.prepare import fit_transforms

    x = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, 5.0]])
    for first in (StandardizeSpec(), MinMaxSpec()):
        with pytest.raises(ValueError, match=r"data.transforms\[0\] fitted a \w+ that is not finite for feature 0") as e:
            fit_transforms({"train": x}, [first.step(), FillSpec().step()])
        assert (e.value.group, e.value.index, e.value.feature) == ("transforms", 0, 0)
    splits, (fill, std) = fit_transforms({"train": x}, [FillSpec().step(), StandardizeSpec().step()])
    assert np.isfinite(splits["train"]).all() and fill["fill"][0] == 2.5
    given = FillSpec(value=float("-inf"))  # a number the spec gives is not fitted
    assert fit_transforms({"train": x}, [given.step()])[1][0]["fill"][0] == -np.inf


def test_build_locates_a_statistic_that_overflows(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,y\n" + "".join(f"{(-1) ** i * 1.5e308},{i},{i % 2}\n" for i in range(30)))
    spec = specdl.load(f"data: {{source: csv, path: {tmp_path / 'd.csv'}, target: y, task: classification, "
                       "transforms: [minmax]}\nmodel: {layers: [{linear: 2}]}\ntrain: {epochs: 1, device: cpu}\n")
    with pytest.raises(SpecError) as e:
        specdl.train(spec, out=tmp_path / "r")
    (issue,) = e.value.issues
    assert issue.path == ("data", "transforms", 0) and "span of `a`" in issue.message and "not finite" in issue.message
    (tmp_path / "t.csv").write_text("a,y\n" + "".join(f"{i},{(-1) ** i * 1.5e308}\n" for i in range(30)))
    spec = specdl.load(f"data: {{source: csv, path: {tmp_path / 't.csv'}, target: y, target_transforms: [standardize]}}"
                       "\nmodel: {layers: [{linear: 1}]}\ntrain: {epochs: 1, device: cpu}\n")
    with pytest.raises(SpecError) as e:
        specdl.train(spec, out=tmp_path / "r2")
    (issue,) = e.value.issues
    assert issue.path == ("data", "target_transforms", 0) and "targets is not finite" in issue.message


NPZ = "data: {source: npz, path: n.npz, transforms: [standardize, fill]}\nmodel: {layers: [{linear: 2}]}\n" \
      "train: {epochs: 1, device: cpu}\n"


def npz_with_nan(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 3))
    x[7, 1] = np.nan
    np.savez(tmp_path / "n.npz", x=x, y=np.arange(50) % 2)
    return specdl.load(NPZ.replace("n.npz", str(tmp_path / "n.npz")))


def test_build_locates_nan_before_fill_in_an_npz(tmp_path):
    with pytest.raises(SpecError) as e:
        specdl.train(npz_with_nan(tmp_path), out=tmp_path / "r")
    (issue,) = e.value.issues
    assert issue.path == ("data", "transforms", 0) and issue.component == "standardize"
    assert "NaN values in feature 1 (e.g. row 7" in issue.message and "put `fill` before `standardize`" in issue.message
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # a generated script run as a program
def test_the_script_refuses_what_build_refuses(tmp_path):
    import subprocess
    import sys

    (tmp_path / "script.py").write_text(specdl.codegen(npz_with_nan(tmp_path)))
    r = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1] == (
        "FitError: data.transforms[0] fitted a mean that is not finite for feature 1 (its train split holds NaN or "
        "infinite values): put `fill` before it, or clean the data")


# -- id-like categorical columns; data.exclude

def test_an_id_like_categorical_column_is_warned_of(tmp_path):
    spec = spec_at(tmp_path, PLAIN.replace("[city, plan]", "[customer_id, city, plan]"), n=300)
    (warning,) = [w for w in specdl.check(spec).warnings if "distinct" in w.message]
    assert warning.path == ("data", "categorical", 0) and warning.severity == "warning"
    assert "`customer_id` holds 210 distinct values in the train split's 210 rows" in warning.message
    assert "data.exclude" in warning.message
    assert not [w for w in specdl.check(spec_at(tmp_path, PLAIN, n=300, ids=False)).warnings if "distinct" in w.message]


def test_exclude_leaves_a_column_out_in_check_build_and_codegen(tmp_path):
    """check's width, the columns build loads, the script's read_csv call (the run built
    with `exclude` is in the predict test below)."""
    spec = spec_at(tmp_path)
    assert specdl.check(spec).data.feat == (2 + 2 + 3,)  # tenure, monthly_charge; 2 cities; 3 plans
    assert spec.data.columns() == (["tenure", "monthly_charge"], ["city", "plan"])
    loaded = spec.data.load(0)
    assert loaded.x.shape == (60, 2) and loaded.cats.shape == (60, 2)
    assert '"churn", ["tenure", "monthly_charge"], ["city", "plan"], True, delimiter=",")' in specdl.codegen(spec)


@pytest.mark.parametrize("exclude, extra, path, words", [
    ("[customer_id]", "  features: [tenure, city, plan]\n", ("data", "exclude"), "with `features` listed"),
    ("[churn]", "", ("data", "exclude", 0), "`churn` is the target"),
    ("[customer_id, city]", "", ("data", "exclude", 1), "`city` is listed under `categorical` too"),
    ("[customer_id, tenur]", "", ("data", "exclude", 1), "no column `tenur` in"),
])
def test_exclude_mistakes_are_located(tmp_path, exclude, extra, path, words):
    text = SPEC.replace("exclude: [customer_id]", f"exclude: {exclude}").replace("  transforms", extra + "  transforms")
    (issue,) = issues(spec_at(tmp_path, text))
    assert issue.path == path and words in issue.message, issue.render()
    if words.startswith("no column"):
        assert "did you mean `tenure`?" in issue.message and (issue.line, issue.col) == (8, 26)


def test_the_editor_schema_takes_exclude():
    import jsonschema
    import yaml

    from specdl.front.editor_schema import spec_json_schema

    doc = yaml.safe_load(SPEC.format(path="d.csv"))
    assert not list(jsonschema.Draft202012Validator(spec_json_schema()).iter_errors(doc))


def test_predict_and_evaluate_inputs_may_carry_excluded_columns(tmp_path):
    run = specdl.train(spec_at(tmp_path), out=tmp_path / "run").run_dir  # exclude: [customer_id]
    loaded = specdl.load_run(run)
    write_churn(tmp_path / "p.csv")
    pred = loaded.predict(specdl.runs.inputs.read_inputs(loaded, tmp_path / "p.csv"))
    assert len(pred["prediction"]) == 60
    kept = specdl.runs.predict.kept_columns(loaded, tmp_path / "p.csv", ["customer_id"])
    assert kept["customer_id"][:2] == ["c1000", "c1001"]
    assert set(specdl.evaluate(run, tmp_path / "p.csv")) >= {"accuracy", "loss"}


# -- unseen categories at predict

def test_unseen_categories_are_noted_per_column(run, tmp_path, capsys):
    write_churn(tmp_path / "p.csv", n=6)
    text = (tmp_path / "p.csv").read_text().replace(",paris,", ",nice,").replace(",max,", ",gold,")
    (tmp_path / "p.csv").write_text(text)
    loaded = specdl.load_run(run)
    capsys.readouterr()
    loaded.predict(specdl.runs.inputs.read_inputs(loaded, tmp_path / "p.csv"))
    notes = capsys.readouterr().err.strip().splitlines()
    assert notes == ["specdl: note: `city`: 3 of 6 rows hold 1 category the run's train split never saw ('nice'); "
                     "they encode as all zeros",
                     "specdl: note: `plan`: 2 of 6 rows hold 1 category the run's train split never saw ('gold'); "
                     "they encode as all zeros"]
    specdl.evaluate(run, tmp_path / "p.csv")  # evaluate reads its inputs the same way
    assert capsys.readouterr().err.strip().splitlines() == notes


# -- the image cache: a file rewritten in place with its name, size and mtime kept

@pytest.mark.parametrize("how", ["cp -p", "rsync -a"])
def test_image_cache_sees_a_rewrite_that_keeps_size_and_mtime(tmp_path, how):
    from PIL import Image
    from torchvision.transforms import v2

    from specdl.runtime import images

    root = tmp_path / "img"
    for c, color in (("a", 10), ("b", 200)):
        (root / c).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (4, 4), (color + i, 0, 0)).save(root / c / f"{i}.bmp")  # BMP: one size for any pixels
    pre = v2.Compose([v2.ToImage()])
    before, _ = images.image_folder(root, pre)
    target, source = root / "a" / "0.bmp", root / "b" / "1.bmp"
    st = os.stat(target)
    time.sleep(0.02)  # past the file system's clock tick, as any real rewrite is
    if how == "cp -p":  # written through the same inode, times copied
        shutil.copy2(source, target)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:  # a new file renamed over it, times copied (rsync -a, tar x)
        shutil.copy2(source, root / "a" / ".tmp")
        os.utime(root / "a" / ".tmp", ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(root / "a" / ".tmp", target)
    now = os.stat(target)
    assert (now.st_size, now.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    after, _ = images.image_folder(root, pre)
    assert after[0, 0, 0, 0] == 201 and before[0, 0, 0, 0] == 10
