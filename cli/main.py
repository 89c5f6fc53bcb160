"""Command-line entry point: one sub-command a module, errors as exit status 2 (bad input) or 1."""

from __future__ import annotations

import argparse
import sys

from ..pipeline.content_check import ContentBlocked
from ..pipeline.errors import BadInput
from . import detect, serve, swap, worker


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m faceswap_v3", description="Faceswap V3: local face analysis and swapping")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    detect.add_parser(commands)
    swap.add_parser(commands)
    serve.add_parser(commands)
    worker.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ContentBlocked as exc:
        print(f"error ({exc.reason}): {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's contract: one line, exit status 1
        print(f"error: {exc}", file=sys.stderr)
        return 1
