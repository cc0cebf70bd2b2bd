"""Text from the data, made safe for where it is shown: one function per destination.

Everything read from a file (ids, class names, labels, column names) and
every file name is untrusted: it may hold escape sequences that drive a
terminal, markup that a renderer acts on, or a formula that a spreadsheet
runs. The renderers pass each such string through one of these functions:

- :func:`visible`: control characters (C0, DEL, C1) and the invisible
  Unicode format and bidirectional controls written as escapes, so that
  they are seen and never act. The base of the others.
- :func:`terminal`: :func:`visible`, as a :class:`rich.text.Text`, which
  rich prints as it is (no markup, no emoji codes).
- :func:`markdown`: :func:`visible`, escaped for GitHub-flavoured markdown:
  no link, image, HTML, emphasis, table cell break, @mention or #reference.
- :func:`html`: :func:`visible`, escaped for HTML text and quoted
  attribute values (``&``, ``<``, ``>``, ``"``, ``'``), and
  :func:`image_src`: a value as an ``<img src>`` only when it is a relative
  path or an http(s) or ``data:image/`` URL.
- :func:`spreadsheet` and :func:`spreadsheet_array`: a text cell that a
  spreadsheet would run as a formula gets a leading ``'`` (OWASP, "CSV
  injection"); numbers are left as they are.

JSON needs none of these: :func:`json.dumps` escapes control characters
itself. Parquet and NPY files hold the values as they were read.
"""

from __future__ import annotations

import html as _html
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.text import Text

#: What :func:`visible` writes as an escape: C0 controls, DEL, C1 controls, the
#: Arabic letter mark, zero-width and directional marks, line and paragraph
#: separators, directional embeddings and overrides, invisible operators and
#: directional isolates, the byte-order mark, and lone surrogates (which no
#: terminal encoding can write).
_CONTROLS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_control(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: object) -> str:
    """``text`` with every control character written as an escape.

    C0 controls, DEL and C1 controls become ``\\n``, ``\\r``, ``\\t`` or
    ``\\xNN``; the invisible format and bidirectional controls (U+061C,
    U+200B-U+200F, U+2028-U+202E, U+2060-U+2069, U+FEFF) and lone surrogates
    become ``\\uNNNN``, as Python's :func:`repr` writes them. Everything else,
    backslashes included, is left as it is.

    Parameters
    ----------
    text : object
        A value from the data; not a string, it is converted with :class:`str`.

    Returns
    -------
    str
        One line of text that cannot move the cursor, clear the screen, set
        a window title, open a hyperlink or reorder what follows it.

    Examples
    --------
    >>> print(visible("\\x1b[2Jcleared"))
    \\x1b[2Jcleared
    >>> print(visible("two\\nlines\\ttab"))
    two\\nlines\\ttab
    >>> print(visible("\\u202eabc"))
    \\u202eabc
    >>> visible(3)
    '3'
    """
    return _CONTROLS.sub(_escape_control, str(text))


def terminal(text: object) -> Text:
    """``text`` for a rich console: control characters visible, markup inert.

    A :class:`rich.text.Text` is printed as it is: ``[red]`` stays
    ``[red]``, ``:smile:`` stays ``:smile:``, and a trailing backslash stays
    one backslash.

    Parameters
    ----------
    text : object
        A value from the data.

    Returns
    -------
    rich.text.Text
        The text of :func:`visible`, unstyled.

    Examples
    --------
    >>> terminal("[red]x\\x1b[0m[/]").plain
    '[red]x\\\\x1b[0m[/]'
    >>> from rich.console import Console
    >>> Console(width=40).print(terminal("[bold]x[/] :smile:"))
    [bold]x[/] :smile:
    """
    from rich.text import Text

    return Text(visible(text))


#: ASCII punctuation, which CommonMark lets a backslash make literal.
_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
#: A zero-width space after ``@`` and ``#``: GitHub finds @mentions and
#: #123 references in the rendered text, where backslash escapes are gone.
_BREAK = "&#8203;"


