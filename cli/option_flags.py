"""Command-line flags made from the option entries (pipeline/options.py): each option's default, type and
values, so a new option reaches the CLI without a hand-written flag."""

from __future__ import annotations

import argparse

from ..pipeline.options import API_OPTIONS, EXTENSIONS


def parse_bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_option_flag(parser: argparse.ArgumentParser, name: str, help: str | None = None, **overrides) -> None:
    """--name-with-dashes for the option `name`: a bare boolean flag means true; a list of values is offered
    as argparse choices unless a file name is accepted too (then the option's own check refuses bad ones)."""
    option = API_OPTIONS.get(name) or EXTENSIONS[name]
    flag = {"default": option.default}
    if option.kind is bool:
        flag.update(nargs="?", const=True, type=parse_bool)
    elif option.kind in (int, float):
        flag["type"] = option.kind
    if option.choices and not option.also and not option.file_suffixes:
        flag["choices"] = option.choices
    if help:
        flag["help"] = help
    parser.add_argument("--" + name.replace("_", "-"), **{**flag, **overrides})
