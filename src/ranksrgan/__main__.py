"""``python -m ranksrgan`` runs the CLI."""

import sys

from ranksrgan.cli import main

sys.exit(main())
