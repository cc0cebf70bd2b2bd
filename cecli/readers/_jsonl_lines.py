"""JSON Lines read line by line in Python: the keys' types, and the line at fault.

pyarrow parses the blocks of a JSON Lines file; Python's :mod:`json` reads
lines only where a person needs them: to type the keys from the first lines
(:func:`key_kinds`), so that a key pyarrow could not hold (objects, lists of
text, a mix of numbers and text) is left out rather than stopping the run,
and, when pyarrow cannot parse a block, to find the first line that is not
one JSON object, or whose key holds a value of another type (:func:`first_fault`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from cecli.readers import quote_cell

#: What a key holds: ``"null"`` (only nulls so far), ``"number"``, ``"bool"``,
#: ``"string"``, ``"numbers"`` / ``"bools"`` (a list of them, ``"list"`` while
#: only empty), or what cecli does not read: ``"nested"`` (an object, a list of
#: text or of lists) and ``"mixed"`` (numbers on one line and text on another).
Kind = str

#: The kinds a list of them may join, and the kinds that join anything.
_JOINS = {("list", "numbers"): "numbers", ("list", "bools"): "bools"}

EXAMPLE = '{"probs": [0.1, 0.9], "label": 1}'


def lines(text: bytes, first_line: int) -> Iterator[tuple[int, bytes]]:
    """The lines of ``text`` that are not blank, with their line numbers (from ``first_line``).

    Examples
    --------
    >>> list(lines(b'{"a": 1}\\n\\n{"a": 2}\\n', 10))
    [(10, b'{"a": 1}'), (12, b'{"a": 2}')]
    """
    for number, line in enumerate(text.split(b"\n"), first_line):
        if line.strip():
            yield number, line


def row_lines(text: bytes, first_line: int) -> list[int]:
    """The line number of each row (each line that is not blank) of ``text``.

    Examples
    --------
    >>> row_lines(b'{"a": 1}\\n\\n{"a": 2}\\n  \\n{"a": 3}\\n', 1)
    [1, 3, 5]
    """
    return [number for number, _ in lines(text, first_line)]


def _no_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise KeyError(key)
        seen[key] = value
    return seen


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def kind_of(value: Any) -> Kind:
    """The kind of one JSON value.

    Examples
    --------
    >>> [kind_of(v) for v in (None, 1, 0.5, True, "a", [0.1, 0.9], [True], [], [[1]], {})]
    ['null', 'number', 'number', 'bool', 'string', 'numbers', 'bools', 'list', 'nested', 'nested']
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        items = [v for v in value if v is not None]
        if not items:
            return "list"
        if all(_is_number(v) for v in items):
            return "numbers"
        if all(isinstance(v, bool) for v in items):
            return "bools"
    return "nested"


def join(a: Kind, b: Kind) -> Kind:
    """The kind of a key that holds ``a`` on one line and ``b`` on another.

    Examples
    --------
    >>> join("null", "number"), join("list", "numbers"), join("number", "string")
    ('number', 'numbers', 'mixed')
    """
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    if "nested" in (a, b):
        return "nested"
    return _JOINS.get((a, b)) or _JOINS.get((b, a)) or "mixed"


