"""The report page: ``index.html`` and its Markdown twin ``index.md``.

Both link every table (CSV / Markdown / LaTeX) and figure (PNG / PDF) by a path relative to
the page, open with a banner listing every stand-in of the run, and close with the "setup vs
paper" comparison and the provenance (config hash, git commit, versions, dataset and weights
hashes, metric protocol per table). The HTML page checks on load that every image decoded
and reports a broken one as a console error (what the browser test looks for). Every name
and note on either page is text, escaped for its format (HTML: ``html.escape``; Markdown:
``render.md_escape``): names come from configs, score tables and the paper-results file.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ranksrgan.report.render import md_escape


@dataclass
class TableEntry:
    """One comparison table as the page shows it."""

    name: str
    title: str
    caption: str
    source: str
    files: dict[str, str]
    html: str
    markdown: str
    protocols: list[dict[str, Any]] = field(default_factory=list)
    filled: int = 0
    cells: int = 0


@dataclass
class FigureEntry:
    """One figure: its files (PNG first) or why it is missing."""

    name: str
    title: str
    caption: str
    files: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class SectionEntry:
    """An extra section of the page (e.g. the miniature study): its id, title and bodies."""

    name: str
    title: str
    html: str
    markdown: str


CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
.banner{border:3px solid #b00;background:#fee;padding:.6em 1em;margin:1em 0}
.banner.ok{border-color:#080;background:#efe}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:center}
td.notrun{color:#888}
.notes{font-size:.8em;color:#555}
figure{margin:1em 0}
figure img{max-width:100%;border:1px solid #ddd}
code{font-size:.85em}
"""

# Reports images that did not decode: a console error and a data attribute on <body>.
CHECK_JS = """
window.addEventListener('load', function () {
  var bad = [];
  document.querySelectorAll('img').forEach(function (im) {
    if (!im.complete || im.naturalWidth === 0) { bad.push(im.getAttribute('src')); }
  });
  document.body.setAttribute('data-images', String(document.images.length));
  document.body.setAttribute('data-broken-images', bad.join(' '));
  bad.forEach(function (s) { console.error('report image failed to load: ' + s); });
});
"""


def _e(s: Any) -> str:
    return html.escape(str(s))


def _kv_html(d: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in d.items())
    return f"<table>{rows}</table>"


