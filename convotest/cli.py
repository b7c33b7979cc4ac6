"""The ``convotest`` command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``convotest`` console script."""
    print("convotest: no commands yet", file=sys.stderr)
    return 2
