"""Report stage: the paper's tables and figures with our numbers beside the published ones.

Reads files only (score Parquets, training curves, the rank index and the Ranker's evaluation
when present) and writes ``R/report/``: each table as CSV, Markdown and LaTeX, each figure as
PNG and PDF, and one page (``index.html`` + ``index.md``) that links them with provenance and
a banner naming every stand-in of the run. No torch import anywhere in this package: the
report runs on any machine that has the result files.

Modules: ``paper`` (the published numbers, ``config/paper_results.yaml``), ``inputs`` (file
readers), ``tables`` (pure DataFrame -> DataFrame builders), ``render`` (CSV / Markdown /
LaTeX / HTML), ``figures`` (matplotlib, Agg), ``page`` (index.html / index.md), ``build``
(the whole report), ``cli`` (``ranksrgan report build|summary``).
"""