def parse_line(line: bytes, number: int) -> tuple[dict[str, Any] | None, str | None]:
    """``(the object on the line, None)``, or ``(None, what is wrong with it)``.

    Examples
    --------
    >>> parse_line(b'{"p": 0.5}', 3)
    ({'p': 0.5}, None)
    >>> parse_line(b'{"p": 0.5, "p": 0.2}', 3)
    (None, "line 3 has the key 'p' twice; give each key once.")
    """
    try:
        value = json.loads(line, object_pairs_hook=_no_twice)
    except KeyError as twice:
        return None, f"line {number} has the key {twice.args[0]!r} twice; give each key once."
    except (ValueError, RecursionError) as bad:
        if isinstance(bad, json.JSONDecodeError) and bad.msg == "Extra data":
            return None, (
                f"line {number} holds more than one JSON value; JSON Lines has one object a "
                f"line, such as {EXAMPLE}."
            )
        detail = bad.msg if isinstance(bad, json.JSONDecodeError) else type(bad).__name__
        where = f" at character {bad.pos + 1}" if isinstance(bad, json.JSONDecodeError) else ""
        return None, (
            f"line {number} is not valid JSON ({detail}{where}); each line must be one whole "
            "JSON object (JSON Lines, not JSON spread over lines)."
        )
    if not isinstance(value, dict):
        what = {"null": "null", "bool": "true or false", "number": "a number", "string": "text"}
        shown = what.get(kind_of(value), "an array" if isinstance(value, list) else "a value")
        return None, (
            f"line {number} holds {shown}, not a JSON object; each line must be one object, "
            f"such as {EXAMPLE}."
        )
    return value, None


#: The kinds cecli reads a key of.
READABLE = ("null", "number", "bool", "string", "numbers", "bools", "list")


class KeyKinds:
    """The kinds of the keys of the lines seen so far, in the order they first appear.

    A key is read as the kind its values have until one does not fit: from
    there it is a key cecli does not read, and :attr:`unread` says why (the
    row, the line and the value), to be raised if the key is asked for.
    """

    def __init__(self) -> None:
        self.kinds: dict[str, Kind] = {}
        #: A list key's length on the first line that holds a list in it.
        self.widths: dict[str, int] = {}
        #: Why a key is not read, for each key that is not.
        self.unread: dict[str, str] = {}
        #: The keys of numbers that held a number that is not an integer (``0.5``, ``1e3``).
        self.fractions: set[str] = set()
        self.rows = 0

    def add(self, row: dict[str, Any], number: int) -> None:
        for key, value in row.items():
            if key in self.unread:
                continue
            if isinstance(value, float):
                self.fractions.add(key)
            before = self.kinds.get(key, "null")
            kind = join(before, kind_of(value))
            if kind in READABLE:
                self.kinds[key] = kind
                if isinstance(value, list) and key not in self.widths:
                    self.widths[key] = len(value)
                continue
            if before == "null":  # the first value is already one cecli does not read
                self.kinds[key] = "nested"
                self.unread[key] = (
                    f"key {key!r} holds an object or a list that is not all numbers (row "
                    f"{self.rows}, line {number}); cecli reads keys that hold numbers, text, "
                    "true/false, or a list of numbers."
                )
            else:
                self.kinds.setdefault(key, before)
                where = f"row {self.rows} (line {number})"
                self.unread[key] = f"{where}, {value_fault(key, value, checked_as(before))}."
        self.rows += 1


def checked_as(kind: Kind) -> Kind:
    """The kind a key's values are checked against: a key of nulls is read as numbers.

    Examples
    --------
    >>> checked_as("null"), checked_as("list"), checked_as("string")
    ('number', 'numbers', 'string')
    """
    return {"null": "number", "list": "numbers"}.get(kind, kind)


def key_kinds(text: bytes, first_line: int = 1) -> tuple[KeyKinds, str | None]:
    """The keys' kinds over the lines of ``text``, or what is wrong with its first bad line.

    Examples
    --------
    >>> kinds, fault = key_kinds(b'{"probs": [0.2, 0.8], "label": 1, "doc": {"q": "?"}}\\n')
    >>> kinds.kinds, sorted(kinds.unread), fault
    ({'probs': 'numbers', 'label': 'number', 'doc': 'nested'}, ['doc'], None)
    >>> key_kinds(b'{"p": 0.5}\\n[0.5]\\n')[1]  # doctest: +ELLIPSIS
    'line 2 holds an array, not a JSON object; each line must be one object, such as ...'
    """
    kinds = KeyKinds()
    for number, line in lines(text, first_line):
        row, fault = parse_line(line, number)
        if row is None:
            return kinds, fault
        kinds.add(row, number)
    return kinds, None


