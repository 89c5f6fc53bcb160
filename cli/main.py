"""Command-line entry point: one sub-command a module, errors as exit status 2 (bad input) or 1."""

from __future__ import annotations

import argparse
import importlib
import sys

from ..pipeline.content_check import ContentBlocked
from ..pipeline.errors import BadInput, BadSetting
from . import detect, swap

# The API server and the cluster worker are not in the archive the Comfy Registry publishes (.comfyignore),
# and their libraries are the `server` extra: a clone of the repository installed with pip has them.
SERVER_MISSING = ("`{command}` needs the pack's API server, which this installation lacks ({missing} not found: "
                  "the ComfyUI archive holds the nodes only); install it from a clone of the repository with the "
                  "Python that runs it: python -m pip install -e \"<clone folder>[server]\" ([server,cluster] "
                  "for cluster workers), then run python -m faceswap_v3 {command}")
_SERVER_PARTS = ("serve", "worker", "server", "aiohttp")


def _server_commands() -> tuple[list, str | None]:
    """(cli.serve and cli.worker, None) where this installation has the server, else ([], what is missing)."""
    try:
        return [importlib.import_module(f"{__package__}.{name}") for name in ("serve", "worker")], None
    except ModuleNotFoundError as exc:
        if (exc.name or "").rpartition(".")[2] not in _SERVER_PARTS:
            raise
        return [], exc.name


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m faceswap_v3", description="Faceswap V3: local face analysis and swapping")
    parser.add_argument("--runtime", help="where the models run: auto (default), or e.g. openvino:CPU:bf16, "
                        "onnxruntime:cpu, tensorrt:cuda:0:fp16, per role as swap=openvino,detect=onnxruntime "
                        "(sets FACESWAP_V3_RUNTIME; README 'Runtimes')")
    parser.add_argument("--precision", help="fp32, fp16, bf16 or auto (sets FACESWAP_V3_PRECISION)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    detect.add_parser(commands)
    swap.add_parser(commands)
    servers, missing = _server_commands()
    for module in servers:
        module.add_parser(commands)
    for command in ("serve", "worker") if missing else ():
        message = SERVER_MISSING.format(command=command, missing=missing)
        commands.add_parser(command, help=message, add_help=False).set_defaults(
            run=lambda args, message=message: _refuse(message), takes_any_arguments=True)
    return parser


def _refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def apply_runtime_flags(runtime: str | None, precision: str | None) -> None:
    """--runtime / --precision, checked (BadInput in one line listing the valid names), as the settings the
    engine and the server's worker processes read."""
    import os

    from ..pipeline.runtime.choice import PRECISION_SETTING, RUNTIME_SETTING
    from ..pipeline.runtime.names import check_precision, parse_runtime_setting

    if runtime is not None:
        parse_runtime_setting(runtime)
        os.environ[RUNTIME_SETTING] = runtime
    if precision is not None:
        check_precision(precision)
        os.environ[PRECISION_SETTING] = precision


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "takes_any_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        apply_runtime_flags(args.runtime, args.precision)
        return args.run(args)
    except (BadInput, BadSetting) as exc:
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
