"""``cecli compare``: two models on the same rows, with a paired bootstrap interval."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from cecli.cli._declare import (
    MIN_SLICE_ROWS,
    Base,
    BaseOption,
    ByOption,
    ChunkSizeOption,
    CiMethod,
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

if TYPE_CHECKING:
    from cecli.inputs import InputOptions


def compare(
    baseline: Annotated[
        str, typer.Argument(metavar="BASELINE", help="The reference model's predictions.")
    ],
    candidate: Annotated[
        str, typer.Argument(metavar="CANDIDATE", help="The new model's predictions, same rows.")
    ],
    labels: Annotated[
        str | None,
        typer.Argument(metavar="LABELS", help="True labels, if not a column of each file."),
    ] = None,
    kind: KindOption = Kind.auto,
    logits: Annotated[
        bool, typer.Option("--logits", help="Both files hold raw scores (logits).")
    ] = False,
    baseline_logits: Annotated[
        bool, typer.Option("--baseline-logits", help="BASELINE holds logits (CANDIDATE not).")
    ] = False,
    candidate_logits: Annotated[
        bool, typer.Option("--candidate-logits", help="CANDIDATE holds logits (BASELINE not).")
    ] = False,
    output_format: FormatOption = OutputFormat.table,
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", help="Paired bootstrap resamples, 1 to 10,000,000.")
    ] = 2000,
    confidence: Annotated[
        float, typer.Option(help="Confidence level of the interval, in (0, 1).")
    ] = 0.95,
    seed: Annotated[
        int, typer.Option(help="Seed of the bootstrap (>= 0): the same seed, the same interval.")
    ] = 0,
    ci_method: Annotated[
        CiMethod | None,
        typer.Option(
            case_sensitive=False,
            show_default=False,
            help="bca: bias-corrected and accelerated; percentile: plain percentiles; "
            "poisson: streaming Poisson bootstrap (per-resample sums, mergeable).  "
            "[default: bca; poisson with --workers or --dask]",
        ),
    ] = None,
    fail_if_worse: Annotated[
        bool,
        typer.Option(
            "--fail-if-worse",
            help="Gate: fail (exit 1) if the candidate's loss is significantly higher.",
        ),
    ] = False,
    max_increase: Annotated[
        float | None,
        typer.Option(help="Gate: fail if the interval's upper end is above this increase."),
    ] = None,
    threshold: ThresholdOption = 0.9,
    top: Annotated[int, typer.Option(help="Regressions and fixed rows to list; 0 lists all.")] = 10,
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
    id_col: Annotated[
        str | None,
        typer.Option(help="Join the two files' rows on this column instead of their order."),
    ] = None,
    pred_key: PredKeyOption = None,
    label_key: LabelKeyOption = None,
    positive: PositiveOption = None,
    chunk_size: ChunkSizeOption = "64M",
    storage_option: StorageOptionOption = None,
    calibration: Annotated[
        bool,
        typer.Option(
            "--calibration",
            help="Also compare calibration: each model's ECE and Brier, intervals of the changes.",
        ),
    ] = False,
    bins: Annotated[
        int | None,
        typer.Option(help="Equal-width confidence bins for calibration, 1 to 1000.  [default: 15]"),
    ] = None,
    plot: PlotOption = None,
    html: HtmlOption = None,
    json_file: JsonOption = None,
    by: ByOption = None,
    show: ShowOption = None,
    min_slice_rows: MinSliceRowsOption = None,
    fail_if_any_slice_worse: Annotated[
        bool,
        typer.Option(
            "--fail-if-any-slice-worse",
            help="Gate: fail if a ranked slice's loss is significantly higher (Holm, with --by).",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Compare the shard pairs on a local Dask cluster of this many processes "
            '(pip install "cecli[dask]"); the interval is --ci-method poisson.'
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help="Compare the shard pairs on the Dask scheduler at ADDRESS (tcp://host:8786).",
        ),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Compare CANDIDATE with BASELINE on the same rows: better, worse, or no difference."""

    @naming_flags
    def work() -> int:
        from cecli.bootstrap import check_bootstrap_options
        from cecli.inputs import Inputs
        from cecli.labels import parse_class_weights
        from cecli.pairing import CompareOptions, compare_inputs
        from cecli.readers import STDIN
        from cecli.render.progress import stderr_progress
        from cecli.report import CompareReport, check_compare_gates, check_max_increase
        from cecli.report.slices import check_slice_compare_gate

        if labels == STDIN:
            raise OptionError(
                "LABELS cannot be standard input (-) for compare: it is read once for each "
                "model. Give it as a file."
            )
        if baseline == STDIN and candidate == STDIN:
            raise OptionError(
                "Only one of BASELINE and CANDIDATE can be standard input (-); give the other "
                "as a file."
            )
        # every option is checked before a file is read
        check_count("--top", top, 0)
        if top_k is not None:
            check_count("--top-k", top_k, 1)
        core_options = score_options(
            eps, label_smoothing, focal_gamma, threshold, base, top, pos_weight, focal_alpha
        )
        on_workers = workers is not None or dask is not None
        method = ci_method.value if ci_method is not None else "bca"
        if on_workers:
            from cecli.cli._workers import check_compare_worker_options

            method = check_compare_worker_options(
                workers,
                dask,
                top=top,
                ci_method=None if ci_method is None else ci_method.value,
                calibration=calibration,
                by=by,
                id_col=id_col,
                class_weights=class_weights,
                paths=(baseline, candidate, labels),
            )
        if method == "poisson":
            from cecli.poisson_bootstrap import check_poisson_options

            check_poisson_options(bootstrap, confidence, seed)
            if calibration:
                raise OptionError(
                    "--calibration's intervals resample rows (bca or percentile); with "
                    "--ci-method poisson, compare calibration with --ci-method bca."
                )
        else:
            check_bootstrap_options(bootstrap, confidence, method, seed)
        check_max_increase(max_increase)
        picture = plot_path(plot)
        page = html_path(html, baseline, candidate, labels)
        if json_file is not None:
            from cecli.render.report_file import check_json_path

            check_json_path(json_file, (baseline, candidate, labels))
        specs = slice_specs(by, min_slice_rows, fail_if_any_slice_worse=fail_if_any_slice_worse)
        columns = tuple(s.column for s in specs)
        shown_columns = show_columns(show)
        calibration_bins = None
        if bins is not None:
            check_count("--bins", bins, 1, 1000)
            if not calibration:
                raise OptionError("--bins applies to --calibration; add it.")
        if calibration:
            from cecli.calibration import DEFAULT_BINS

            calibration_bins = bins or DEFAULT_BINS

        def options(from_logits: bool, baseline: bool = True) -> InputOptions:
            return input_options(
                kind,
                from_logits,
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
                slice_cols=columns,
                # the slices are the baseline's; the candidate sets the columns aside if it has them
                slices_optional=not baseline,
                storage_option=storage_option,
                ignore_label=ignore_label,
                # the listed rows are the baseline's: its file or the labels hold the columns;
                # in the candidate's they are never predictions either (if it has them)
                show_cols=shown_columns if baseline else (),
                reserved_cols=() if baseline else shown_columns,
            )

        with (
            Inputs(baseline, labels, options(logits or baseline_logits)) as base_inputs,
            Inputs(candidate, labels, options(logits or candidate_logits, False)) as cand_inputs,
        ):
            if specs:
                from cecli.slices import check_slice_fields

                check_slice_fields(specs, base_inputs.slice_fields())
            weights = None
            if class_weights is not None:
                weights = parse_class_weights(class_weights, base_inputs.classes)
            # --ignore-label: each side's rows with that label are left out (one mask for both)
            run_options = replace(core_options, class_weights=weights, top_k=top_k)
            compare_options = CompareOptions(bootstrap, confidence, seed, method, calibration_bins)
            if on_workers:
                from cecli.dask import compare_on_workers, connect

                with connect(workers, dask) as client:
                    compared = compare_on_workers(
                        base_inputs, cand_inputs, run_options, compare_options, client
                    )
            else:
                compared = compare_inputs(
                    base_inputs,
                    cand_inputs,
                    run_options,
                    compare_options,
                    join_on_ids=id_col is not None,
                    shared_labels=labels is not None,
                    progress=stderr_progress,
                    slices=specs,
                    min_slice_rows=MIN_SLICE_ROWS if min_slice_rows is None else min_slice_rows,
                )
            files = {
                "baseline": base_inputs.pred_source.display,
                "candidate": cand_inputs.pred_source.display,
                "labels": None if labels is None else base_inputs.describe()["labels"],
                "ignore_label": base_inputs.ignore_label,
            }
            classes = base_inputs.classes
            shown = None
            if shown_columns:
                from cecli.shown import Shown

                shown = Shown(tuple(base_inputs.show_names), compared.shown)
        report = CompareReport(
            compared.baseline,
            compared.candidate,
            compared.comparison,
            classes,
            files,
            top,
            compared.ids,
            check_compare_gates(
                compared.comparison, fail_if_worse=fail_if_worse, max_increase=max_increase
            )
            + check_slice_compare_gate(compared.slices, fail_if_any_slice_worse),
            slices=compared.slices,
            calibration=compared.calibration,
            show=shown,
        )
        if picture is not None:
            from cecli.render.plot import write_compare_plot

            write_compare_plot(picture, report)
        if page is not None:
            from cecli.render.html import write_html

            write_html(page, report)
        if json_file is not None:
            from cecli.render.report_file import write_json_report

            write_json_report(json_file, report)
        return render(report, output_format.value)

    run(work, debug)
