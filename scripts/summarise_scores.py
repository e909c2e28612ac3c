"""Same as `ranksrgan report summary RESULTS [--dataset D]` (kept for old habits)."""

import sys

from ranksrgan.cli import main

sys.exit(main(["report", "summary", *sys.argv[1:]]))
