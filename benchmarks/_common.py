"""What the benchmark scripts share (they run as scripts, so this folder is on their path)."""

from __future__ import annotations

import sys


def shown_args() -> list[str]:
    """The script's command-line arguments without ``--out FILE`` (a temporary file under ``make results``),
    for the command a section records."""
    out, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a == "--out":
            skip = True
        elif not a.startswith("--out="):
            out.append(a)
    return out
