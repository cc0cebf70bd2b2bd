"""The ``cecli`` command: a thin layer that parses options and calls the library.

It holds no arithmetic and parses no files; it maps :class:`cecli.CecliError`
to one line on standard error and an exit status (see :mod:`cecli.errors`).
Heavy imports (NumPy, pandas, pyarrow) happen inside the commands, so
``cecli --help`` and ``cecli --version`` start fast.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import traceback
import warnings
from collections.abc import Callable
from dataclasses import replace
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from cecli._signals import stop_on_signals
from cecli._version import __version__
from cecli.errors import CecliError, CecliWarning, ExitStatus, OptionError
from cecli.options import EXIT_STATUSES, Command, check_count, naming_flags, parse_eps, usage_line

if TYPE_CHECKING:
    from cecli.inputs import InputOptions

ABOUT = "Score saved model outputs with cross-entropy, and find where a model is confidently wrong."

app = typer.Typer(
    name="cecli",
    help=ABOUT,
    epilog=EXIT_STATUSES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Kind(str, Enum):
    auto = "auto"
    binary = "binary"
    categorical = "categorical"
    multilabel = "multilabel"


class InputFormat(str, Enum):
    csv = "csv"
    tsv = "tsv"
    npy = "npy"
    npz = "npz"
    parquet = "parquet"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class Base(str, Enum):
    e = "e"
    two = "2"
    ten = "10"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"cecli {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def cecli(
    version: bool = typer.Option(
        False, "--version", help="Show the version and exit.", is_eager=True, callback=_show_version
    ),
) -> None:
    """Score saved model outputs with cross-entropy, and find where a model is confidently wrong."""


PREDICTIONS_HELP = (
    "Predictions: .csv or .tsv (also .gz, .bz2, .zst), .npy, .npz, .parquet, or - for stdin."
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``64M``, ``512K``, ``1G`` or a number of bytes."""
    match = _SIZE.match(text)
    if not match:
        raise OptionError(f"--chunk-size must be a size such as 64M, 512K or 1G; got {text!r}.")
    number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit])
    if size < 1:
        raise OptionError(f"--chunk-size must be at least 1 byte; got {text!r}.")
    return size


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _visible(text: str) -> str:
    """``text`` with its control characters shown as escapes: messages quote the data."""
    from cecli.render.escape import visible

    return visible(text)


def _show_warning(message: Warning | str, category: type[Warning], *args: object) -> None:
    typer.echo(f"cecli: warning: {_visible(str(message))}", err=True)


def _run(work: Callable[[], int], debug: bool) -> None:
    """Run a command; map errors to one line on stderr and an exit status."""
    # the core's warnings (logits that look like probabilities) are one line each, once
    warnings.simplefilter("once", CecliWarning)
    warnings.showwarning = _show_warning
    try:
        with stop_on_signals():
            status = work()
    except CecliError as error:
        if debug:
            traceback.print_exc()
        typer.echo(f"cecli: error: {_visible(str(error))}", err=True)
        raise typer.Exit(int(error.exit_status)) from None
    except BrokenPipeError:
        # the reader of our output (head, less) has gone: not an error of ours
        _silence_stdout()
        raise typer.Exit(int(ExitStatus.SUCCESS)) from None
    except KeyboardInterrupt as interrupt:
        signum = getattr(interrupt, "signum", signal.SIGINT)
        typer.echo(f"cecli: {'interrupted' if signum == signal.SIGINT else 'terminated'}", err=True)
        raise typer.Exit(128 + signum) from None
    except Exception as error:  # a bug: say so briefly, and how to see it
        if debug:
            traceback.print_exc()
        else:
            typer.echo(
                f"cecli: internal error: {type(error).__name__}: {_visible(str(error))}. "
                "Rerun with --debug for the traceback, and report it.",
                err=True,
            )
        raise typer.Exit(int(ExitStatus.INTERNAL_ERROR)) from None
    raise typer.Exit(status)


