"""Render table cells (``tables.compare`` output) as CSV, Markdown, LaTeX (booktabs) and HTML.

The CSV keeps every cell field (machine-readable, long format). The other three are the
paper's layout, one row per paper row and one column per (dataset,) metric, each cell
``ours / paper (delta)``; the best value of a column is bold (ours and paper separately, as
the paper bolds its best); a stand-in value carries a dagger and the table a footnote;
a cell whose inputs were not run reads ``not run / paper``, one that cannot be computed
``not measured: why / paper``; a cell without a published value (a table beyond the paper)
reads ``ours / —``. The footnotes say how values were taken (each cell's ``detail``) and
when they come from a shortened run.

Names in the tables (paper row labels, dataset and metric names, notes, image and method
names in footnotes) are data, never markup: each format escapes them its own way
(:func:`escape`), so a name like ``<script>`` or ``a|b`` or ``50%_x`` reads as itself.
"""

from __future__ import annotations

import html

import pandas as pd

DAGGER = "\u2020"
NO_PAPER = "\u2014"  # the paper column of a cell without a published value
INTEGER_METRICS = ("Params (K)",)
NOT_OK = ("not run", "failed", "not measured")  # cell statuses without our value


def _decimals(v: float) -> int:
    """Decimals the paper printed (YAML keeps 5.968 but turns 7.60 into 7.6: at least 2)."""
    s = repr(float(v))
    frac = s.split(".", 1)[1] if "." in s and "e" not in s else ""
    frac = frac.rstrip("0")
    return min(max(len(frac), 2), 4)


def fmt(v: float, metric: str, decimals: int | None = None) -> str:
    """A number as the tables print it."""
    if pd.isna(v):
        return ""
    if metric in INTEGER_METRICS:
        return f"{v:,.0f}"
    d = _decimals(v) if decimals is None else decimals
    return f"{v:.{d}f}"


def _bold(text: str, style: str) -> str:
    return {"md": f"**{text}**", "tex": rf"\textbf{{{text}}}", "html": f"<b>{text}</b>"}.get(
        style, text
    )


# Markdown: HTML-significant characters as entities (a renderer would run <script> or
# <img onerror>); a pipe and a backslash as entities too (a pipe would split a table row,
# and a name's own backslash before it would undo a backslash escape); the characters that
# start emphasis, code, links, strikethrough or GitHub's $math$ backslash-escaped. A line
# break would end a table row or a paragraph: a space. Underscores stay: GitHub does not
# read an intraword underscore (L_P + L_R, PIRM_test) as emphasis.
_MD = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "\\": "&#92;", "`": "\\`",
       "*": "\\*", "[": "\\[", "]": "\\]", "~": "\\~", "$": "\\$", "\n": " ", "\r": " "}


def md_escape(s: object) -> str:
    """Plain text as Markdown text (also safe inside a table cell)."""
    return "".join(_MD.get(ch, ch) for ch in str(s))


def escape(s: object, style: str) -> str:
    """Plain text escaped for ``style``: ``md``, ``tex``, ``html`` (``plain``: unchanged)."""
    if style == "md":
        return md_escape(s)
    if style == "tex":
        return tex_escape(s)
    if style == "html":
        return html.escape(str(s))
    return str(s)


def cell_text(c: pd.Series, style: str = "plain") -> str:
    """``ours / paper (delta)`` of one cell in ``style`` (plain, md, tex, html), escaped for it.

    A cell without our value reads its status; "not measured" adds its reason (``not
    measured: no validation patches``). A cell without a published value reads ``—`` for
    the paper, and no delta.
    """
    paper = fmt(c["paper"], c["metric"]) if pd.notna(c["paper"]) else NO_PAPER
    if c["metric"] == "Data size (k)" and pd.notna(c["paper"]):
        paper = f"{c['paper']:g}"
    d = 2 if pd.isna(c["paper"]) else max(_decimals(c["paper"]), 2)
    if c["metric"] == "Data size (k)":
        d = 3  # positions / 1000: every position shows (a small run's 0.004, not 0.00)
    if c.get("best_paper"):
        paper = _bold(paper, style)
    if c["status"] != "ok":
        status = str(c["status"])
        if status == "not measured":
            status += f": {c.get('warning') or 'no reason recorded'}"
        return f"{escape(status, style)} / {paper}"
    ours = fmt(c["ours"], c["metric"], None if c["metric"] in INTEGER_METRICS else d)
    if c.get("best_ours"):
        ours = _bold(ours, style)
    if c["stand_in"]:
        ours += DAGGER if style != "tex" else r"$^\dagger$"
    delta = "" if pd.isna(c["delta"]) else f" ({c['delta']:+.{d}f})"
    return f"{ours} / {paper}{delta}"


def _column(c: pd.Series, multi_dataset: bool) -> str:
    return f"{c['dataset']} {c['metric']}" if multi_dataset else c["metric"]


