"""The page around the report: head, style sheet, the sorting script, and the policy.

The page is one file with nothing to fetch: its style and its script are
inline, and a Content-Security-Policy allows exactly those two (by their
SHA-256 hashes) and pictures, nothing else: no script from the data can
run, even if an escaping slip let one in. The script only makes table
headers sort their table; without it the tables read as they are written.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TextIO

from cecli._version import __version__
from cecli.render.html._markup import Markup, text

STYLE = """
:root{color-scheme:light dark;--fg:#1d2330;--muted:#5b6474;--bg:#fff;--panel:#f5f7fa;
--line:#d9dee6;--accent:#2f6db5;--bar:#4c72b0;--bad:#c0392b;--warn:#b9770e;--good:#1e8449;
--over:#c44e52;--under:#dd8452;--shade:rgba(196,78,82,.13);--band:rgba(221,132,82,.28)}
@media (prefers-color-scheme:dark){:root{--fg:#e3e7ee;--muted:#9aa4b5;--bg:#14171c;
--panel:#1d2128;--line:#343a45;--accent:#7fb0ef;--bar:#6f95d6;--bad:#ff7b6b;--warn:#f0b44c;
--good:#5fd08a;--over:#ff8a80;--under:#f4a261;--shade:rgba(255,138,128,.16);
--band:rgba(244,162,97,.3)}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,sans-serif}
header,main,footer{max-width:1180px;margin:0 auto;padding:0 16px}
header{padding-top:20px}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 8px;
border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:1.02em;margin:18px 0 6px}
p{margin:6px 0}.muted,figcaption,caption{color:var(--muted)}
nav{display:flex;flex-wrap:wrap;gap:4px 14px;margin:10px 0;font-size:.92em}
a{color:var(--accent)}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;
border:1px solid currentColor}
.pass{color:var(--good)}.fail{color:var(--bad)}.skip{color:var(--warn)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 18px;margin:8px 0;
background:var(--panel);padding:10px 14px;border-radius:6px}
dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto;margin:6px 0 10px;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;padding:6px 10px;font-size:.92em}
th,td{padding:4px 10px;text-align:left;border-bottom:1px solid var(--line);
vertical-align:top}
thead th{background:var(--panel);position:sticky;top:0;white-space:nowrap}
tbody tr:nth-child(even){background:var(--panel)}
td.n,th.n{text-align:right;white-space:nowrap}
td{overflow-wrap:break-word}
th button{all:inherit;cursor:pointer;padding:0}
th button::after{content:" \\2195";color:var(--muted);font-size:.85em}
th[aria-sort=ascending] button::after{content:" \\25B2";color:var(--fg)}
th[aria-sort=descending] button::after{content:" \\25BC";color:var(--fg)}
th button:focus-visible{outline:2px solid var(--accent)}
.missing{color:var(--muted);font-style:italic}
td.img{min-width:12em;max-width:24em;overflow-wrap:anywhere}
.thumb{display:flex;align-items:center;gap:8px}
td.img img{flex:none;height:64px;width:auto;max-width:96px;object-fit:contain;
border-radius:3px;background:var(--panel)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));
gap:18px}
figure{margin:8px 0;max-width:720px}svg{width:100%;height:auto;display:block;color:var(--fg)}
svg text{fill:currentColor;font:11px system-ui,sans-serif}svg .title{font-size:13px;
font-weight:600}svg .axis{stroke:var(--muted);stroke-width:1}svg .grid{stroke:var(--line)}
svg .bar{fill:var(--bar)}svg .conf{stroke:var(--fg);stroke-width:2.5}
svg .diag{stroke:var(--muted);stroke-dasharray:4 3}svg .whisker{stroke:var(--fg);
stroke-width:1}svg .over{fill:url(#hatch-over);stroke:var(--over)}
svg .under{fill:url(#hatch-under);stroke:var(--under)}svg .hatch-over{stroke:var(--over)}
svg .hatch-under{stroke:var(--under)}svg .shade{fill:var(--shade)}
svg .flag{stroke:var(--over)}svg .band{fill:var(--band)}
svg .zero{stroke:var(--over);stroke-dasharray:5 3;stroke-width:1.5}
svg .estimate{stroke:var(--fg);stroke-width:2}svg .small{font-size:9px}
svg.key{width:14px;height:10px;display:inline-block;vertical-align:-1px;margin-right:4px}
svg .conf-key,svg .estimate-key{fill:var(--fg)}svg .zero-key{fill:var(--over)}
svg .whisker-key{fill:none;stroke:var(--fg)}
ul.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:2px 14px;
font-size:.88em;color:var(--muted)}
footer{margin-top:30px;padding-bottom:24px;font-size:.85em;color:var(--muted)}
@media (max-width:600px){body{font-size:14px}header,main,footer{padding:0 10px}
dl.facts{grid-template-columns:1fr;gap:0 0}dl.facts dd{margin-bottom:6px}
th,td{padding:3px 6px}}
@media print{:root{--fg:#000;--muted:#444;--bg:#fff;--panel:#f3f3f3;--line:#bbb}
body{font-size:10pt}nav,th button::after{display:none}header,main,footer{max-width:none}
.scroll{overflow:visible;border:0}thead{display:table-header-group}
thead th{position:static}tr,figure,dl.facts{break-inside:avoid}h2,h3{break-after:avoid}
a{color:inherit;text-decoration:none}}
"""

#: Makes each ``th`` of a ``table.sortable`` a button that sorts the rows by its
#: column: by ``data-v`` (or the text), as numbers when the ``th`` has
#: ``data-type="num"``, missing values last either way. It reads the page only.
SCRIPT = """(()=>{
for(const t of document.querySelectorAll("table.sortable")){
const hs=[...t.tHead.rows[0].cells],body=t.tBodies[0];
hs.forEach((th,i)=>{const b=document.createElement("button");b.type="button";
b.append(...th.childNodes);th.append(b);
b.addEventListener("click",()=>{
const d=th.getAttribute("aria-sort")==="ascending"?-1:1,num=th.dataset.type==="num";
for(const h of hs)h.removeAttribute("aria-sort");
th.setAttribute("aria-sort",d>0?"ascending":"descending");
const key=r=>{const c=r.cells[i];if(!c)return num?NaN:"";
const v=c.dataset.v??c.textContent;return num?parseFloat(v):v};
const rows=[...body.rows].map(r=>[key(r),r]);
rows.sort((x,y)=>{if(num){const a=isNaN(x[0]),b=isNaN(y[0]);
if(a||b)return a-b;return (x[0]-y[0])*d}
return x[0].localeCompare(y[0],undefined,{numeric:true})*d});
body.append(...rows.map(r=>r[1]))})})}})();"""


def _sha256(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


#: What the page may load and run: its own style and script, and pictures.
POLICY = (
    "default-src 'none'; "
    f"style-src {_sha256(STYLE)}; "
    f"script-src {_sha256(SCRIPT)}; "
    "img-src 'self' file: data: http: https:; "
    "base-uri 'none'; form-action 'none'"
)


def head(out: TextIO, title: str) -> None:
    """The document's start, up to and with ``<body>``; ``title`` is escaped."""
    out.write(
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f'<meta name="generator" content="cecli {text(__version__)}">\n'
        f"<title>{text(title)}</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n"
    )


def foot(out: TextIO) -> None:
    """The footer, the script and the document's end."""
    out.write(
        f"<footer>Written by cecli {text(__version__)}. Every value from the data is shown "
        "as written (control characters as escapes); the page loads nothing but the "
        "pictures of the listed rows.</footer>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def nav(links: list[tuple[str, str]]) -> Markup:
    """Links to the page's sections: (anchor, cecli's own title).

    Examples
    --------
    >>> nav([("gates", "Gates & more")])
    '<nav aria-label="sections"><a href="#gates">Gates &amp; more</a></nav>\\n'
    """
    items = "".join(f'<a href="#{text(anchor)}">{text(title)}</a>' for anchor, title in links)
    return Markup(f'<nav aria-label="sections">{items}</nav>\n')
