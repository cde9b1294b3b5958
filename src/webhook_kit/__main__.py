"""``python -m webhook_kit``: the command line (needs the ``cli`` extra)."""

from __future__ import annotations

import sys

try:
    from webhook_kit.cli import main
except ImportError as exc:
    if exc.name != "click":
        raise
    sys.exit(f"Error: {exc}")

if __name__ == "__main__":
    main()
