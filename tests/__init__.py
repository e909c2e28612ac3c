"""The pytest suite, arranged like the code (docs/architecture.md "Tests").

- ``tests/stages/``: one stage package each (data, sr, score, rankdata, ranker, train,
  report, status) through its library functions and its CLI;
- ``tests/toolkit/``: the toolkit modules (archs, losses, metrics, imresize, io, fit,
  weights, config, presets, budget...);
- ``tests/workflow/``: Snakemake planning and runs, the SLURM profile, DVC, the import contract;
- ``tests/support/``: the builders and helpers the test files share (no test file imports
  another); ``tests/conftest.py``: the shared fixtures.
"""
