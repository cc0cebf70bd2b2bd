"""What ``score`` and ``compare`` share: their choices, their options, each declared once.

It also turns the parsed options into the library's option objects. Nothing
here imports NumPy: ``--help`` and ``--version`` read this module.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from cecli.errors import OptionError
from cecli.options import parse_eps

if TYPE_CHECKING:
    from cecli.folds import ScoreOptions
    from cecli.inputs import InputOptions
    from cecli.slices import SliceSpec


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
    jsonl = "jsonl"
    arrow = "arrow"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class Base(str, Enum):
    e = "e"
    two = "2"
    ten = "10"


class CiMethod(str, Enum):
    bca = "bca"
    percentile = "percentile"
    poisson = "poisson"


PREDICTIONS_HELP = (
    "Predictions: .csv, .tsv or .jsonl (also .gz, .bz2, .zst), .npy, .npz, .parquet, "
    ".arrow/.feather, or - for stdin."
)

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
FocalAlphaOption = Annotated[
    str | None,
    typer.Option(
        metavar="ALPHA[,ALPHA...]",
        help="Focal alpha, as Keras's: binary/multilabel alpha in [0, 1] on positives, 1 - alpha "
        "on negatives (one per label, or one for all); categorical a factor per class "
        "(column order) or one for all.",
    ),
]
PosWeightOption = Annotated[
    str | None,
    typer.Option(
        metavar="W[,W...]",
        help="Binary/multilabel: weigh the positive term by W, as PyTorch's pos_weight "
        "(one per label in column order, or one for all).",
    ),
]
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
IgnoreLabelOption = Annotated[
    str | None,
    typer.Option(
        metavar="LABEL",
        help="Leave out the rows with this label (-100, as transformers pads, or a class "
        "name): of every sum and count, reported apart; multilabel: the cells.",
    ),
]
TopKOption = Annotated[
    int | None,
    typer.Option(
        metavar="K",
        help="Also report top-k accuracy, and each row's rank of its true class (categorical).",
    ),
]
StorageOptionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--storage-option",
        metavar="KEY=VALUE",
        help="s3://, gs://, abfs:// inputs: a setting of pyarrow's filesystem (repeatable), "
        "e.g. region=eu-west-1, endpoint_override=HOST:PORT, anonymous=true.",
    ),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")]
PlotOption = Annotated[
    str | None,
    typer.Option(help="Also draw the report's pictures to this .png, .svg or .pdf (matplotlib)."),
]
HtmlOption = Annotated[
    str | None,
    typer.Option(
        metavar="PATH",
        help="Also write the report as one self-contained .html page (sortable tables, "
        "pictures); --format still goes to stdout.",
    ),
]

JsonOption = Annotated[
    str | None,
    typer.Option(
        "--json",
        metavar="PATH",
        help="Also write the JSON report to PATH, whatever --format prints (for CI steps).",
    ),
]

ByOption = Annotated[
    str | None,
    typer.Option(
        metavar="COLUMN[,COLUMN]",
        help="Slice the rows by these columns, of the predictions (compare: the baseline's) "
        "or the labels file; COLUMN:10 cuts numbers in 10 quantile bins.",
    ),
]
ShowOption = Annotated[
    str | None,
    typer.Option(
        metavar="COLUMN[,COLUMN]",
        help="Carry these columns of the predictions (compare: the baseline's) or the labels "
        "file, such as a caption or an image path, into every listed row.",
    ),
]


def show_columns(show: str | None) -> tuple[str, ...]:
    """The ``--show`` columns, in the order given (empty without ``--show``).

    Examples
    --------
    >>> show_columns("caption, image"), show_columns(None)
    (('caption', 'image'), ())
    >>> show_columns(",")
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --show names columns, such as --show caption,image; got ','.
    """
    if show is None:
        return ()
    names = tuple(dict.fromkeys(name.strip() for name in show.split(",") if name.strip()))
    if not names:
        raise OptionError(f"--show names columns, such as --show caption,image; got {show!r}.")
    return names


#: Slices with fewer rows are listed apart, not ranked, unless --min-slice-rows says otherwise.
MIN_SLICE_ROWS = 30
MinSliceRowsOption = Annotated[
    int | None,
    typer.Option(
        help=f"Slices with fewer rows are listed apart, not ranked (with --by; "
        f"default {MIN_SLICE_ROWS})."
    ),
]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``--chunk-size``: ``64M``, ``512K``, ``1G`` or a number of bytes.

    Examples
    --------
    >>> parse_size("64M"), parse_size("512k"), parse_size("1.5KiB"), parse_size("100")
    (67108864, 524288, 1536, 100)
    >>> parse_size("lots")
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --chunk-size must be a size such as 64M, 512K or 1G; got 'lots'.
    """
    match = _SIZE.match(text)
    if not match:
        raise OptionError(f"--chunk-size must be a size such as 64M, 512K or 1G; got {text!r}.")
    number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit])
    if size < 1:
        raise OptionError(f"--chunk-size must be at least 1 byte; got {text!r}.")
    return size


