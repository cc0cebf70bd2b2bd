"""Label decoding: class names, integers, booleans and strings into what the core scores.

The core takes class indices ``0..K-1`` (categorical), 0/1 targets (binary)
or an ``N x K`` array of targets. Files hold labels in the forms people save
them: the class's name (a prediction column's header), its index, a
boolean, or two strings of which one is the positive class. This module
knows nothing about files; it maps one chunk of label values at a time and
remembers what it has seen, so that a message can list it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from cecli._validate import RowNumbers, numbered, padding_hint
from cecli.errors import LabelError, OptionError
from cecli.readers._text import is_number

_QUOTE = 5
_INTEGER = re.compile(r"^[+-]?\d+$")
#: The target a text label that ``--ignore-label`` names (and that is not a class)
#: becomes: no class index and no 0/1 target, so only ``ignore_index`` matches it.
TEXT_IGNORED = -(2**31)
#: A prefix shared by every prediction column that ends here is not part of the class name.
_PREFIX_END = re.compile(r"[_.:\- ]$")


def class_names(headers: Sequence[str]) -> list[str]:
    """Class names from prediction headers: ``prob_cat, prob_dog`` -> ``cat, dog``.

    A prefix that every header shares, ending in ``_ . : -`` or a space, is
    dropped when what remains is non-empty and unique; otherwise the
    headers are the names.
    """
    names = list(headers)
    if len(names) < 2 or all(is_number(name) for name in names):
        return names  # "0.25" and "0.5" share "0.", but numbers have no prefix to drop
    prefix = _common_prefix(names)
    while prefix and not _PREFIX_END.search(prefix):
        prefix = prefix[:-1]
    stripped = [name[len(prefix) :] for name in names]
    if prefix and all(stripped) and len(set(stripped)) == len(stripped):
        return stripped
    return names


def _common_prefix(names: Sequence[str]) -> str:
    first, last = min(names), max(names)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i]


def _quote(values: Sequence[object]) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:_QUOTE])
    return shown + (", ..." if len(values) > _QUOTE else "")


class LabelDecoder:
    """Maps label values to the core's targets, chunk by chunk.

    Parameters
    ----------
    kind : {"binary", "categorical", "multilabel"}
    classes : list of str
        The class names (for binary, the negative and the positive class).
    headers : list of str
        The prediction columns' headers, also accepted as class names.
    positive : str, optional
        For binary labels given as strings, the positive class's name.
    ignore : str, optional
        ``--ignore-label``: the label of rows to leave out. A class's name
        (or header) means that class; else a whole number means that value
        (-100, as PyTorch pads); else it is a text label that is no class
        ("PAD"). :attr:`ignore_index` is the target the rows then have, the
        core's ``ignore_index``.

    Examples
    --------
    >>> decoder = LabelDecoder("categorical", ["cat", "dog"], ignore="PAD")
    >>> decoder.decode(np.array(["dog", "PAD", "cat"], dtype=object), 0).tolist()
    [1, -2147483648, 0]
    >>> decoder.ignore_index == TEXT_IGNORED
    True
    >>> LabelDecoder("categorical", ["cat", "dog"], ignore="dog").ignore_index
    1
    """

    def __init__(
        self,
        kind: str,
        classes: Sequence[str],
        headers: Sequence[str] | None = None,
        positive: str | None = None,
        ignore: str | None = None,
    ) -> None:
        self.kind = kind
        self.classes = list(classes)
        self.positive = positive
        self.seen_strings: list[str] = []
        index: dict[str, int] = {}
        for names in (headers or [], self.classes):
            for i, name in enumerate(names):
                index.setdefault(str(name), i)
        self._index = index
        # integer labels name their class when the classes are integers other than 0..K-1
        # (scikit-learn's classes_ [3, 5, 7] as headers): 5 means column "5", not index 5
        integers = [c for c in self.classes if _INTEGER.match(c.strip())]
        self._by_name = len(integers) == len(self.classes) and [
            int(c) for c in self.classes
        ] != list(range(len(self.classes)))
        self.ignore = None if ignore is None else ignore.strip()
        #: The target of an ignored row, for the core's ``ignore_index``; None without one.
        self.ignore_index: int | None = None
        #: A whole number that --ignore-label names as a value (not a class): numeric
        #: labels equal to it are left as they are, for the core to leave out.
        self._ignore_number: int | None = None
        if self.ignore is not None:
            self.ignore_index = self._resolve_ignore(self.ignore)

    def _resolve_ignore(self, text: str) -> int:
        if text in self._index and self.kind != "multilabel":
            return self._index[text]
        if _INTEGER.match(text):
            self._ignore_number = int(text)
            return self._ignore_number
        if self.kind == "multilabel":
            raise OptionError(
                f"--ignore-label {text!r}: multilabel targets are numbers (0 or 1 a cell); "
                "give the number that marks a cell to leave out, such as -100."
            )
        return TEXT_IGNORED

    def decode(self, values: NDArray, first_row: int) -> NDArray:
        """Targets for one chunk of 1-D label values; ``first_row`` numbers its rows.

        With ``ignore``, the rows it names get the target :attr:`ignore_index`.
        """
        if values.ndim == 2:
            return values
        if self.ignore is not None:
            mask = self._ignored(values)
            if mask is not None:
                return self._decode_kept(values, mask, first_row)
        return self._decode(values, first_row)

    def _ignored(self, values: NDArray) -> NDArray[np.bool_] | None:
        """The label values that --ignore-label names, when some of them must be decoded apart."""
        if values.dtype == object or values.dtype.kind in "US":
            mask = np.char.strip(values.astype(str)) == self.ignore
        elif self._ignore_number is not None and values.dtype.kind in "iuf":
            if not (self._by_name and self.kind == "categorical"):
                return None  # numbers go to the core as they are; it leaves the value out
            mask = values == self._ignore_number
        else:
            return None
        return mask if mask.any() else None

    def _decode_kept(self, values: NDArray, mask: NDArray[np.bool_], first_row: int) -> NDArray:
        """Decode the labels not ignored; the ignored get :attr:`ignore_index`."""
        assert self.ignore_index is not None
        keep = ~mask
        dtype = np.float64 if self.kind == "binary" else np.intp
        out = np.full(len(values), self.ignore_index, dtype=dtype)
        if not keep.any():
            return out
        # the errors name each row kept by its number in the input
        rows = first_row + np.flatnonzero(keep).astype(np.int64)
        decoded = np.asarray(self._decode(values[keep], rows))
        if decoded.dtype.kind not in "iuf":
            return values  # not numbers: the core explains them (each row where it is)
        if decoded.dtype.kind == "f":
            out = out.astype(np.float64)
        out[keep] = decoded
        return out

    def _decode(self, values: NDArray, rows: RowNumbers) -> NDArray:
        if values.ndim == 2:
            return values
        if values.dtype == object or values.dtype.kind in "US":
            return self._strings(values.astype(object), rows)
        if self.kind == "binary" and self.positive is not None:
            raise LabelError(
                f"--positive {self.positive!r} is for labels given as text, but these labels "
                "are numbers or booleans, where 1 (true) is the positive class; leave "
                "--positive out."
            )
        if self.kind == "categorical" and self._by_name and values.dtype.kind in "iuf":
            return self._integer_names(values, rows)
        return values

    def _numbers_with_text(self, values: NDArray, rows: RowNumbers) -> NDArray | None:
        """Labels that are numbers written as text, as a float array; None if they are names.

        A column of numbers (indices, 0/1) with a few cells that are not numbers is
        a column of numbers with bad cells: the first such cell is the error, not the
        first row whose number is not also a class name.
        """
        text = values.astype(str)
        uniques, inverse = np.unique(text, return_inverse=True)
        numeric = np.array([is_number(u) for u in uniques])
        named = np.array([u in self._index or u.strip() in self._index for u in uniques])
        if named.all() and self.kind != "binary":
            return None  # every value names a class
        counts = np.bincount(inverse, minlength=len(uniques))
        if not numeric.any() or 2 * counts[numeric].sum() < counts.sum():
            return None  # mostly names: unknown names are explained as such
        bad = ~numeric[inverse] & ~named[inverse]
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            kind = "a class index" if self.kind != "binary" else "0 or 1"
            raise LabelError(
                f"row {numbered(at, rows)} has the label {str(values[at])!r}, which is not a "
                f"number, in a column of numbers; each label must be {kind}. Fix the cell."
            )
        if not numeric.all():
            return None  # numbers and names mixed, all known: decode them as names
        return np.array([float(u) for u in uniques])[inverse]

    def _strings(self, values: NDArray, rows: RowNumbers, names: bool = False) -> NDArray:
        numbers = None if names else self._numbers_with_text(values, rows)
        if numbers is not None:
            return self._decode(numbers, rows)
        if self.kind == "binary":
            return self._binary_strings(values, rows)
        uniques, inverse = np.unique(values.astype(str), return_inverse=True)
        codes = np.array([self._index.get(u, self._index.get(u.strip(), -1)) for u in uniques])
        unknown = uniques[codes < 0]
        if unknown.size:
            at = int(np.flatnonzero(codes[inverse] < 0)[0])
            raise LabelError(
                f"row {numbered(at, rows)} has the label {str(values[at])!r}, which is not a "
                f"class{padding_hint(unknown)}; unknown labels seen: {_quote(unknown.tolist())}. "
                f"The classes (the prediction columns) are {_quote(self.classes)}. Check that "
                "the labels and the prediction columns name the classes alike."
            )
        return codes[inverse].astype(np.intp)

    def _integer_names(self, values: NDArray, rows: RowNumbers) -> NDArray:
        whole = np.isfinite(values) & (values == np.round(values))
        if not whole.all():
            return values  # the core explains non-integral labels
        names = values.astype(np.int64).astype(str).astype(object)
        return self._strings(names, rows, names=True)

    def _binary_strings(self, values: NDArray, rows: RowNumbers) -> NDArray:
        uniques = [str(u) for u in np.unique(values.astype(str))]
        for u in uniques:
            if u not in self.seen_strings:
                self.seen_strings.append(u)
        if self.positive is None:
            raise LabelError(
                f"the binary labels are text ({_quote(self.seen_strings)}); say which one is "
                "the positive class, the one the predictions give the probability of, with "
                "--positive NAME."
            )
        if len(self.seen_strings) > 2:
            text = values.astype(str)
            bad = np.flatnonzero(~np.isin(text, self.seen_strings[:2]))
            where = (
                f"; row {numbered(int(bad[0]), rows)} has {str(text[bad[0]])!r}" if bad.size else ""
            )
            raise LabelError(
                f"binary labels must take two values, but they take {len(self.seen_strings)} "
                f"({_quote(self.seen_strings)}{where})."
                " For more classes, score them as categorical (--kind categorical)."
            )
        if len(self.seen_strings) == 2 and self.positive not in self.seen_strings:
            raise LabelError(
                f"--positive {self.positive!r} is not one of the labels "
                f"({_quote(self.seen_strings)}); name the positive class exactly as the "
                "labels spell it."
            )
        negatives = [u for u in self.seen_strings if u != self.positive]
        if negatives:
            self.classes = [negatives[0], self.positive]
        return (values.astype(str) == self.positive).astype(np.float64)


def parse_class_weights(text: str, classes: Sequence[str]) -> str | list[float]:
    """``--class-weights``: ``balanced``, ``0.5,2,1`` (column order) or ``cat=2,dog=1``.

    With names, a class that is not named gets weight 1.
    """
    from cecli.errors import OptionError, WeightError

    text = text.strip()
    if text.lower() == "balanced":
        return "balanced"
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise OptionError("--class-weights is empty; give balanced, 0.5,2,1 or cat=2,dog=1.")
    if all("=" in p for p in parts):
        index = {name: i for i, name in enumerate(classes)}
        weights = [1.0] * len(classes)
        for part in parts:
            name, _, value = part.partition("=")
            name = name.strip()
            if name not in index:
                raise WeightError(
                    f"--class-weights names the class {name!r}, which is not one of "
                    f"{_quote(list(classes))}."
                )
            weights[index[name]] = _weight(value, part)
        return weights
    if any("=" in p for p in parts):
        raise OptionError(
            "--class-weights mixes name=weight and bare weights; use one form throughout."
        )
    return [_weight(p, p) for p in parts]


def _weight(value: str, part: str) -> float:
    from cecli.errors import OptionError

    try:
        return float(value)
    except ValueError:
        raise OptionError(
            f"--class-weights: {part!r} is not a number; give balanced, 0.5,2,1 or cat=2,dog=1."
        ) from None
