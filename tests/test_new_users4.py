"""New users, fourth round: their own CSVs, as a spreadsheet or a database exports them
(`;` separators, a byte-order mark, Windows line endings, money written `$1,234.50`, ids,
dates, yes/no and free-text columns, a class of one row), through check, build, predict and
evaluate: each mistake one located line with the fix, each cell read as the user meant."""

from __future__ import annotations

import contextlib
import csv
import io

import numpy as np
import pytest

import specdl
from specdl.cli import main

HEADER = ["customer_id", "signup_date", "tenure", "monthly_charge", "total_charges", "plan", "paperless",
          "notes", "churn"]


def churn_rows(n=60, rare=None):
    """Rows of a churn table (churn: yes where the charge is high and the tenure short)."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        tenure, charge = int(rng.integers(1, 72)), float(rng.uniform(20, 120))
        rows.append([f"C{i:05d}", f"2023-{i % 12 + 1:02d}-{i % 28 + 1:02d}", tenure,
                     ["", "NA", "?"][i % 3] if i % 17 == 3 else f"{charge:.2f}", f"${charge * tenure:,.2f}",
                     ["basic", "pro", "family"][i % 3], ["yes", "no"][i % 2], f"called {i % 5} times about the bill",
                     "yes" if charge > 80 and tenure < 30 else "no"])
    if rare:
        rows[5][-1] = rare
    return rows


def write_churn(folder, name="churn.csv", delimiter=",", bom=False, rows=None):
    with open(folder / name, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        w = csv.writer(f, delimiter=delimiter, lineterminator="\r\n")
        w.writerow(HEADER)
        w.writerows(rows or churn_rows())
    return folder / name


def spec(**data):
    return {"name": "churn", "data": {"source": "csv", "path": "churn.csv", "target": "churn", **data},
            "model": {"layers": [{"linear": 8}, "relu", {"linear": 2}]},
            "train": {"epochs": 1, "device": "cpu", "batch_size": 16}}


def check(folder, doc) -> tuple[int, str]:
    """`specdl check` of ``doc`` written to folder/churn.yaml, in this process: (status, stderr)."""
    import yaml

    (folder / "churn.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", "churn.yaml"])
    return code, err.getvalue()


def cli(folder, *argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


FIXED = {"delimiter": ";", "exclude": ["customer_id", "signup_date", "notes"], "categorical": ["plan", "paperless"],
         "transforms": [{"fill": "mean"}, "standardize"]}


def test_a_semicolon_file_read_with_commas_says_to_set_the_delimiter(tmp_path):
    write_churn(tmp_path, delimiter=";", bom=True)
    code, err = check(tmp_path, spec())
    assert code == 2 and err.splitlines() == [
        'churn.yaml:3:3: error: data.delimiter (csv): churn.csv\'s header reads as one column with the delimiter "," '
        'but as 9 with ";": write `delimiter: ";"` under `data`', "1 error"], err


def test_every_text_column_is_named_at_once_with_the_list_it_goes_in(tmp_path):
    write_churn(tmp_path, delimiter=";", bom=True)
    code, err = check(tmp_path, spec(delimiter=";"))
    (line, count) = err.splitlines()
    assert code == 2 and count == "1 error" and line.startswith(
        "churn.yaml:3:3: error: data.features (csv): churn.csv: 5 columns hold text, not numbers: line 2, column "
        "`customer_id` holds 'C00000' (a different value on every row, an id: nothing learnt from it")
    assert "column `signup_date` holds '2023-01-01' (dates: specdl reads no dates" in line
    assert "column `paperless` holds 'yes' (no/yes)" in line
    assert "column `notes` holds 'called 0 times about the bill' (free text: leave it out, or read it as a `text` " \
           "input" in line
    assert line.endswith("write under `data`: categorical: [plan, paperless]; exclude: [customer_id, "
                         "signup_date, notes]"), line
    assert "total_charges" not in line  # money is a number


def test_money_cells_are_their_numbers_and_other_text_is_not():
    from specdl.runtime.csv import money_cell

    read = {t: money_cell(t) for t in ["$1,234.50", "-$12", "€1,234,567", "1,234", "+£3", "$-3.5"]}
    assert read == {"$1,234.50": 1234.5, "-$12": -12.0, "€1,234,567": 1234567.0, "1,234": 1234.0, "+£3": 3.0,
                    "$-3.5": -3.5}
    assert [money_cell(t) for t in ["1,23", "12%", "1.234,5", "$", "$1,2345", "($5)", "1,234.", "$1e5", ",123"]] \
        == [None] * 9


@pytest.mark.slow  # a build, predict and evaluate in this process: about 5 s
def test_the_fixed_spec_reads_the_file_as_meant_and_predicts_a_comma_copy(tmp_path):
    """The fixed spec (`;`, a BOM, CRLF, '' / NA / ? cells filled) checks, trains, and its
    run predicts and evaluates the same rows saved with commas; a money column is a
    feature (its numbers), never NaN or a category."""
    rows = churn_rows()
    write_churn(tmp_path, delimiter=";", bom=True, rows=rows)
    code, err = check(tmp_path, spec(**FIXED))
    assert code == 0, err
    doc = spec(**FIXED)
    data = specdl.load(doc).data
    with contextlib.chdir(tmp_path):
        x = data.load(0).x
    money = [float(r[4].strip("$").replace(",", "")) for r in rows]
    assert np.allclose(x[:, 2], money) and np.isnan(x[3, 1])  # tenure, monthly_charge, total_charges; line 5 'NA'
    with contextlib.chdir(tmp_path):
        _, run = specdl.train(doc, out=tmp_path / "run")
    write_churn(tmp_path, "new.csv", delimiter=",", rows=rows[:4])
    code, out, err = cli(tmp_path, "predict", run, "--input", "new.csv", "--keep", "customer_id")
    assert code == 0 and out.splitlines()[0] == "customer_id,prediction,p_no,p_yes" and len(out.splitlines()) == 5, err
    code, out, err = cli(tmp_path, "evaluate", run, "--input", "new.csv")
    assert code == 0 and out.startswith("new.csv: 4 samples  accuracy"), err


def test_a_run_reads_new_rows_saved_with_another_delimiter(tmp_path):
    """predict and evaluate take the run's delimiter, or the one that splits the header."""
    from types import SimpleNamespace

    from specdl.runs.inputs import csv_delimiter

    run = SimpleNamespace(spec=SimpleNamespace(data=SimpleNamespace(source="csv", delimiter=";")))
    assert csv_delimiter(run, write_churn(tmp_path, "comma.csv")) == ","
    assert csv_delimiter(run, write_churn(tmp_path, "semi.csv", delimiter=";", bom=True)) == ";"
    (tmp_path / "one.csv").write_text("tenure\n3\n")
    assert csv_delimiter(run, tmp_path / "one.csv") == ";"  # one column: nothing to guess


