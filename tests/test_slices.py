"""``cecli score --by``: per-slice statistics against pandas.groupby over reference losses.

The reference losses are ``-log p_true`` computed here from the probabilities
the test writes; the references are ``pandas.DataFrame.groupby``,
``pandas.qcut``, ``scipy.stats.t`` and the weighted interval's definition.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from typer.testing import CliRunner

from cecli.cli import app
from cecli.slices import SliceFold, SliceSpec
from cecli.view import view_of

runner = CliRunner()
CLASSES = ["c0", "c1", "c2"]


def _data(n=900, seed=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) * 1.5
    logits[np.arange(n), labels] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame(probs, columns=CLASSES)
    frame["label"] = [CLASSES[i] for i in labels]
    frame["country"] = rng.choice(["fr", "de", "us", "", "jp"], n, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    frame["tier"] = rng.integers(1, 4, n)
    frame["age"] = rng.normal(40, 12, n)
    frame["w"] = rng.lognormal(0, 0.5, n)
    loss = -np.log(probs[np.arange(n), labels])
    wrong = probs.argmax(axis=1) != labels
    reference = pd.DataFrame(
        {
            "country": frame["country"].replace("", None),
            "tier": frame["tier"],
            "age": frame["age"],
            "w": frame["w"],
            "loss": loss,
            "correct": ~wrong,
            "flagged": wrong & (probs.max(axis=1) >= 0.9),
        }
    )
    return frame, reference


@pytest.fixture
def data(tmp_path):
    frame, reference = _data()
    path = tmp_path / "preds.csv"
    frame.to_csv(path, index=False)
    return str(path), frame, reference


PRED = ["--pred-cols", "c0,c1,c2"]


def _run(args):
    return runner.invoke(app, ["score", *args])


def _json(args):
    result = _run([*args, "-f", "json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def _t_interval(x):
    return scipy.stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=scipy.stats.sem(x))


def test_score_json_slices_match_pandas_groupby(data):
    path, _, ref = data
    doc = _json([path, *PRED, "--by", "country"])
    groups = ref.groupby("country", dropna=False)
    assert doc["slicing"]["n_slices"] == groups.ngroups == len(doc["slices"])
    for s in doc["slices"]:
        value = s["value"]
        rows = ref[ref["country"].isna()] if value is None else ref[ref["country"] == value]
        assert s["n_samples"] == len(rows)
        assert s["mean_loss"] == pytest.approx(rows["loss"].mean(), rel=1e-12)
        assert (s["ci_low"], s["ci_high"]) == pytest.approx(_t_interval(rows["loss"]), rel=1e-9)
        assert s["accuracy"] == pytest.approx(rows["correct"].mean())
        assert s["flagged_count"] == int(rows["flagged"].sum())
        assert s["ranked"] == (len(rows) >= 30)
    assert None in [s["value"] for s in doc["slices"]]  # the empty cells: a slice of their own
    ranked = [s["mean_loss"] for s in doc["slices"] if s["ranked"]]
    assert ranked == sorted(ranked, reverse=True)
    # the ranked slices come first, then the rest
    flags = [s["ranked"] for s in doc["slices"]]
    assert flags == sorted(flags, reverse=True)


def test_two_columns_one_of_them_in_the_labels_file(tmp_path):
    frame, ref = _data()
    preds, labels = tmp_path / "p.csv", tmp_path / "l.csv"
    frame[[*CLASSES, "tier"]].to_csv(preds, index=False)
    frame[["label", "country"]].to_csv(labels, index=False)
    doc = _json([str(preds), str(labels), "--by", "country,tier", "--min-slice-rows", "1"])
    expected = ref.groupby(["country", "tier"], dropna=False)["loss"].agg(["mean", "size"])
    got = {(s["value"][0], s["value"][1]): (s["mean_loss"], s["n_samples"]) for s in doc["slices"]}
    assert len(got) == len(expected)
    for (country, tier), row in expected.iterrows():
        key = (None if pd.isna(country) else country, int(tier))
        assert got[key] == (pytest.approx(row["mean"], rel=1e-12), row["size"])
    assert all(isinstance(s["value"], list) for s in doc["slices"])
    assert doc["columns"]["ignored"] == []  # both slicing columns are used


def test_sample_weights_give_the_weighted_mean_and_interval(data):
    path, _, ref = data
    doc = _json([path, *PRED, "--by", "tier", "--weight-col", "w"])
    for s in doc["slices"]:
        rows = ref[ref["tier"] == s["value"]]
        x, w = rows["loss"].to_numpy(), rows["w"].to_numpy()
        s1, s2, s3 = w.sum(), (w * w).sum(), (w**3).sum()
        m = np.sum(w * x) / s1
        var = np.sum(w * w * (x - m) ** 2) / s1**2 / (1 - 2 * s3 / (s1 * s2) + s2 / s1**2)
        half = scipy.stats.t.ppf(0.975, s1 * s1 / s2 - 1) * np.sqrt(var)
        assert s["mean_loss"] == pytest.approx(m, rel=1e-12)
        assert (s["ci_low"], s["ci_high"]) == pytest.approx((m - half, m + half), rel=1e-9)


def test_quantile_bins_agree_with_pandas_qcut_without_ties(data):
    path, _, ref = data
    doc = _json([path, *PRED, "--by", "age:10"])
    # 900 distinct ages: qcut's 10 bins of 90 rows each are the same rows
    ref = ref.assign(bin=pd.qcut(ref["age"], 10, labels=False))
    expected = ref.groupby("bin")["loss"].agg(["mean", "size"])
    assert doc["slicing"]["bins"] == {"age": 10}
    assert len(doc["slices"]) == 10
    by_low = sorted(doc["slices"], key=lambda s: float(s["value"].split(",")[0][1:]))
    for (_, row), s in zip(expected.iterrows(), by_low, strict=True):
        assert s["n_samples"] == row["size"] == 90
        assert s["mean_loss"] == pytest.approx(row["mean"], rel=1e-12)
    labels = [s["value"] for s in by_low]
    assert labels[0].startswith("[")
    assert labels[0].endswith(")")
    assert labels[-1].endswith("]")
    assert float(labels[0][1:].split(",")[0]) == ref["age"].min()
    assert float(labels[-1].split(", ")[1][:-1]) == ref["age"].max()


def test_quantile_bins_never_split_a_value():
    # 60 rows of 1.0 then 40 distinct values: 4 bins ask for cuts inside the run of 1.0
    values = np.concatenate([np.ones(60), np.arange(2.0, 42.0)])
    fold = SliceFold([SliceSpec("x", 4)])
    n = len(values)
    fold.add(view_of("binary", np.ones(n), np.full(n, 0.5)), [values])
    table = fold.result(min_rows=1)
    counts = dict(zip(table.values, table.n_samples.tolist(), strict=True))
    assert counts["[1, 2)"] == 60
    assert sum(counts.values()) == n
    assert len(counts) == 3


def test_min_slice_rows_and_top_in_the_table(data):
    path, _, ref = data
    sizes = ref.groupby("country", dropna=False).size()
    least = int(sizes.sort_values().iloc[1]) + 1  # two slices below it
    result = _run([path, *PRED, "--by", "country", "--min-slice-rows", str(least), "--top", "2"])
    assert result.exit_code == 0, result.output
    n_ranked = int((sizes >= least).sum())
    assert f"worst first: 2 of {n_ranked} ranked (>= {least} rows)" in result.stdout
    assert f"Too few rows to rank (< {least}): 2 of 2 slices" in result.stdout
    assert "(missing)" in result.stdout or sizes[np.nan] >= least
    doc = _json([path, *PRED, "--by", "country", "--min-slice-rows", str(least)])
    assert [s["ranked"] for s in doc["slices"]].count(True) == n_ranked


@pytest.mark.parametrize(
    ("offset", "status"),
    [(-1e-9, 1), (1e-9, 0)],
)
def test_slice_fail_above_gate(data, offset, status):
    path, _, ref = data
    sizes = ref.groupby("country", dropna=False)["loss"].agg(["mean", "size"])
    worst = sizes[sizes["size"] >= 30]["mean"].max()
    args = [path, *PRED, "--by", "country", "--slice-fail-above", repr(float(worst + offset))]
    result = _run(args)
    assert result.exit_code == status, result.output
    doc = _json(args)
    gate = doc["gates"][0]
    assert gate["name"] == "slice_fail_above"
    assert gate["passed"] is (status == 0)
    assert gate["value"] == pytest.approx(worst, rel=1e-12)


def test_slice_fail_above_with_no_ranked_slice_is_not_evaluated(data):
    path, _, _ = data
    result = _run(
        [path, *PRED, "--by", "country", "--min-slice-rows", "100000", "--slice-fail-above", "0"]
    )
    assert result.exit_code == 0
    assert "gate not evaluated: slice_fail_above" in result.stderr


def test_chunk_size_does_not_change_a_bit(data):
    path, _, _ = data
    args = [path, *PRED, "--by", "country,age:7", "--weight-col", "w", "--calibration"]
    whole, tiny = _json(args), _json([*args, "--chunk-size", "600"])
    assert whole["slices"] == tiny["slices"]
    assert json.dumps(whole["slices"]) == json.dumps(tiny["slices"])


def _fold(values, y, p, weights=None, start=0, stop=None, bins=None):
    fold = SliceFold([SliceSpec("g"), SliceSpec("h")], calibration_bins=bins)
    sl = slice(start, stop)
    w = None if weights is None else weights[sl]
    view = view_of("categorical", y[sl], p[sl], w, first_row=start, calibration=bins is not None)
    fold.add(view, [v[sl] for v in values])
    return fold


def test_merged_states_equal_one_state_and_the_argument_is_unchanged():
    rng = np.random.default_rng(8)
    n = 3000
    y, p = rng.integers(0, 3, n), rng.dirichlet(np.ones(3), n)
    w = rng.random(n) + 0.5
    g = rng.integers(0, 40, n).astype(float)
    g[rng.random(n) < 0.1] = np.nan
    h = rng.choice(np.array(["a", "b", ""], dtype=object), n)
    one = _fold([g, h], y, p, w, bins=5).result(min_rows=5)
    left = _fold([g, h], y, p, w, 0, 1700, bins=5)
    right = _fold([g, h], y, p, w, 1700, None, bins=5)
    before = pickle.dumps(right)
    merged = left.merge(right).result(min_rows=5)
    assert pickle.dumps(right) == before
    assert merged.values == one.values
    np.testing.assert_array_equal(merged.n_samples, one.n_samples)
    for name in ("mean_loss", "ci_low", "ci_high", "ece", "accuracy"):
        np.testing.assert_allclose(getattr(merged, name), getattr(one, name), rtol=1e-10)


def test_per_slice_ece_is_the_definition():
    rng = np.random.default_rng(2)
    n = 2000
    y, p = rng.integers(0, 3, n), rng.dirichlet(np.ones(3) * 0.7, n)
    g = rng.integers(0, 4, n)
    fold = SliceFold([SliceSpec("g")], calibration_bins=10)
    fold.add(view_of("categorical", y, p, calibration=True), [g])
    table = fold.result(min_rows=1)
    confidence, correct = p.max(axis=1), p.argmax(axis=1) == y
    for value, ece in zip(table.values, table.ece, strict=True):
        c, a = confidence[g == value], correct[g == value]
        bins = np.clip(np.ceil(c * 10).astype(int) - 1, 0, 9)
        expected = sum(abs(a[bins == b].sum() - c[bins == b].sum()) for b in range(10)) / len(c)
        assert ece == pytest.approx(expected, rel=1e-12)


def test_one_slice_per_sequence_matches_groupby():
    rng = np.random.default_rng(5)
    n, n_seq = 60_000, 15_000
    seq = np.sort(rng.integers(0, n_seq, n))
    y, p = rng.integers(0, 4, n), rng.dirichlet(np.ones(4), n)
    fold = SliceFold([SliceSpec("seq")])
    for start in range(0, n, 7000):
        sl = slice(start, start + 7000)
        fold.add(view_of("categorical", y[sl], p[sl], first_row=start), [seq[sl]])
    table = fold.result(min_rows=1)
    loss = -np.log(p[np.arange(n), y])
    expected = pd.Series(loss).groupby(seq).mean()
    got = pd.Series(table.mean_loss, index=table.values).sort_index()
    assert len(got) == len(expected)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_the_label_issue_hook_counts_rows_per_slice():
    fold = SliceFold([SliceSpec("g")])
    slices = fold.add(
        view_of("binary", [1, 0, 1, 1], [0.9, 0.2, 0.3, 0.8]), [np.array([7, 8, 7, 9])]
    )
    fold.count("label_issues", slices[[0, 2]])  # rows 0 and 2, chosen at the end
    table = fold.result(min_rows=1)
    counts = dict(zip(table.values, table.marks["label_issues"].tolist(), strict=True))
    assert counts == {7: 2, 8: 0, 9: 0}


def test_renderers_escape_slice_values(tmp_path):
    frame, _ = _data(200)
    frame["country"] = np.where(np.arange(200) % 2, "=HYPERLINK(1)", "a|b\x1b[31m")
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    table = _run([str(path), *PRED, "--by", "country"]).stdout
    assert "\x1b[31m" not in table
    assert "\\x1b[31m" in table
    markdown = _run([str(path), *PRED, "--by", "country", "-f", "markdown"]).stdout
    assert "a\\|b" in markdown
    csv = _run([str(path), *PRED, "--by", "country", "-f", "csv"]).stdout.splitlines()
    assert csv[0].startswith("country,n_samples,mean_loss,ci_low,ci_high")
    assert any(line.startswith("'=HYPERLINK(1)") for line in csv[1:])
    assert len(csv) == 3


def test_without_by_the_json_has_no_slices(data):
    path, _, _ = data
    doc = _json([path, *PRED])
    assert "slices" not in doc
    assert "slicing" not in doc


@pytest.mark.parametrize(
    ("by", "words"),
    [
        ("nope", "--by 'nope': no such column"),
        ("age:0", "number of bins must be a whole number from 1 to 1000; got '0'"),
        ("age:x", "got 'x'"),
        ("country:10", "holds text, which cannot be cut into quantile bins"),
        ("age,age", "names the column 'age' twice"),
    ],
)
def test_bad_by_is_one_clear_line_and_exit_2(data, by, words):
    path, _, _ = data
    result = _run([path, *PRED, "--by", by])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cecli: error:")
    assert words in lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["--slice-fail-above", "1"],
        ["--min-slice-rows", "5"],
        ["--min-slice-rows", "0", "--by", "tier"],
        ["--by", "tier", "--slice-fail-above", "-1"],
    ],
)
def test_options_that_need_by_or_a_sensible_value(data, args):
    path, _, _ = data
    result = _run([path, *PRED, *args])
    assert result.exit_code == 2
    assert result.stderr.startswith("cecli: error:")


@pytest.mark.parametrize("by", ["country", "country,tier", "age:5", "tier"])
def test_streamed_json_is_json_dumps_of_the_document(data, by):
    path, _, _ = data
    result = _run(
        [path, *PRED, "--by", by, "--calibration", "--min-slice-rows", "100", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == json.dumps(json.loads(result.stdout), indent=2) + "\n"
    compared = runner.invoke(
        app, ["compare", path, path, *PRED, "--by", by, "--bootstrap", "50", "-f", "json"]
    )
    assert compared.exit_code == 0, compared.output
    assert compared.stdout == json.dumps(json.loads(compared.stdout), indent=2) + "\n"


def test_infinite_values_are_slices_named_as_text(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("p,label,g\n0.2,1,inf\n0.7,1,-inf\n0.4,0,inf\n0.9,1,nan\n")
    doc = _json([str(path), "--pred-cols", "p", "--by", "g", "--min-slice-rows", "1"])
    assert [s["value"] for s in doc["slices"]] == ["inf", "-inf", None]
    assert [s["n_samples"] for s in doc["slices"]] == [2, 1, 1]


def test_score_states_with_slices_merge_as_one_state():
    from dataclasses import replace

    from cecli.folds import ScoreOptions, ScoreState

    rng = np.random.default_rng(11)
    n = 1200
    y, p = rng.integers(0, 3, n), rng.dirichlet(np.ones(3), n)
    g = rng.choice(np.array(["a", "b", "c", ""], dtype=object), n)
    options = ScoreOptions(slices=(SliceSpec("g"),), min_slice_rows=10, calibration_bins=5)

    def state(start, stop):
        s = ScoreState("categorical", from_logits=False, options=options)
        view = s.view(y[start:stop], p[start:stop], first_row=start)
        s.add(replace(view, slice_values=(g[start:stop],)))
        return s

    one = state(0, n).result().slices
    merged = state(0, 500).merge(state(500, n)).result().slices
    assert merged.values == one.values
    np.testing.assert_array_equal(merged.n_samples, one.n_samples)
    np.testing.assert_allclose(merged.mean_loss, one.mean_loss, rtol=1e-12)
    np.testing.assert_allclose(merged.ece, one.ece, rtol=1e-12)
    loss = -np.log(p[np.arange(n), y])
    expected = pd.Series(loss).groupby(pd.Series(g).replace("", None), dropna=False).mean()
    for value, mean in zip(one.values, one.mean_loss, strict=True):
        ref = expected[expected.index.isna()].iloc[0] if value is None else expected[value]
        assert mean == pytest.approx(ref, rel=1e-12)


def test_explicit_class_weights_weigh_each_slice_as_the_mean(data):
    path, frame, ref = data
    doc = _json([path, *PRED, "--by", "tier", "--class-weights", "1,2,0.5"])
    w = frame["label"].map({"c0": 1.0, "c1": 2.0, "c2": 0.5}).to_numpy()
    for s in doc["slices"]:
        rows = (ref["tier"] == s["value"]).to_numpy()
        expected = np.sum(w[rows] * ref["loss"].to_numpy()[rows]) / w[rows].sum()
        assert s["mean_loss"] == pytest.approx(expected, rel=1e-12)
    whole = _json([path, *PRED, "--class-weights", "1,2,0.5"])["mean_loss"]
    assert whole == pytest.approx(np.sum(w * ref["loss"]) / w.sum(), rel=1e-12)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("by", ["cont", "cont:4"])
def test_a_number_column_with_empty_cells_has_a_missing_slice(tmp_path, suffix, by):
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 300
    probs = rng.dirichlet([1, 1, 1], n)
    frame = pd.DataFrame(probs, columns=["a", "b", "c"])
    frame["label"] = rng.integers(0, 3, n)
    frame["cont"] = rng.standard_normal(n)
    frame.loc[::50, "cont"] = np.nan  # pandas writes an empty cell; Parquet a null
    path = tmp_path / f"p{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    result = runner.invoke(app, ["score", str(path), "--by", by, "--min-slice-rows", "1",
                                 "-f", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    slices = json.loads(result.stdout)["slices"]
    missing = [s for s in slices if s["value"] is None]
    assert len(missing) == 1
    loss = -np.log(probs[np.arange(n), frame["label"]])
    gone = frame["cont"].isna().to_numpy()
    assert missing[0]["n_samples"] == int(gone.sum())
    assert missing[0]["mean_loss"] == pytest.approx(loss[gone].mean(), rel=1e-12)
    assert sum(s["n_samples"] for s in slices) == n