def _df_html(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p>none</p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r) + "</tr>" for r in df.itertuples(False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _df_md(df: pd.DataFrame) -> str:
    if df.empty:
        return "none\n"
    cols = [md_escape(c) for c in df.columns]
    out = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    out += ["| " + " | ".join(md_escape(v) for v in r) + " |" for r in df.itertuples(False)]
    return "\n".join(out) + "\n"


def _m(s: Any) -> str:
    return md_escape(s)


def _md_code(s: Any) -> str:
    """Inline code in Markdown from untrusted text: an HTML <code> element around escaped
    text (a backtick code span would keep a raw <script> in the file, entities unread)."""
    return f"<code>{md_escape(s)}</code>"


def _protocol_text(protocols: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(json.dumps(dict(p), sort_keys=True) for p in protocols) or "no scores used"


def render_html(
    title: str,
    stand_ins: Sequence[str],
    tables: Sequence[TableEntry],
    figures: Sequence[FigureEntry],
    setup: pd.DataFrame,
    provenance: Mapping[str, Any],
    sections: Sequence[SectionEntry] = (),
    notices: Sequence[str] = (),
) -> str:
    """The whole page as one HTML document (``sections`` go before the paper's tables;
    ``notices``: banner lines about the whole run, e.g. a shortened schedule)."""
    h = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
         f"<title>{_e(title)}</title>", f"<style>{CSS}</style>",
         f"<script>{CHECK_JS}</script></head><body>", f"<h1>{_e(title)}</h1>"]
    if notices:
        h.append('<div class="banner" id="notices"><ul>'
                 + "".join(f"<li><b>{_e(n)}</b></li>" for n in notices) + "</ul></div>")
    if stand_ins:
        h.append('<div class="banner" id="stand-ins"><b>This run uses stand-ins: its numbers '
                 "are not the paper's experiment.</b><ul>"
                 + "".join(f"<li>{_e(s)}</li>" for s in stand_ins) + "</ul></div>")
    else:
        h.append('<div class="banner ok" id="stand-ins">No stand-ins recorded in this run.</div>')
    h.append("<h2>Contents</h2><ul>")
    h += [f'<li><a href="#{_e(t.name)}">{_e(t.title)}</a> ({t.filled}/{t.cells} cells run)</li>'
          for t in tables]
    h += [f'<li><a href="#{_e(f.name)}">{_e(f.title)}</a></li>' for f in figures]
    h.append('<li><a href="#setup">Setup vs paper</a></li>'
             '<li><a href="#provenance">Provenance</a></li></ul>')
    for sec in sections:
        h.append(f'<section id="{_e(sec.name)}"><h2>{_e(sec.title)}</h2>{sec.html}</section>')
    h.append("<h2>Tables</h2><p>Each cell: ours / paper (ours &minus; paper); bold = best of "
             "its column; &dagger; = stand-in value; <i>not run</i> = the experiment was not "
             "part of this run; <i>not measured: why</i> = it ran but this value could not "
             "be computed; &mdash; = no published value.</p>")
    for t in tables:
        links = " | ".join(f'<a href="{_e(p)}">{_e(k)}</a>' for k, p in t.files.items())
        h.append(f'<section id="{_e(t.name)}"><h3>{_e(t.title)}</h3>'
                 f"<p>{_e(t.caption)} <i>Source: {_e(t.source)}.</i> Files: {links}</p>"
                 f"{t.html}<p class=\"notes\">Metric protocol: "
                 f"<code>{_e(_protocol_text(t.protocols))}</code></p></section>")
    h.append("<h2>Figures</h2>")
    for f in figures:
        h.append(f'<section id="{_e(f.name)}"><h3>{_e(f.title)}</h3>')
        if f.files:
            links = " | ".join(f'<a href="{_e(p)}">{_e(p.rsplit(".", 1)[-1].upper())}</a>'
                               for p in f.files)
            h.append(f'<figure><img src="{_e(f.files[0])}" alt="{_e(f.title)}">'
                     f"<figcaption>{_e(f.caption)} Files: {links}</figcaption></figure>")
        else:
            h.append(f'<p class="notrun">not run: {_e(f.reason)}</p>')
        h.append("</section>")
    h.append('<h2 id="setup">Setup vs paper</h2><p>Generated from the run\'s config and '
             "the paper / authors' values in <code>config/paper_results.yaml</code>.</p>")
    h.append(_df_html(setup))
    h.append('<h2 id="provenance">Provenance</h2>')
    for key, val in provenance.items():
        h.append(f"<h3>{_e(key)}</h3>")
        h.append(_df_html(val) if isinstance(val, pd.DataFrame) else _kv_html(val))
    h.append("</body></html>")
    return "\n".join(h) + "\n"


def render_markdown(
    title: str,
    stand_ins: Sequence[str],
    tables: Sequence[TableEntry],
    figures: Sequence[FigureEntry],
    setup: pd.DataFrame,
    provenance: Mapping[str, Any],
    sections: Sequence[SectionEntry] = (),
    notices: Sequence[str] = (),
) -> str:
    """The Markdown twin of :func:`render_html` (same content, same relative links)."""
    m = [f"# {_m(title)}", ""]
    if notices:
        m += [f"> **{_m(n)}**" for n in notices] + [""]
    if stand_ins:
        m += ["> **This run uses stand-ins: its numbers are not the paper's experiment.**", ">"]
        m += [f"> - {_m(s)}" for s in stand_ins]
    else:
        m.append("No stand-ins recorded in this run.")
    for sec in sections:  # sec.markdown is Markdown already (its builder escaped its names)
        m += ["", f"## {_m(sec.title)}", "", sec.markdown.rstrip()]
    m += ["", "## Tables", ""]
    for t in tables:  # t.markdown: render.to_markdown, escaped there
        links = " | ".join(f"[{_m(k)}]({p})" for k, p in t.files.items())
        m += [t.markdown.rstrip(), "", f"Source: {_m(t.source)}. Files: {links}",
              "", f"Metric protocol: {_md_code(_protocol_text(t.protocols))}", ""]
    m += ["## Figures", ""]
    for f in figures:
        m.append(f"### {_m(f.title)}")
        if f.files:
            links = " | ".join(f"[{p.rsplit('.', 1)[-1].upper()}]({p})" for p in f.files)
            m += ["", f"![{_m(f.title)}]({f.files[0]})", "", f"{_m(f.caption)} Files: {links}",
                  ""]
        else:
            m += ["", f"not run: {_m(f.reason)}", ""]
    m += ["## Setup vs paper", "", _df_md(setup), "## Provenance", ""]
    for key, val in provenance.items():
        m += [f"### {_m(key)}", ""]
        if isinstance(val, pd.DataFrame):
            m.append(_df_md(val))
        else:
            m.append(_df_md(pd.DataFrame({"item": list(val), "value": list(val.values())})))
    return "\n".join(m) + "\n"