# Options that ``score`` and ``compare`` share, each declared once.
KindOption = Annotated[
    Kind,
    typer.Option(
        case_sensitive=False, help="auto: one prediction column is binary, several categorical."
    ),
]
LogitsOption = Annotated[
    bool, typer.Option("--logits", help="The predictions are raw scores (logits).")
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", case_sensitive=False, help="Output format.")
]
ThresholdOption = Annotated[
    float, typer.Option(help="Flag wrong predictions with at least this confidence, in (0, 1].")
]
TopOption = Annotated[int, typer.Option(help="Rows to list as flagged and as worst; 0 lists all.")]
BaseOption = Annotated[
    Base, typer.Option(case_sensitive=False, help="Log base: e (nats), 2 (bits), 10 (bans).")
]
ClassWeightsOption = Annotated[
    str | None, typer.Option(help="balanced, or 0.5,2,1 (column order), or cat=2,dog=1.")
]
WeightColOption = Annotated[str | None, typer.Option(help="Column of per-sample weights.")]
SmoothingOption = Annotated[float, typer.Option(help="Label smoothing alpha in [0, 1].")]
FocalOption = Annotated[float, typer.Option(help="Focal loss gamma >= 0 (0: plain cross-entropy).")]
EpsOption = Annotated[
    str, typer.Option(help="Clip probabilities to [eps, 1-eps], eps in (0, 0.5); auto: the type's.")
]
InputFormatOption = Annotated[
    InputFormat | None,
    typer.Option(
        case_sensitive=False, help="Read the inputs as this format, whatever their extension."
    ),
]
HeaderOption = Annotated[
    bool | None,
    typer.Option("--header/--no-header", help="CSV/TSV: the first line is (not) a header."),
]
PredColsOption = Annotated[
    str | None, typer.Option(help="Prediction columns: a comma list or a glob (prob_*).")
]
LabelColOption = Annotated[str | None, typer.Option(help="The label column.")]
PredKeyOption = Annotated[str | None, typer.Option(help="NPZ: the predictions' array.")]
LabelKeyOption = Annotated[str | None, typer.Option(help="NPZ: the labels' array.")]
PositiveOption = Annotated[
    str | None, typer.Option(help="Binary labels given as text: the positive class.")
]
ChunkSizeOption = Annotated[str, typer.Option(help="Predictions read per chunk, e.g. 64M, 512K.")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")]
PlotOption = Annotated[
    str | None,
    typer.Option(help="Also draw the report's pictures to this .png, .svg or .pdf (matplotlib)."),
]


def _input_options(
    kind: Kind,
    from_logits: bool,
    input_format: InputFormat | None,
    header: bool | None,
    pred_cols: str | None,
    label_col: str | None,
    id_col: str | None,
    weight_col: str | None,
    pred_key: str | None,
    label_key: str | None,
    positive: str | None,
    chunk_size: str,
) -> InputOptions:
    """The input layer's options, from the options ``score`` and ``compare`` share."""
    from cecli.inputs import InputOptions

    return InputOptions(
        kind=kind.value,
        from_logits=from_logits,
        input_format=None if input_format is None else input_format.value,
        header=header,
        pred_cols=pred_cols,
        label_col=label_col,
        id_col=id_col,
        weight_col=weight_col,
        pred_key=pred_key,
        label_key=label_key,
        positive=positive,
        chunk_bytes=parse_size(chunk_size),
    )


def _score_options(
    class_weights: object,
    eps: str,
    label_smoothing: float,
    focal_gamma: float,
    threshold: float,
    base: Base,
    top: int,
) -> object:
    from cecli.pipeline import ScoreOptions

    return ScoreOptions(
        class_weights=class_weights,  # type: ignore[arg-type]
        eps=parse_eps(eps),
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
        threshold=threshold,
        base=base.value,
        keep=None if top == 0 else top,
    )


def _plot_path(plot: str | None) -> object:
    """The checked ``--plot`` path (before any work is done), or None."""
    if plot is None:
        return None
    from cecli.render.plot import check_plot_path

    return check_plot_path(plot)


def _render(report: object, output_format: OutputFormat) -> int:
    """Write the report to stdout, say which gates failed on stderr; the exit status."""
    from cecli.errors import OutputError, reason_of
    from cecli.render import RENDERERS

    if sys.stdout is None:
        raise OutputError("standard output is closed; the report has nowhere to go.")
    try:
        RENDERERS[output_format.value].render(report, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader (head, less) has gone; the exit status still tells the gates
        _silence_stdout()
    except OSError as error:  # a full disk, a file too large
        with contextlib.suppress(OSError, ValueError):
            _silence_stdout()
        reason = reason_of(error)
        raise OutputError(f"the report cannot be written to standard output: {reason}.") from None
    for gate in report.gates:  # type: ignore[attr-defined]
        if not gate.passed:
            typer.echo(f"cecli: gate failed: {gate.describe()}", err=True)
        elif not gate.evaluated:
            typer.echo(f"cecli: warning: gate not evaluated: {gate.describe()}", err=True)
    return int(ExitStatus.SUCCESS if report.passed else ExitStatus.GATE_FAILED)  # type: ignore[attr-defined]


@app.command(cls=Command, epilog=EXIT_STATUSES)
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
    base: BaseOption = Base.e,
    class_weights: ClassWeightsOption = None,
    weight_col: WeightColOption = None,
    label_smoothing: SmoothingOption = 0.0,
    focal_gamma: FocalOption = 0.0,
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
    plot: PlotOption = None,
    debug: DebugOption = False,
) -> None:
    """Score PREDICTIONS against LABELS: loss, accuracy, and the confidently wrong rows."""

    @naming_flags
    def work() -> int:
        from cecli.calibration import DEFAULT_BINS
        from cecli.inputs import Inputs
        from cecli.labels import parse_class_weights
        from cecli.pipeline import score_inputs
        from cecli.render.per_sample import PerSampleWriter
        from cecli.render.progress import stderr_progress
        from cecli.report import build_report, check_gate_limits, check_gates

        # every option is checked before a file is read
        check_count("--top", top, 0)
        if bins is not None:
            check_count("--bins", bins, 1, 1000)
        score_options = _score_options(
            None, eps, label_smoothing, focal_gamma, threshold, base, top
        )
        check_gate_limits(fail_above=fail_above, max_flagged=max_flagged, min_accuracy=min_accuracy)
        plot_path = _plot_path(plot)
        if not (calibration or plot_path):
            given = "--bins" if bins is not None else "--adaptive" if adaptive else None
            if given:
                raise OptionError(f"{given} applies to --calibration (or --plot); add one of them.")
        options = _input_options(
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
        )
        with Inputs(predictions, labels, options) as inputs:
            weights = None
            if class_weights is not None:
                weights = parse_class_weights(class_weights, inputs.classes)
            writer = None
            if per_sample is not None:
                writer = PerSampleWriter(
                    per_sample,
                    inputs=[predictions] + ([labels] if labels else []),
                    classes=inputs.classes,
                    kind=inputs.kind,
                    weighted=weight_col is not None or class_weights is not None,
                )
            try:
                scored = score_inputs(
                    inputs,
                    replace(
                        score_options,  # type: ignore[arg-type]
                        class_weights=weights,
                        calibration_bins=(bins or DEFAULT_BINS)
                        if calibration or plot_path
                        else None,
                        temperature=calibration,
                        fine_histogram=plot_path is not None,
                    ),
                    on_batch=None if writer is None else lambda b, s: writer.write(s, b.ids),
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
            )
        if plot_path is not None:
            from cecli.render.plot import write_score_plot

            write_score_plot(plot_path, report, scored, adaptive=adaptive)
        return _render(report, output_format)

    _run(work, debug)


class CiMethod(str, Enum):
    bca = "bca"
    percentile = "percentile"


@app.command(cls=Command, epilog=EXIT_STATUSES)
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
        CiMethod,
        typer.Option(
            case_sensitive=False,
            help="bca: bias-corrected and accelerated; percentile: plain percentiles.",
        ),
    ] = CiMethod.bca,
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
    base: BaseOption = Base.e,
    class_weights: ClassWeightsOption = None,
    weight_col: WeightColOption = None,
    label_smoothing: SmoothingOption = 0.0,
    focal_gamma: FocalOption = 0.0,
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
    plot: PlotOption = None,
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
        score_options = _score_options(
            None, eps, label_smoothing, focal_gamma, threshold, base, top
        )
        check_bootstrap_options(bootstrap, confidence, ci_method.value, seed)
        check_max_increase(max_increase)
        plot_path = _plot_path(plot)

        def options(from_logits: bool) -> InputOptions:
            return _input_options(
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
            )

        with (
            Inputs(baseline, labels, options(logits or baseline_logits)) as base_inputs,
            Inputs(candidate, labels, options(logits or candidate_logits)) as cand_inputs,
        ):
            weights = None
            if class_weights is not None:
                weights = parse_class_weights(class_weights, base_inputs.classes)
            compared = compare_inputs(
                base_inputs,
                cand_inputs,
                replace(score_options, class_weights=weights),  # type: ignore[arg-type]
                CompareOptions(bootstrap, confidence, seed, ci_method.value),
                join_on_ids=id_col is not None,
                shared_labels=labels is not None,
                progress=stderr_progress,
            )
            files = {
                "baseline": base_inputs.pred_source.display,
                "candidate": cand_inputs.pred_source.display,
                "labels": None if labels is None else base_inputs.describe()["labels"],
            }
            classes = base_inputs.classes
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
            ),
        )
        if plot_path is not None:
            from cecli.render.plot import write_compare_plot

            write_compare_plot(plot_path, report)
        return _render(report, output_format)

    _run(work, debug)


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``cecli`` console script and of ``python -m cecli``.

    A usage error (an unknown command or option, a value of the wrong type)
    is one line on stderr and exit status 2, like every other error.
    ``args`` defaults to ``sys.argv[1:]``.
    """
    args = sys.argv[1:] if args is None else list(args)
    command = typer.main.get_command(app)
    try:
        status = command.main(args=args, prog_name="cecli", standalone_mode=False)
    except typer.TyperException as error:
        if not args:  # no command at all: the help says what there is
            typer.echo(error.format_message(), err=True)
            sys.exit(int(ExitStatus.INPUT_ERROR))
        line = usage_line(error, args, list(getattr(command, "commands", {})))
        typer.echo(f"cecli: error: {_visible(line)}", err=True)
        sys.exit(int(ExitStatus.INPUT_ERROR))
    except typer.Abort:
        typer.echo("cecli: interrupted", err=True)
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
