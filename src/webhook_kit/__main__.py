"""``python -m webhook_kit``: the command line (needs the ``cli`` extra)."""

from __future__ import annotations

from webhook_kit.cli import main

if __name__ == "__main__":
    main()