def shop_csv(folder, id_name="id"):
    """200 rows: an id column of whole numbers (1000...), age, income, bought (yes/no), spend."""
    rng = np.random.default_rng(1)
    lines = [f"{id_name},age,income,bought,spend"]
    for i in range(200):
        age, income = int(rng.integers(18, 70)), int(rng.integers(20, 150))
        lines.append(f"{1000 + 7 * i},{age},{income},{'yes' if income > 80 else 'no'},{income * 0.3:.2f}")
    (folder / "shop.csv").write_text("\n".join(lines) + "\n")


SHOP = {"name": "shop", "data": {"source": "csv", "path": "shop.csv", "target": "bought"},
        "model": {"layers": [{"linear": 8}, "relu", {"linear": 2}]}}
ID_WARNING = ("warning: data.exclude: `{}` holds a different whole number on every row (an id, a row number?): "
              "the model reads it as a quantity, and nothing learnt from it carries to new rows; list it under "
              "`data.exclude`")


@pytest.mark.parametrize("name", ["id", "customerID", "row_number", "Unnamed: 0"])
def test_a_numeric_id_column_is_warned_of_at_check(tmp_path, name):
    shop_csv(tmp_path, name)
    code, err = check(tmp_path, SHOP)
    assert code == 0 and err.splitlines() == ["churn.yaml:3:3: " + ID_WARNING.format(name)], err
    code, err = check(tmp_path, {**SHOP, "data": {**SHOP["data"], "exclude": [name]}})
    assert code == 0 and err == "", err


