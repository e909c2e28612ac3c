"""Kill a training process with SIGKILL once its checkpoint reaches an iteration (resume tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path


def kill_after_checkpoint(
    cmd: list[str], cwd: Path, checkpoint_dir: Path, min_iteration: int, timeout_s: float = 240
) -> tuple[int | None, int]:
    """Run ``cmd`` and SIGKILL it as soon as ``checkpoint_dir/last.json`` records an iteration
    >= ``min_iteration``. Returns (iteration it was killed at or None, its return code).
    """
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker, killed_at = checkpoint_dir / "last.json", None
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        if marker.is_file():
            it = json.loads(marker.read_text())["iteration"]
            if it >= min_iteration:
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = it
                break
        time.sleep(0.01)
    proc.wait(timeout=60)
    return killed_at, proc.returncode
