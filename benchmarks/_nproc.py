"""The 1-process vs N-process comparison both step benchmarks print (``--nproc N``).

The N-process side is this same benchmark script started again under
``torch.distributed.run --standalone`` with ``--split`` instead of ``--nproc``; each worker
prints one ``NPROC_RESULT {json}`` line (rank 0: mean ms per iteration, of which in
collectives, threads per process), which :func:`run_workers` reads back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_workers(script: str, n: int, threads: int, workdir: str) -> dict:
    """Run ``script`` on ``n`` torchrun processes with this run's arguments; its result."""
    argv = ["--split" if a == "--nproc" else a for a in sys.argv[1:]]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node", str(n), script, *argv, "--workdir", workdir]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"error: the {n}-process run failed:\n{proc.stderr[-3000:]}")
    return json.loads(next(ln for ln in proc.stdout.splitlines()
                           if ln.startswith("NPROC_RESULT ")).split(" ", 1)[1])


def print_comparison(one_ms: float, one_threads: int, res: dict, n: int, threads: int,
                     on_cpu: bool) -> None:
    """The 1-process and N-process lines and their ratio (an overhead figure on one CPU host)."""
    print(f"1 process  ({one_threads} threads): {one_ms:8.1f} ms/iter")
    print(f"{n} processes ({res['threads']} threads each): {res['ms']:8.1f} ms/iter, of which "
          f"{res['comm_ms']:.1f} ms in collectives ({100 * res['comm_ms'] / res['ms']:.0f}%)")
    print(f"ratio 1 / {n} processes: {one_ms / res['ms']:.2f}x (ideal {n}x with {n} x "
          f"{threads} free cores / {n} devices"
          + ("; one shared CPU host: an overhead figure, not a speed-up claim)"
             if on_cpu else ")"))