def _escape_punctuation(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ENTITIES:
        return _ENTITIES[char]
    if char in "@#":
        return char + _BREAK
    return "\\" + char


def markdown(text: object) -> str:
    """``text`` for GitHub-flavoured markdown, a table cell included: shown, never acted on.

    Control characters are made visible (:func:`visible`, so a newline
    cannot end a table row); ``&``, ``<`` and ``>`` become HTML entities (no
    raw HTML, no ``<http://...>`` autolink); every other ASCII punctuation
    character is backslash-escaped (no link, image, emphasis, code span,
    strikethrough, math, table cell break, and no bare-URL autolink, which
    needs ``://`` or ``www.`` unbroken); and ``@`` and ``#`` are followed by
    a zero-width space, which breaks GitHub's @mentions and #123 references.

    Parameters
    ----------
    text : object
        A value from the data.

    Returns
    -------
    str
        Markdown whose rendering shows the text of :func:`visible` (with a
        zero-width space after each ``@`` and ``#``).

    Examples
    --------
    >>> print(markdown("![p](http://t/p.png)"))
    \\!\\[p\\]\\(http\\:\\/\\/t\\/p\\.png\\)
    >>> print(markdown("</td><img src=x>"))
    &lt;\\/td&gt;&lt;img src\\=x&gt;
    >>> print(markdown("@octocat #12 a|b"))
    @&#8203;octocat #&#8203;12 a\\|b
    >>> print(markdown("cat"))
    cat
    """
    return _PUNCTUATION.sub(_escape_punctuation, visible(text))


def html(text: object) -> str:
    """``text`` for HTML, as element text or a double- or single-quoted attribute value.

    Control characters are made visible (:func:`visible`: no bidirectional
    override reorders the page, no newline hides in an attribute), then ``&``,
    ``<``, ``>``, ``"`` and ``'`` become character references: no tag, no
    entity, no end of the attribute.

    Parameters
    ----------
    text : object
        A value from the data.

    Returns
    -------
    str
        HTML whose rendering shows the text of :func:`visible`.

    Examples
    --------
    >>> print(html("</td><img src=x onerror=alert(1)>"))
    &lt;/td&gt;&lt;img src=x onerror=alert(1)&gt;
    >>> print(html('" onmouseover="x\\' &amp;'))
    &quot; onmouseover=&quot;x&#x27; &amp;amp;
    >>> print(html("\\u202eabc\\n"))
    \\u202eabc\\n
    """
    return _html.escape(visible(text), quote=True)


#: A URL's scheme (RFC 3986), which makes it absolute.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
#: The pictures a ``data:`` URL may hold in an ``<img src>``.
_DATA_IMAGE = re.compile(r"^data:image/(?:png|jpeg|gif|webp|bmp|svg\+xml)[;,]", re.IGNORECASE)
#: What a browser strips from a URL or ignores in it (controls, spaces at the ends).
_URL_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def image_src(text: str) -> str | None:
    """``text`` as the ``src`` of an ``<img>`` (HTML-escaped), or None where it must stay text.

    A relative path (``img/3.png``, ``../x.jpg``: relative to the page, as
    written) and an ``http://``, ``https://`` or ``data:image/...`` URL are
    kept; any other scheme (``javascript:``, ``file:``, ``C:``) is not, nor a
    value with a control character or space at an end, which a browser would
    strip before reading the scheme. Spaces and other characters a URL cannot
    hold are percent-encoded.

    Parameters
    ----------
    text : str
        A value from the data.

    Returns
    -------
    str or None
        The attribute value, escaped for a double-quoted attribute; None when
        the value is not a picture's address that may be loaded.

    Examples
    --------
    >>> image_src("img/cat 1.png"), image_src("https://e.org/a.png?s=2&t=3")
    ('img/cat%201.png', 'https://e.org/a.png?s=2&amp;t=3')
    >>> image_src("javascript:alert(1)//.png"), image_src(" java\\tscript:x.png")
    (None, None)
    >>> image_src("data:image/png;base64,iVBO")
    'data:image/png;base64,iVBO'
    """
    from urllib.parse import quote

    if not text or text != text.strip() or _URL_UNSAFE.search(text):
        return None
    scheme = _SCHEME.match(text)
    if scheme is not None:
        name = scheme.group(1).lower()
        if name not in ("http", "https") and not (name == "data" and _DATA_IMAGE.match(text)):
            return None
    return _html.escape(quote(text, safe="/:?#[]@!$&'()*+,;=%-._~"), quote=True)


#: What a spreadsheet may take for the start of a formula (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A cell that is a plain number: a spreadsheet reads it as that number.
_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_IS_NUMBER = re.compile(_NUMBER)


def spreadsheet(text: str) -> str:
    """A text cell for a CSV file that a spreadsheet may open: formulas defused.

    A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return gets a leading ``'``, so a spreadsheet shows it as text rather
    than running it (OWASP, "CSV injection"); a cell that is a plain number
    (``-3``, ``-0.5``, ``+1e-3``) is left as it is, and so is every other
    cell. The ``'`` is added to the value: a program that reads the CSV back
    sees it.

    Parameters
    ----------
    text : str
        One text cell.

    Returns
    -------
    str
        The cell, with a leading ``'`` where a spreadsheet would see a formula.

    Examples
    --------
    >>> spreadsheet('=HYPERLINK("http://e","x")')
    '\\'=HYPERLINK("http://e","x")'
    >>> spreadsheet("-2+3"), spreadsheet("-3"), spreadsheet("-0.5"), spreadsheet("cat")
    ("'-2+3", '-3', '-0.5', 'cat')
    """
    if text.startswith(_FORMULA_START) and not _IS_NUMBER.fullmatch(text):
        return "'" + text
    return text


def spreadsheet_array(cells: pa.Array) -> pa.Array:
    """:func:`spreadsheet` applied to each cell of a string array, vectorised (nulls stay null).

    Parameters
    ----------
    cells : pyarrow.Array
        A string array.

    Returns
    -------
    pyarrow.Array
        The same cells, those a spreadsheet would run as a formula with a
        leading ``'``.

    Examples
    --------
    >>> import pyarrow as pa
    >>> spreadsheet_array(pa.array(["=1+1", "-3", None, "@SUM(A1)", "a"])).to_pylist()
    ["'=1+1", '-3', None, "'@SUM(A1)", 'a']
    """
    import pyarrow.compute as pc

    starts = pc.fill_null(pc.match_substring_regex(cells, "^[=+\\-@\\t\\r]"), False)
    if not pc.any(starts).as_py():
        return cells  # the usual case: nothing to defuse
    # the rest only on the cells that start like a formula, usually few
    suspects = cells.filter(starts)
    number = pc.match_substring_regex(suspects, f"^{_NUMBER}$")
    defused = pc.if_else(number, suspects, pc.binary_join_element_wise("'", suspects, ""))
    return pc.replace_with_mask(cells, starts, defused)
