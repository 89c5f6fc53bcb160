"""One message for every model file a run needs that is not on this machine: each under the exact name the
pack looks for, where to save it, and what needs it, so that one run tells the user everything to fetch."""

from __future__ import annotations

import os

from ..errors import ModelMissing
from .download import ENV_OFFLINE, placement
from .store import ModelStore, NeededModel

THE_FAILED_STEP = "the node that stopped"


def missing_files(needed: dict[NeededModel, list[str]], store: ModelStore,
                  failure: ModelMissing) -> dict[NeededModel, list[str]]:
    """Those of needed (file -> what needs it) that no folder holds and that will not just download when their
    step runs, plus failure's own file. A registered file downloads on first use unless downloads are off or
    failure was a failed download (the others would most likely fail the same way)."""
    expect_downloads = store.allow_download and not os.environ.get(ENV_OFFLINE) and not failure.download_failed
    missing = {}
    if failure.name:
        failed = NeededModel(failure.name, failure.folders)
        missing[failed] = needed.get(failed, [THE_FAILED_STEP])
    for need, users in needed.items():
        if need in missing or store.find(need) is not None:
            continue
        if need.entry is not None and need.downloaded_on_use and expect_downloads:
            continue
        missing[need] = users
    return missing


def missing_report(missing: dict[NeededModel, list[str]], store: ModelStore, failure: ModelMissing) -> str:
    """The message naming every file of missing: the exact name, where to get it and where to save it."""
    count = len(missing)
    header = f"{count} model file{'s' if count != 1 else ''} this workflow needs {'are' if count != 1 else 'is'} " \
             "not on this machine"
    if failure.download_failed:
        header += f", and downloading {failure.name} failed"
    elif os.environ.get(ENV_OFFLINE):
        header += f", and downloads are off ({ENV_OFFLINE} is set)"
    lines = [f"{header}. Save each under the exact name given, then run again:"]
    lines += [f"- {need.name} (for {', '.join(users)}): {_how_to_get(need, store)}" for need, users in missing.items()]
    if failure.download_failed:
        lines.append(f"The download failed with: {failure}")
    return "\n".join(lines)


def _how_to_get(need: NeededModel, store: ModelStore) -> str:
    entry = need.entry
    if entry is not None:
        destination = store.dirs(entry.folder)[0] / entry.name
        return f"get it from {entry.url} and {placement(entry, destination)}"
    folders = store.looked_in(need)
    if not folders:
        return "not found"
    return f"this pack does not download it; save your copy as {folders[0] / need.name}"
