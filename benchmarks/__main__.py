"""``python -m benchmarks``: run every benchmark and write benchmarks/RESULTS.md (see run.py)."""

import sys

from benchmarks.run import main

sys.exit(main())
