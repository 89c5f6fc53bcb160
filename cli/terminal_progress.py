"""A download progress bar on stderr for the CLI."""

from __future__ import annotations

import sys


def terminal_progress(name: str):
    def report(done: int, total: int | None) -> None:
        if total:
            filled = int(30 * done / total)
            line = f"\rdownloading {name} [{'#' * filled}{'.' * (30 - filled)}] {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        else:
            line = f"\rdownloading {name} {done / 1e6:.1f} MB"
        sys.stderr.write(line)
        if total and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report
