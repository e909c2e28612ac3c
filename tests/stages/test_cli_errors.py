"""The CLI turns OS errors into one line naming the file (no traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RANKSRGAN = Path(sys.executable).parent / "ranksrgan"


def test_unwritable_output_is_one_line(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("a file where the results folder should be")
    proc = subprocess.run(
        [str(RANKSRGAN), "score", "synthetic-nrqm", "--out", str(blocker / "m" / "x.mat")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert str(blocker) in lines[0]
    assert "Traceback" not in proc.stderr
    assert blocker.read_text().startswith("a file")
