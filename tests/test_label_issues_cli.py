"""`cecli score --label-issues` as its users meet it, against cleanlab as the reference.

The rows found, their order, the thresholds and the noise matrix are
cleanlab's (``filter.find_label_issues`` with its defaults, ranked by
self-confidence; ``count.get_confident_thresholds``; ``count.estimate_latent``),
whatever the input's format, the chunk size, and whether the rows come from
a file read again or from standard input (kept in a temporary file).
"""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cecli.cli import app
from cecli.errors import InputError, OutputError
from cecli.inputs import Batch, InputOptions, Inputs
from cecli.spill import Replay, Spill

cleanlab_filter = pytest.importorskip("cleanlab.filter")
cleanlab_count = pytest.importorskip("cleanlab.count")
cleanlab_multilabel = pytest.importorskip("cleanlab.multilabel_classification.filter")

runner = CliRunner()
CLASSES = ["cat", "dog", "bird", "fish"]


def noisy(seed: int, n: int = 600, k: int = 4, noise: float = 0.15):
    """Probabilities leaning to each row's true class, and labels with ``noise`` flipped."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    z = rng.standard_normal((n, k))
    z[np.arange(n), truth] += 2.5
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = truth.copy()
    flip = rng.random(n) < noise
    labels[flip] = (truth[flip] + rng.integers(1, k, int(flip.sum()))) % k
    return labels, probs


def write_csv(path, labels, probs, *, ids=True):
    k = probs.shape[1]
    with open(path, "w") as f:
        f.write(",".join((["id"] if ids else []) + CLASSES[:k] + ["label"]) + "\n")
        for i, (y, row) in enumerate(zip(labels, probs, strict=True)):
            cells = ([f"s{i}"] if ids else []) + [repr(float(p)) for p in row] + [CLASSES[y]]
            f.write(",".join(cells) + "\n")
    return path


def score_json(*args, stdin=None):
    result = runner.invoke(app, ["score", *map(str, args), "-f", "json"], input=stdin)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    # the listed issues are streamed: the text is json.dumps's all the same
    assert result.stdout == json.dumps(document, indent=2) + "\n"
    return document


def expected_rows(labels, probs):
    return cleanlab_filter.find_label_issues(
        labels, probs, return_indices_ranked_by="self_confidence"
    ).tolist()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("chunk", ["64M", "2K"])
def test_a_csv_gives_cleanlabs_rows_thresholds_and_noise_matrix(tmp_path, seed, chunk):
    labels, probs = noisy(seed)
    path = write_csv(tmp_path / "preds.csv", labels, probs)
    doc = score_json(path, "--id-col", "id", "--label-issues", "--chunk-size", chunk)
    rows = [r["row"] for r in doc["label_issues"]]
    assert rows == expected_rows(labels, probs)
    assert doc["label_issue_count"] == len(rows)
    assert doc["label_issues_estimated"] == cleanlab_count.num_label_issues(labels, probs)
    thresholds = cleanlab_count.get_confident_thresholds(labels, probs)
    assert list(doc["label_thresholds"]) == CLASSES
    np.testing.assert_allclose(list(doc["label_thresholds"].values()), thresholds, rtol=1e-12)
    joint = cleanlab_count.compute_confident_joint(labels, probs)
    _, noise_matrix, _ = cleanlab_count.estimate_latent(joint, labels)
    np.testing.assert_allclose(doc["noise_matrix"], noise_matrix, rtol=1e-12, atol=1e-15)
    first = doc["label_issues"][0]
    row = first["row"]
    assert first["id"] == f"s{row}"
    assert first["label"] == CLASSES[labels[row]]
    assert first["suggested"] == CLASSES[int(np.argmax(probs[row]))]
    assert first["p_label"] == pytest.approx(probs[row, labels[row]], rel=1e-12)
    assert first["score"] == first["p_label"]
    assert first["p_suggested"] == pytest.approx(probs[row].max(), rel=1e-12)


def test_standard_input_npy_and_parquet_agree_with_the_file(tmp_path):
    labels, probs = noisy(11, n=900)
    path = write_csv(tmp_path / "preds.csv", labels, probs, ids=False)
    want = expected_rows(labels, probs)
    from_stdin = score_json("-", "--label-issues", "--top", "0", stdin=path.read_text())
    assert [r["row"] for r in from_stdin["label_issues"]] == want
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", labels)
    from_npy = score_json(tmp_path / "p.npy", tmp_path / "y.npy", "--label-issues", "--top", "0",
                          "--chunk-size", "4K")  # fmt: skip
    assert [r["row"] for r in from_npy["label_issues"]] == want
    import pyarrow as pa

    table = pa.table({**{c: probs[:, j] for j, c in enumerate(CLASSES)}, "label": labels})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=100)
    from_parquet = score_json(tmp_path / "p.parquet", "--label-issues", "--top", "0")
    assert [r["row"] for r in from_parquet["label_issues"]] == want


def test_logits_are_scored_as_their_softmax(tmp_path):
    labels, probs = noisy(3)
    logits = np.log(probs) + 1.5
    np.save(tmp_path / "z.npy", logits)
    np.save(tmp_path / "y.npy", labels)
    doc = score_json(tmp_path / "z.npy", tmp_path / "y.npy", "--logits", "--label-issues",
                     "--top", "0")  # fmt: skip
    soft = np.exp(logits - logits.max(axis=1, keepdims=True))
    soft /= soft.sum(axis=1, keepdims=True)
    assert [r["row"] for r in doc["label_issues"]] == expected_rows(labels, soft)


def test_binary_is_cleanlabs_two_class_problem(tmp_path):
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 2, 800)
    p = 1 / (1 + np.exp(-(rng.standard_normal(800) + 3 * (2 * truth - 1))))
    labels = np.where(rng.random(800) < 0.1, 1 - truth, truth)
    path = tmp_path / "b.csv"
    lines = [f"{float(x)!r},{y}\n" for x, y in zip(p, labels, strict=True)]
    path.write_text("p,label\n" + "".join(lines))
    doc = score_json(path, "--label-issues", "--top", "0", "--chunk-size", "1K")
    two = np.stack([1 - p, p], axis=1)
    assert sorted(r["row"] for r in doc["label_issues"]) == sorted(
        np.flatnonzero(cleanlab_filter.find_label_issues(labels, two)).tolist()
    )
    assert list(doc["label_thresholds"]) == ["0", "1"]


def test_multilabel_is_cleanlabs_one_vs_rest(tmp_path):
    rng = np.random.default_rng(8)
    n, k = 700, 3
    truth = rng.random((n, k)) < 0.4
    p = 1 / (1 + np.exp(-(rng.standard_normal((n, k)) + 3 * (2 * truth - 1))))
    given = truth ^ (rng.random((n, k)) < 0.08)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", given.astype(np.int64))
    doc = score_json(tmp_path / "p.npy", tmp_path / "y.npy", "--kind", "multilabel",
                     "--label-issues", "--top", "0", "--chunk-size", "4K")  # fmt: skip
    as_lists = [np.flatnonzero(row).tolist() for row in given]
    mask = cleanlab_multilabel.find_label_issues(as_lists, p)
    assert doc["label_issue_count"] == int(mask.sum())
    assert sorted({r["row"] for r in doc["label_issues"]}) == np.flatnonzero(mask).tolist()
    per_class = cleanlab_multilabel.find_multilabel_issues_per_class(as_lists, p)
    pairs = sorted((r["row"], int(r["class"])) for r in doc["label_issues"])
    assert pairs == sorted(zip(*np.nonzero(per_class), strict=True))
    for r in doc["label_issues"]:
        present = bool(given[r["row"], int(r["class"])])
        assert r["label"] == ("present" if present else "absent")
        assert r["suggested"] == ("absent" if present else "present")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npy"])
def test_the_per_sample_file_marks_the_rows_found(tmp_path, suffix):
    labels, probs = noisy(21, n=500)
    path = write_csv(tmp_path / "preds.csv", labels, probs)
    out = tmp_path / f"rows{suffix}"
    doc = score_json(path, "--label-issues", "--top", "0", "--chunk-size", "4K",
                     "--per-sample", out)  # fmt: skip
    if suffix == ".npy":
        table = np.load(out)
        issue, quality, rows = table["label_issue"], table["label_quality"], table["row"]
    else:
        frame = pq.read_table(out) if suffix == ".parquet" else None
        if frame is None:
            import pyarrow.csv as pacsv

            frame = pacsv.read_csv(out)
        issue = np.asarray(frame.column("label_issue").to_pylist(), dtype=bool)
        quality = np.asarray(frame.column("label_quality").to_pylist(), dtype=float)
        rows = np.asarray(frame.column("row").to_pylist())
    assert rows.tolist() == list(range(500))
    assert np.flatnonzero(issue).tolist() == sorted(r["row"] for r in doc["label_issues"])
    np.testing.assert_allclose(quality, probs[np.arange(500), labels], rtol=1e-12)


def test_without_the_flag_the_keys_are_null_and_the_rest_is_unchanged(tmp_path):
    labels, probs = noisy(2)
    path = write_csv(tmp_path / "preds.csv", labels, probs)
    plain, found = score_json(path), score_json(path, "--label-issues")
    for key in ("label_issues", "label_issue_count", "label_thresholds", "noise_matrix"):
        assert plain[key] is None
        assert found[key] is not None
    assert {k: v for k, v in plain.items() if v is not None} == {
        k: v for k, v in found.items() if k in plain and plain[k] is not None
    }


def test_the_table_and_markdown_show_the_section_with_names_escaped(tmp_path):
    labels, probs = noisy(4, k=3)
    global CLASSES
    saved, CLASSES = CLASSES, ["[red]x[/]", "=cmd|y", "<b>z</b>"]
    try:
        path = write_csv(tmp_path / "preds.csv", labels, probs)
    finally:
        CLASSES = saved
    table = runner.invoke(app, ["score", str(path), "--id-col", "id", "--label-issues"])
    assert table.exit_code == 0, table.output
    for text in ("Likely label errors", "[red]x[/]", "Estimated noise", "Most confused"):
        assert text in table.stdout
    markdown = runner.invoke(app, ["score", str(path), "--label-issues", "-f", "markdown"])
    assert "#### Likely label errors" in markdown.stdout
    assert "<b>" not in markdown.stdout
    assert "\\[red\\]x" in markdown.stdout


def test_the_spill_gives_back_every_batch_as_written():
    rng = np.random.default_rng(0)
    batches = [
        Batch(0, rng.random((3, 2)).astype(np.float32), np.array([0, 1, 1]),
              np.array(["a", "é", ""], dtype=object), np.array([1.0, 2.0, 0.5])),
        Batch(3, rng.random((2, 2)), rng.random((2, 2))),
        Batch(5, rng.random(2), np.array([0.0, 1.0]), np.array(["\udcff", "x,y\n"], object)),
    ]  # fmt: skip
    with Spill() as spill:
        for batch in batches:
            spill.write(batch)
        for _ in range(2):  # read as often as asked
            back = list(spill.batches())
            assert len(back) == len(batches)
            for got, want in zip(back, batches, strict=True):
                assert got.first_row == want.first_row
                for name in ("preds", "targets", "weights"):
                    a, b = getattr(got, name), getattr(want, name)
                    assert (a is None) == (b is None)
                    if a is not None:
                        assert a.dtype == b.dtype
                        np.testing.assert_array_equal(a, b)
                assert (got.ids is None) == (want.ids is None)
                if got.ids is not None:
                    assert got.ids.tolist() == want.ids.tolist()


def test_a_spill_that_cannot_be_made_says_where_to_put_it(tmp_path):
    with pytest.raises(OutputError, match="TMPDIR"):
        Spill(folder=str(tmp_path / "missing"))


def test_a_binary_file_that_changes_between_passes_is_refused(tmp_path):
    labels, probs = noisy(1)
    np.save(tmp_path / "p.npy", probs)
    np.save(tmp_path / "y.npy", labels)
    options = InputOptions()
    with Inputs(str(tmp_path / "p.npy"), str(tmp_path / "y.npy"), options) as inputs:
        replay = Replay(inputs)
        assert replay.spill is None  # read again, not kept
        assert sum(b.n_rows for b in replay.batches()) == len(labels)
        np.save(tmp_path / "y.npy", labels[::-1])
        os.utime(tmp_path / "y.npy", ns=(1, 1))
        with pytest.raises(InputError, match="changed while cecli was reading it"):
            list(replay.batches())


@pytest.mark.parametrize("source", ["file", "stdin", "parquet"])
def test_each_slice_counts_its_label_issues(tmp_path, source):
    labels, probs = noisy(9, n=800)
    groups = np.array(["north", "south", "", "east,west"])[np.arange(800) % 4]
    path = tmp_path / "preds.csv"
    with open(path, "w") as f:
        f.write(",".join(CLASSES) + ",label,region\n")
        for y, row, g in zip(labels, probs, groups, strict=True):
            region = f'"{g}"' if "," in g else g
            f.write(",".join(repr(float(p)) for p in row) + f",{CLASSES[y]},{region}\n")
    args = ["--label-issues", "--by", "region", "--min-slice-rows", "1", "--chunk-size", "8K"]
    if source == "file":
        doc = score_json(path, *args)
    elif source == "stdin":
        doc = score_json("-", *args, stdin=path.read_text())
    else:
        import pyarrow as pa

        columns = {c: probs[:, j] for j, c in enumerate(CLASSES)}
        table = pa.table({**columns, "label": labels, "region": groups})
        pq.write_table(table, tmp_path / "p.parquet", row_group_size=100)
        doc = score_json(tmp_path / "p.parquet", *args)
    rows = np.array(expected_rows(labels, probs))
    import pandas as pd

    want = pd.Series(groups[rows]).value_counts().to_dict()
    got = {s["value"]: s["label_issues"] for s in doc["slices"]}
    missing = got.pop(None, 0)  # an empty cell of text is the missing slice
    assert missing == want.pop("", 0)
    assert got == {g: want.get(g, 0) for g in got}
    assert sum(s["label_issues"] for s in doc["slices"]) == doc["label_issue_count"]


def test_the_plot_outlines_where_the_label_errors_lie(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.axes

    labels, probs = noisy(11)
    path = write_csv(tmp_path / "p.csv", labels, probs)
    drawn = []
    real = matplotlib.axes.Axes.stairs

    def stairs(self, values, edges=None, **kwargs):
        drawn.append((np.asarray(values), np.asarray(edges), kwargs.get("label", "")))
        return real(self, values, edges, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "stairs", stairs)
    out = tmp_path / "p.png"
    result = runner.invoke(app, ["score", str(path), "--label-issues", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    ((counts, edges, label),) = drawn
    expected = expected_rows(labels, probs)
    assert f"({len(expected):,}," in label
    # each issue's loss, -ln p(given label) by the definition, in the bin that holds it:
    # bin b holds edges[b] < loss <= edges[b + 1]
    losses = -np.log(probs[expected, labels[expected]])
    want = [int(np.sum((losses > lo) & (losses <= hi))) for lo, hi in itertools.pairwise(edges)]
    want[0] += int(np.sum(losses <= edges[0]))  # the first bar holds every smaller loss
    want[-1] += int(np.sum(losses > edges[-1]))  # and the last one every larger loss
    assert counts.tolist() == want
    assert sum(want) == len(expected)