def test_whole_numbers_that_are_not_an_id_are_not_warned_of(tmp_path):
    """A column named otherwise, of distinct whole numbers (an amount in cents, a year per
    row), is a quantity."""
    shop_csv(tmp_path, "cents")
    code, err = check(tmp_path, SHOP)
    assert code == 0 and err == "", err


def test_a_spec_of_several_targets_shows_the_datas_warnings(tmp_path):
    """Two targets of one table: the id warning (and any other of the data's) is shown as
    with one target, not dropped."""
    shop_csv(tmp_path)
    two = {"name": "shop", "data": {"source": "csv", "path": "shop.csv", "targets": {
        "bought": {"column": "bought"}, "spend": {"column": "spend"}}},
        "model": {"layers": [{"linear": 8}, "relu", {"linear": {"out_features": 2, "name": "b"}},
                             {"linear": {"out_features": 1, "inputs": ["relu_1"], "name": "s"}}],
                  "outputs": {"bought": "b", "spend": "s"}}}
    code, err = check(tmp_path, two)
    assert code == 0 and err.splitlines() == ["churn.yaml:3:3: " + ID_WARNING.format("id")], err


def test_a_class_of_one_row_is_named_with_the_fix(tmp_path):
    write_churn(tmp_path, rows=churn_rows(rare="vip"))
    code, err = check(tmp_path, spec(**{**FIXED, "delimiter": ","}, split={"val": 0.1}))
    assert code == 2 and err.splitlines() == [
        "churn.yaml:18:5: error: data.split (csv): cannot split the data (60 samples) with val=0.1, test=0.2: a "
        "stratified split needs at least 2 rows of each class, and `vip` (1 row) has fewer; add rows of it, remove "
        "or merge them into another class, or set `data.split.stratify: false`", "1 error"], err
    fixed = spec(**{**FIXED, "delimiter": ","}, split={"val": 0.1, "stratify": False})
    fixed["model"]["layers"][-1] = {"linear": 3}  # yes, no and vip
    code, err = check(tmp_path, fixed)
    assert code == 0, err


