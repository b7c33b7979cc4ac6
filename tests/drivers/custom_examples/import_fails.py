"""A driver module whose import fails (a missing dependency of the user's code)."""

from __future__ import annotations

import convotest_no_such_dependency  # noqa: F401
