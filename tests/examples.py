"""How many generated examples a property test tries: all of them in `make test`, a few in the
developer's loop (`make test-fast` sets CUSTOMS_RISK_QUICK_TESTS=1)."""

from __future__ import annotations

import os


def examples(n: int, quick: int = 20) -> int:
    """``n`` examples, or at most ``quick`` when CUSTOMS_RISK_QUICK_TESTS=1."""
    return min(n, quick) if os.environ.get("CUSTOMS_RISK_QUICK_TESTS") == "1" else n
