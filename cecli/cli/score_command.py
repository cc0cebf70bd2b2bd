"""``cecli score``: one model's loss, accuracy and confidently wrong rows.

The modules a run needs are imported when it needs them: calibration for
``--calibration`` or ``--plot``, the per-sample writer for ``--per-sample``,
matplotlib for ``--plot``, rich only for a table (see :func:`cecli.cli._run.render`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from cecli.cli._declare import (
    MIN_SLICE_ROWS,
    PREDICTIONS_HELP,
    Base,
    BaseOption,
    ByOption,
    ChunkSizeOption,
    ClassWeightsOption,
    DebugOption,
    EpsOption,
    FocalAlphaOption,
    FocalOption,
    FormatOption,
    HeaderOption,
    HtmlOption,
    IgnoreLabelOption,
    InputFormatOption,
    JsonOption,
    Kind,
    KindOption,
    LabelColOption,
    LabelKeyOption,
    LogitsOption,
    MinSliceRowsOption,
    OutputFormat,
    PlotOption,
    PositiveOption,
    PosWeightOption,
    PredColsOption,
    PredKeyOption,
    ShowOption,
    SmoothingOption,
    StorageOptionOption,
    ThresholdOption,
    TopKOption,
    TopOption,
    WeightColOption,
    html_path,
    input_options,
    plot_path,
    score_options,
    show_columns,
    slice_specs,
)
from cecli.cli._run import render, run
from cecli.errors import OptionError
from cecli.options import check_count, naming_flags


def score(
    predictions: Annotated[str, typer.Argument(metavar="PREDICTIONS", help=PREDICTIONS_HELP)],
    labels: Annotated[
        str | None,
        typer.Argument(
            metavar="LABELS", help="True labels, if not a column of PREDICTIONS (or in its .npz)."
        ),
    ] = None,
    kind: KindOption = Kind.auto,
    logits: LogitsOption = False,
    output_format: FormatOption = OutputFormat.table,
    threshold: ThresholdOption = 0.9,
    top: TopOption = 10,
    top_k: TopKOption = None,
    ignore_label: IgnoreLabelOption = None,
    base: BaseOption = Base.e,
    class_weights: ClassWeightsOption = None,
    weight_col: WeightColOption = None,
    label_smoothing: SmoothingOption = 0.0,
    focal_gamma: FocalOption = 0.0,
    focal_alpha: FocalAlphaOption = None,
    pos_weight: PosWeightOption = None,
    eps: EpsOption = "auto",
    input_format: InputFormatOption = None,
    header: HeaderOption = None,
    pred_cols: PredColsOption = None,
    label_col: LabelColOption = None,
    id_col: Annotated[str | None, typer.Option(help="Column of row ids for reports.")] = None,
    pred_key: PredKeyOption = None,
    label_key: LabelKeyOption = None,
    positive: PositiveOption = None,
    chunk_size: ChunkSizeOption = "64M",
    storage_option: StorageOptionOption = None,
    per_sample: Annotated[
        str | None,
        typer.Option(help="Also write one row per input row to this .csv, .parquet or .npy."),
    ] = None,
    fail_above: Annotated[
        float | None, typer.Option(help="Gate: fail (exit 1) if the mean loss is above this.")
    ] = None,
    max_flagged: Annotated[
        int | None, typer.Option(help="Gate: fail if more rows than this are flagged.")
    ] = None,
    min_accuracy: Annotated[
        float | None, typer.Option(help="Gate: fail if the accuracy is below this (0 to 1).")
    ] = None,
    calibration: Annotated[
        bool,
        typer.Option(
            "--calibration",
            help="Also report calibration: ECE, Brier, a reliability table, the temperature.",
        ),
    ] = False,
    bins: Annotated[
        int | None,
        typer.Option(help="Equal-width confidence bins for calibration, 1 to 1000.  [default: 15]"),
    ] = None,
    adaptive: Annotated[
        bool,
        typer.Option(
            "--adaptive", help="Show equal-mass bins (adaptive ECE's) in the reliability table."
        ),
    ] = False,
    label_issues: Annotated[
        bool,
        typer.Option(
            "--label-issues",
            help="Also find likely label errors by confident learning (as cleanlab's "
            "find_label_issues): two or three more passes over the rows (text input is "
            "kept in a temporary file for them).",
        ),
    ] = False,
    el2n: Annotated[
        bool,
        typer.Option(
            "--el2n",
            help="Also report how hard the rows are: the distribution of EL2N, ||p - t||.",
        ),
    ] = False,
    plot: PlotOption = None,
    html: HtmlOption = None,
    json_file: JsonOption = None,
    by: ByOption = None,
    show: ShowOption = None,
    min_slice_rows: MinSliceRowsOption = None,
    slice_fail_above: Annotated[
        float | None,
        typer.Option(help="Gate: fail if a ranked slice's mean loss is above this (with --by)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Score the shards on a local Dask cluster of this many processes "
            '(pip install "cecli[dask]").'
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help="Score the shards on the Dask scheduler at ADDRESS (tcp://host:8786).",
        ),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Score PREDICTIONS against LABELS: mean loss and its 95% interval, accuracy, wrong rows.

    With --label-issues, also the rows whose label is likely wrong.
    """

    @naming_flags
    def work() -> int:
        from cecli.inputs import Inputs
        from cecli.pipeline import score_inputs
        from cecli.render.progress import stderr_progress
        from cecli.report import build_report, check_gate_limits, check_gates
        from cecli.shown import shown_of

        # every option is checked before a file is read
        check_count("--top", top, 0)
        if top_k is not None:
            check_count("--top-k", top_k, 1)
        if bins is not None:
            check_count("--bins", bins, 1, 1000)
        core_options = score_options(
            eps, label_smoothing, focal_gamma, threshold, base, top, pos_weight, focal_alpha
        )
        check_gate_limits(fail_above=fail_above, max_flagged=max_flagged, min_accuracy=min_accuracy)
        specs = slice_specs(by, min_slice_rows, slice_fail_above=slice_fail_above)
        if specs:
            from cecli.report.slices import check_slice_limit

            check_slice_limit(slice_fail_above)
        picture = plot_path(plot)
        shown_columns = show_columns(show)
        page = html_path(html, predictions, labels)
        if json_file is not None:
            from cecli.render.report_file import check_json_path

            check_json_path(json_file, (predictions, labels))
        on_workers = workers is not None or dask is not None
        if on_workers:
            from cecli.cli._workers import check_worker_options

            check_worker_options(workers, dask, top=top, per_sample=per_sample)
        calibration_bins = None
        if calibration or picture:
            from cecli.calibration import DEFAULT_BINS

            calibration_bins = bins or DEFAULT_BINS
        else:
            given = "--bins" if bins is not None else "--adaptive" if adaptive else None
            if given:
                raise OptionError(f"{given} applies to --calibration (or --plot); add one of them.")
        options = input_options(
            kind,
            logits,
            input_format,
            header,
            pred_cols,
            label_col,
            id_col,
            weight_col,
            pred_key,
            label_key,
            positive,
            chunk_size,
            slice_cols=tuple(s.column for s in specs),
            storage_option=storage_option,
            ignore_label=ignore_label,
            show_cols=shown_columns,
        )
        with Inputs(predictions, labels, options) as inputs:
            if specs:
                from cecli.slices import check_slice_fields

                check_slice_fields(specs, inputs.slice_fields())
            weights = None
            if class_weights is not None:
                from cecli.labels import parse_class_weights

                weights = parse_class_weights(class_weights, inputs.classes)
            writer = None
            if per_sample is not None and not on_workers:  # on workers: each writes its part
                from cecli.render.per_sample import PerSampleWriter

                writer = PerSampleWriter(
                    per_sample,
                    inputs=inputs.files(),
                    classes=inputs.classes,
                    kind=inputs.kind,
                    weighted=weight_col is not None or class_weights is not None,
                    label_issues=label_issues,
                    shards=inputs.shard_map,
                    ranks=top_k is not None,
                    ignored=ignore_label is not None,
                    show=inputs.show_names,
                )
            try:
                run_options = replace(
                    core_options,
                    class_weights=weights,
                    calibration_bins=calibration_bins,
                    temperature=calibration,
                    fine_histogram=picture is not None,
                    label_issues=label_issues,
                    slices=specs,
                    min_slice_rows=MIN_SLICE_ROWS if min_slice_rows is None else min_slice_rows,
                    # the per-sample file has each row's EL2N, whether or not it is reported
                    el2n=el2n or per_sample is not None,
                    ignore_index=inputs.ignore_index,
                    top_k=top_k,
                )
                if on_workers:
                    from cecli.dask import connect, score_on_workers

                    with connect(workers, dask) as client:
                        scored = score_on_workers(inputs, run_options, client, per_sample)
                else:
                    scored = score_inputs(
                        inputs,
                        run_options,
                        on_batch=None
                        if writer is None
                        else lambda b, s, c: writer.write(s, b.ids, c, b.show),
                        progress=stderr_progress(inputs),
                    )
                if writer is not None:
                    writer.commit()
            except BaseException:
                if writer is not None:
                    writer.abort()
                raise
            gates = check_gates(
                scored.summary,
                fail_above=fail_above,
                max_flagged=max_flagged,
                min_accuracy=min_accuracy,
            )
            if specs:
                from cecli.report.slices import check_slice_gate

                gates += check_slice_gate(scored.slices, slice_fail_above)
            report = build_report(
                scored.summary,
                inputs.classes,
                inputs.describe(),
                top,
                scored.ids,
                gates,
                scored.histogram,
                scored.histogram_edges,
                scored.calibration if calibration else None,
                scored.temperature,
                "adaptive" if adaptive else "uniform",
                scored.label_issues,
                scored.slices,
                scored.el2n if el2n else None,
                shards=inputs.shard_map,
                show=shown_of(inputs.show_names, scored.shown, scored.label_issues)
                if shown_columns
                else None,
            )
        if picture is not None:
            from cecli.render.plot import write_score_plot

            write_score_plot(picture, report, scored, adaptive=adaptive)
        if page is not None:
            from cecli.render.html import write_html

            write_html(page, report)
        if json_file is not None:
            from cecli.render.report_file import write_json_report

            write_json_report(json_file, report)
        return render(report, output_format.value)

    run(work, debug)