@pytest.mark.parametrize("content,says", [
    (b"PK\x03\x04[Content_Types].xml", "churn.csv is an Excel workbook (.xlsx, a zip), not a CSV; save it as "
                                       "`CSV UTF-8 (Comma delimited)` (Excel: File > Save As)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "churn.csv is an Excel 97-2003 workbook (.xls), not a CSV"),
    (",".join(HEADER).encode("utf-16"), "churn.csv is UTF-16 text (Excel's `Unicode Text`), not UTF-8; save it as "
                                        "`CSV UTF-8"),
])
def test_a_workbook_or_utf16_file_named_as_a_csv_says_what_it_is(tmp_path, content, says):
    (tmp_path / "churn.csv").write_bytes(content)
    code, err = check(tmp_path, spec())
    assert code == 2 and len(err.splitlines()) == 2 and says in err.splitlines()[0], err


@pytest.mark.parametrize("argv,says", [
    (["build", "s.yaml", "--gpus", "1"], "unrecognized option --gpus 1; did you mean `-o train.device=cuda`?"),
    (["build", "s.yaml", "--gpus", "0"], "did you mean `-o train.device=cpu`?"),
    (["build", "s.yaml", "--accelerator", "gpu"], "did you mean `-o train.device=cuda`?"),
    (["build", "s.yaml", "--devices", "2"], "did you mean `--nproc 2` (one process per GPU; docs/distributed.md)?"),
    (["check", "s.yaml", "--gpus", "2"], "did you mean `-o train.device=cuda`?"),
    (["build", "s.yaml", "--strategy", "fsdp"], "did you mean `-o train.distributed.strategy=fsdp`?"),
    (["build", "s.yaml", "--num-gpus", "4"], "did you mean `--nproc 4`"),
    (["build", "s.yaml", "train.epochs=3"], "unrecognized argument 'train.epochs=3'; did you mean `-o train.epochs=3`?"),
    (["evaluate", "run", "--input", "new.csv", "--label", "churn"], "unrecognized option --label churn; did you mean "
                                                                    "`--target churn`?"),
    (["predict", "run", "new.csv"], "required: --input; did you mean `--input new.csv`? (the run directory comes "
                                    "first)"),
    (["predict", "run", "--data", "new.csv"], "required: --input; did you mean `--input new.csv`?"),
])
def test_lightning_and_keras_command_lines_say_what_to_type(tmp_path, argv, says):
    """Lightning's device and strategy flags, a bare override, Ludwig's and Keras' names
    for the data and the labels: one line with what specdl takes (never `train.device=2`)."""
    (tmp_path / "s.yaml").write_text("name: s\ndata: {source: sklearn, dataset: iris}\nmodel: {layers: [{linear: 3}]}\n")
    err = io.StringIO()
    with contextlib.chdir(tmp_path), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        main(argv)
    lines = [ln for ln in err.getvalue().splitlines() if "error:" in ln]
    assert e.value.code == 2 and len(lines) == 1 and says in lines[0], err.getvalue()


@pytest.mark.parametrize("verb", ["predict", "evaluate", "serve"])
def test_a_spec_given_for_a_run_says_to_build_it_first(tmp_path, verb):
    (tmp_path / "churn.yaml").write_text("name: c\n")
    code, _, err = cli(tmp_path, verb, "churn.yaml", *(("--input", "new.csv") if verb in ("predict", "evaluate") else ()))
    assert code == 2 and err.strip().endswith(
        "churn.yaml is a spec, not a run directory: train it first (`specdl build churn.yaml`) and give the run "
        "directory build prints"), err


def cased_rows():
    """churn_rows with every seventh label capitalised (`Yes`, `No`: an export's mix)."""
    rows = churn_rows()
    for r in rows[::7]:
        r[-1] = r[-1].capitalize()
    return rows


def test_labels_differing_only_in_case_are_named_where_the_classes_do_not_fit(tmp_path):
    write_churn(tmp_path, rows=cased_rows())
    twins = ("the target `churn` holds labels that differ only in case (`No`, `no`; `Yes`, `yes`), each a class of "
             "its own (4 classes); if they are one class, write them alike in the file")
    code, err = check(tmp_path, spec(**{**FIXED, "delimiter": ","}))
    assert code == 2 and err.splitlines() == [
        "churn.yaml:21:5: error: model.layers[2] (linear): the model's output is [N, 2], but the data has 4 classes, "
        f"so cross_entropy needs [N, 4]; make the last layer give 4 features; {twins}", "1 error"], err
    four = spec(**{**FIXED, "delimiter": ","})
    four["model"]["layers"][-1] = {"linear": 4}
    code, err = check(tmp_path, four)
    assert code == 0 and err.splitlines() == [f"churn.yaml:5:11: warning: data.target: {twins}"], err


def test_a_money_target_is_a_regression(tmp_path):
    """`total_charges` ($1,234.50 cells) as the target: a regression of its numbers, not
    60 classes of strings."""
    write_churn(tmp_path)
    doc = spec(features=["tenure", "monthly_charge"], transforms=[{"fill": "mean"}], target="total_charges")
    doc["model"]["layers"][-1] = {"linear": 1}
    out = io.StringIO()
    code, err = check(tmp_path, doc)
    assert code == 0 and err == "", err
    with contextlib.chdir(tmp_path), contextlib.redirect_stdout(out):
        main(["check", "churn.yaml"])
    assert "output [N, 1] -> target [1], loss mse" in out.getvalue()


def image_folder(folder, classes=("cats", "dogs"), n=3):
    from PIL import Image

    for c in classes:
        (folder / c).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(folder / c / f"{i}.png")


PETS = {"name": "pets", "data": {"source": "image_folder", "root": "pets"},
        "model": {"layers": ["flatten", {"linear": 2}]}}


def test_a_class_folder_given_as_the_root_names_its_parent(tmp_path):
    image_folder(tmp_path / "pets")
    code, err = check(tmp_path, {**PETS, "data": {"source": "image_folder", "root": "pets/cats"}})
    assert code == 2 and err.splitlines() == [
        "churn.yaml:4:9: error: data.root (image_folder): pets/cats has no class sub-folders (root/<class>/<image>); "
        "it holds images itself: did you mean `root: pets`, whose sub-folders (cats, dogs) are the classes?",
        "1 error"], err


def test_one_class_is_named(tmp_path):
    image_folder(tmp_path / "pets", classes=("cats",))
    code, err = check(tmp_path, PETS)
    assert code == 2 and "the data holds one class, `cats`; classification needs two or more: pets needs a " \
                         "sub-folder per class" in err, err
    rows = churn_rows()
    for r in rows:
        r[-1] = "no"
    write_churn(tmp_path, rows=rows)
    code, err = check(tmp_path, spec(**{**FIXED, "delimiter": ","}))
    assert code == 2 and "data.target (csv): the data holds one class, `no`; classification needs two or more\n" in err


def test_header_names_are_read_without_their_spaces(tmp_path):
    """`age, income, bought` (a hand-written CSV): the columns are `age`, `income` and
    `bought`, in check, build's reader, predict and --keep."""
    from specdl.runtime.csv import read_csv, read_header

    lines = ["age, income, bought"] + [f"{20 + i}, {i * 5}, {'yes' if i > 15 else 'no'}" for i in range(32)]
    (tmp_path / "sp.csv").write_text("\n".join(lines) + "\n")
    assert read_header(tmp_path / "sp.csv") == ["age", "income", "bought"]
    x, _, y = read_csv(tmp_path / "sp.csv", "bought", ["age", "income"], [], True)
    assert x[1].tolist() == [21.0, 5.0] and y[16] == 1
    doc = {"name": "sp", "data": {"source": "csv", "path": "sp.csv", "target": "bought"},
           "model": {"layers": [{"linear": 2}]}}
    code, err = check(tmp_path, doc)
    assert code == 0 and err == "", err


@pytest.mark.parametrize("plan,says", [
    ({"type": "category", "column": "plan"}, "input `plan`: Ludwig's `type: category` is written `plan: {categorical: "
                                             "plan}` here (the kind's key names the column)"),
    ({"name": "plan", "type": "number"}, "Ludwig's `type: number` is written `plan: {numeric: plan}` here"),
    ({"category": "plan"}, "input `plan`: unknown kind `category`; did you mean `plan: {categorical: plan}`?"),
    ({"numerical": "plan"}, "did you mean `plan: {numeric: plan}`?"),
])
def test_a_ludwig_input_feature_says_how_it_is_written(tmp_path, plan, says):
    write_churn(tmp_path)
    doc = spec(inputs={"plan": plan, "nums": {"numeric": ["tenure"]}})
    doc["model"]["layers"][0] = {"linear": {"out_features": 8, "inputs": ["nums"]}}
    code, err = check(tmp_path, doc)
    lines = err.splitlines()
    assert code == 2 and len(lines) == 2 and lines[0].startswith("churn.yaml:7:5: error: data.inputs: ") \
        and says in lines[0], err


def test_an_input_of_another_type_still_says_the_kinds(tmp_path):
    write_churn(tmp_path)
    doc = spec(inputs={"plan": {"type": "date", "column": "plan"}, "nums": {"numeric": ["tenure"]}})
    code, err = check(tmp_path, doc)
    assert code == 2 and "give one of text, categorical, numeric, image" in err, err


@pytest.mark.parametrize("key", ["samples", "n_samples", "num_samples"])
def test_a_synthetic_sources_sample_count_written_as_scikit_learn_names_size(tmp_path, key):
    doc = {"data": {"source": "synthetic", key: 200, "shape": [4], "classes": 3},
           "model": {"layers": [{"linear": 3}]}}
    code, err = check(tmp_path, doc)
    assert code == 2 and f"data.{key}: unknown key `{key}`" in err and "here write `size: 200`" in err, err