def _described(kind: Kind) -> str:
    return {
        "number": "a number",
        "bool": "true or false",
        "string": "text",
        "numbers": "a list of numbers",
        "bools": "a list of true/false values",
        "list": "an empty list",
        "null": "null",
    }.get(kind, "an object or a nested list")


def _shown(value: Any) -> str:
    """A value as a message shows it: text quoted, the rest as JSON, cut short when long."""
    if isinstance(value, str):
        return quote_cell(value)
    text = json.dumps(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text):,} characters)"


def value_fault(key: str, value: Any, expected: Kind) -> str | None:
    """What is wrong with ``value`` for a key of the ``expected`` kind, or None.

    Examples
    --------
    >>> value_fault("label", 2, "number") is None, value_fault("label", None, "number") is None
    (True, True)
    >>> value_fault("label", "two", "number")  # doctest: +ELLIPSIS
    "key 'label' holds 'two' (text), but the first rows hold a number; give every row's ..."
    """
    if value is None:
        return None  # a null is reported when the column is read, with its row
    if isinstance(value, float) and math.isinf(value):
        return f"key {key!r} holds a number too large for a float64"
    kind = kind_of(value)
    if join(expected, kind) == expected:
        if isinstance(value, list):
            huge = [v for v in value if isinstance(v, float) and math.isinf(v)]
            if huge:
                return f"key {key!r} holds a number too large for a float64 in its list"
        return None
    if expected in ("numbers", "bools") and isinstance(value, list):
        wanted = _is_number if expected == "numbers" else (lambda v: isinstance(v, bool))
        at = next(i for i, v in enumerate(value) if v is not None and not wanted(v))
        return (
            f"key {key!r} holds {_shown(value[at])} at position {at} of its list, not "
            f"{'a number' if expected == 'numbers' else 'true or false'}; every item must be "
            "one"
        )
    return (
        f"key {key!r} holds {_shown(value)} ({_described(kind)}), but the first rows hold "
        f"{_described(expected)}; give every row's {key!r} one type"
    )


def first_fault(
    text: bytes, first_line: int, first_row: int, expected: dict[str, Kind]
) -> str | None:
    """The first line of ``text`` that is not an object whose ``expected`` keys fit, or None.

    ``expected`` maps a key to the kind its column is read as (``"number"``,
    ``"bool"``, ``"string"``, ``"numbers"``, ``"bools"``).

    Examples
    --------
    >>> text = b'{"probs": [0.2, 0.8]}\\n\\n{"probs": [0.4, "x"]}\\n'
    >>> first_fault(text, 1, 0, {"probs": "numbers"})  # doctest: +ELLIPSIS
    "row 1 (line 3), key 'probs' holds 'x' at position 1 of its list, not a number; ..."
    """
    for row, (number, line) in enumerate(lines(text, first_line), first_row):
        value, fault = parse_line(line, number)
        if value is None:
            return fault
        for key, kind in expected.items():
            problem = value_fault(key, value.get(key), kind)
            if problem is not None:
                return f"row {row} (line {number}), {problem}."
    return None


def shown_cells(
    text: bytes, keys: tuple[str, ...], n_rows: int
) -> dict[str, list[str | None]] | None:
    """Each line's cells of ``keys`` as ``--show`` writes them; None unless every line is an object.

    ``n_rows`` is the number of rows the lines must make (pyarrow's count).

    Examples
    --------
    >>> shown_cells(b'{"tags": ["a", 1]}\\n\\n{"tags": {"x": 2}}\\n{"p": 1}\\n', ("tags",), 3)
    {'tags': ['["a", 1]', '{"x": 2}', None]}
    """
    from cecli._cell_text import value_text

    out: dict[str, list[str | None]] = {key: [] for key in keys}
    for _, line in lines(text, 1):
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(row, dict):
            return None
        for key in keys:
            out[key].append(value_text(row.get(key)))
    return out if all(len(cells) == n_rows for cells in out.values()) else None