def wide(cells: pd.DataFrame, style: str = "plain") -> pd.DataFrame:
    """Paper layout: rows x (dataset) metric columns of cell texts; a note column if any.

    Cell texts and notes are escaped for ``style``; the index (row labels) and the column
    names are plain text, for the renderer to escape.
    """
    if cells.empty:
        return pd.DataFrame()
    multi = cells["dataset"].nunique() > 1
    c = cells.assign(
        col=[_column(r, multi) for _, r in cells.iterrows()],
        text=[cell_text(r, style) for _, r in cells.iterrows()],
    )
    rows = list(dict.fromkeys(c["row"]))
    cols = list(dict.fromkeys(c["col"]))
    w = c.pivot(index="row", columns="col", values="text").reindex(index=rows, columns=cols)
    w = w.fillna(NO_PAPER)  # a (row, column) the paper's table has no cell for
    notes = c.drop_duplicates("row").set_index("row")["note"].reindex(rows).fillna("")
    if notes.astype(bool).any():
        w.insert(0, "", [escape(n, style) for n in notes])
    w.index.name = "Method"
    return w


def _text(cells: pd.DataFrame, col: str) -> pd.Series:
    """A text column of the cells ("" where absent or NaN: cells read back from a CSV)."""
    if col not in cells.columns:
        return pd.Series("", index=cells.index)
    return cells[col].fillna("").astype(str)


def footnotes(cells: pd.DataFrame) -> list[str]:
    """Stand-in, shortened-run, warning and how-taken notes of a table, one line each."""
    lines = []
    ok = cells["status"] == "ok"
    si = cells[cells["stand_in"] & ok]
    for note in dict.fromkeys(si["stand_in_note"].fillna("")):
        lines.append(f"{DAGGER} stand-in: {note or 'stand-in values'}")
    short = _text(cells, "shortened")
    for text in dict.fromkeys(short[ok & (short != "")]):
        rows = ", ".join(dict.fromkeys(cells.loc[ok & (short == text), "row"].astype(str)))
        lines.append(f"shortened run ({text}): the values of trained runs ({rows}) are not "
                     "at the paper's schedule")
    for _, c in cells[cells["warning"].fillna("") != ""].iterrows():
        lines.append(f"{c['row']} {c['dataset']} {c['metric']}: {c['warning']}")
    detail = _text(cells, "detail")
    for i in cells.index[ok & (detail != "")]:
        c = cells.loc[i]
        lines.append(f"{c['row']} {c['metric']}: {detail[i]}")
    return list(dict.fromkeys(lines))


def to_csv(cells: pd.DataFrame) -> str:
    """Every cell field, long format."""
    return cells.to_csv(index=False)


def to_markdown(cells: pd.DataFrame, title: str, caption: str) -> str:
    """A Markdown table with a title line and footnotes."""
    w = wide(cells, "md")
    head = ["Method", *[md_escape(c) for c in w.columns]]
    lines = [f"### {md_escape(title)}", "", md_escape(caption), "",
             "| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for row, vals in w.iterrows():
        lines.append("| " + " | ".join([md_escape(row), *[str(v) for v in vals]]) + " |")
    lines += ["", "Cells: ours / paper (ours - paper); **bold** = best of the column."]
    lines += [f"- {md_escape(n)}" for n in footnotes(cells)]
    return "\n".join(lines) + "\n"


# < and > print as inverted marks in LaTeX's default OT1 text font; a line break would end
# the paragraph inside \caption.
_TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
        "|": r"$|$", "<": r"\textless{}", ">": r"\textgreater{}", "\n": " ", "\r": " ",
        DAGGER: r"$^\dagger$"}


def tex_escape(s: object) -> str:
    """Escape LaTeX specials of plain text."""
    return "".join(_TEX.get(ch, ch) for ch in str(s))


def to_latex(cells: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    w = wide(cells, "tex")
    ncol = len(w.columns)
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{l" + "c" * ncol + "}", r"\toprule",
             " & ".join(["Method", *[tex_escape(c) for c in w.columns]]) + r" \\", r"\midrule"]
    for row, vals in w.iterrows():
        # cell texts and notes are LaTeX already (wide escaped their plain parts)
        lines.append(" & ".join([tex_escape(row), *[str(v) for v in vals]]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    notes = "; ".join(tex_escape(n) for n in footnotes(cells))
    cap = tex_escape(caption) + r" Cells: ours / paper (ours $-$ paper); bold: best."
    if notes:
        cap += " " + notes
    lines += [rf"\caption{{{cap}}}", rf"\label{{tab:{label}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_html(cells: pd.DataFrame) -> str:
    """An HTML ``<table>`` fragment (cells escaped, bold via ``<b>``)."""
    w = wide(cells, "html")
    out = ['<table class="cmp">', "<thead><tr><th>Method</th>"]
    out += [f"<th>{html.escape(str(c))}</th>" for c in w.columns]
    out.append("</tr></thead><tbody>")
    for row, vals in w.iterrows():
        tds = []
        for v in vals:
            # cell texts are HTML already (wide escaped them; <b> is ours)
            cls = ' class="notrun"' if str(v).startswith(NOT_OK) else ""
            tds.append(f"<td{cls}>{v}</td>")
        out.append(f"<tr><th>{html.escape(str(row))}</th>{''.join(tds)}</tr>")
    out.append("</tbody></table>")
    notes = footnotes(cells)
    if notes:
        out.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
                   + "</ul>")
    return "\n".join(out)