def input_options(
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
    slice_cols: tuple[str, ...] = (),
    slices_optional: bool = False,
    storage_option: list[str] | None = None,
    ignore_label: str | None = None,
    show_cols: tuple[str, ...] = (),
    reserved_cols: tuple[str, ...] = (),
) -> InputOptions:
    """The input layer's options, from the options ``score`` and ``compare`` share.

    Examples
    --------
    >>> options = input_options(
    ...     Kind.auto, False, InputFormat.csv, None, None, "y", None, None, None, None, None, "1M"
    ... )
    >>> options.input_format, options.label_col, options.chunk_bytes
    ('csv', 'y', 1048576)
    """
    from cecli.inputs import InputOptions
    from cecli.readers._remote import parse_storage_options

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
        slice_cols=slice_cols,
        slices_optional=slices_optional,
        storage_options=parse_storage_options(storage_option or ()),
        ignore_label=ignore_label,
        show_cols=show_cols,
        reserved_cols=reserved_cols,
    )


def slice_specs(
    by: str | None, min_slice_rows: int | None, **needs_by: object
) -> tuple[SliceSpec, ...]:
    """The checked ``--by`` columns (empty without ``--by``); the options that need it refused.

    Examples
    --------
    >>> slice_specs("group,age:4", 30)
    (SliceSpec(column='group', bins=None), SliceSpec(column='age', bins=4))
    >>> slice_specs(None, None, slice_fail_above=1.0)
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --slice-fail-above applies to --by COLUMN; add it.
    """
    from cecli.options import check_count

    if min_slice_rows is not None:
        check_count("--min-slice-rows", min_slice_rows, 1)
    if by is None:
        for name, value in {"min_slice_rows": min_slice_rows, **needs_by}.items():
            if value not in (None, False):
                raise OptionError(f"--{name.replace('_', '-')} applies to --by COLUMN; add it.")
        return ()
    from cecli.slices import parse_by

    return parse_by(by)


def score_options(
    eps: str,
    label_smoothing: float,
    focal_gamma: float,
    threshold: float,
    base: Base,
    top: int,
    pos_weight: str | None = None,
    focal_alpha: str | None = None,
) -> ScoreOptions:
    """The core's options (class weights still to come: they need the classes).

    Examples
    --------
    >>> options = score_options("auto", 0.1, 0.0, 0.9, Base.two, 0, pos_weight="1,2.5")
    >>> options.base, options.keep, options.label_smoothing, options.pos_weight
    ('2', None, 0.1, [1.0, 2.5])
    """
    from cecli.folds import ScoreOptions

    return ScoreOptions(
        pos_weight=parse_numbers("--pos-weight", pos_weight),
        focal_alpha=parse_numbers("--focal-alpha", focal_alpha),
        class_weights=None,
        eps=parse_eps(eps),
        label_smoothing=label_smoothing,
        focal_gamma=focal_gamma,
        threshold=threshold,
        base=base.value,
        keep=None if top == 0 else top,
    )


def parse_numbers(flag: str, text: str | None) -> float | list[float] | None:
    """``--pos-weight`` and ``--focal-alpha``: one number (``3``) or a comma list (``1,2,3``).

    Examples
    --------
    >>> parse_numbers("--pos-weight", "3"), parse_numbers("--pos-weight", " 1, 2,3 ")
    (3.0, [1.0, 2.0, 3.0])
    >>> parse_numbers("--pos-weight", "x")
    Traceback (most recent call last):
    ...
    cecli.errors.OptionError: --pos-weight must be a number, or numbers such as 1,2,3; got 'x'.
    """
    if text is None:
        return None
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        raise OptionError(
            f"{flag} must be a number, or numbers such as 1,2,3; got {text!r}."
        ) from None
    return numbers[0] if len(numbers) == 1 else numbers


def html_path(html: str | None, *inputs: str | None) -> object:
    """The checked ``--html`` path (before any work is done), or None.

    Examples
    --------
    >>> html_path(None) is None
    True
    """
    if html is None:
        return None
    from cecli.render.html import check_html_path

    return check_html_path(html, inputs)


def plot_path(plot: str | None) -> object:
    """The checked ``--plot`` path (before any work is done), or None.

    Examples
    --------
    >>> plot_path(None) is None
    True
    """
    if plot is None:
        return None
    from cecli.render.plot import check_plot_path

    return check_plot_path(plot)
