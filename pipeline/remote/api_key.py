"""Where the Segmind API key comes from, and keeping it out of every message."""

from __future__ import annotations

import os
from pathlib import Path

ENV_KEY = "SEGMIND_API_KEY"
ENV_KEY_FILE = "SEGMIND_API_KEY_FILE"


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or (Path.home() / ".config")
    return Path(base) / "segmind" / "api_key"


def resolve_api_key(explicit: str | None = None) -> str | None:
    """The key given explicitly, else $SEGMIND_API_KEY, else the key file ($SEGMIND_API_KEY_FILE or
    ~/.config/segmind/api_key); None when there is none."""
    if explicit and explicit.strip():
        return explicit.strip()
    if os.environ.get(ENV_KEY, "").strip():
        return os.environ[ENV_KEY].strip()
    path = Path(os.environ[ENV_KEY_FILE]) if os.environ.get(ENV_KEY_FILE) else default_key_file()
    if path.is_file():
        text = path.read_text().strip()
        return text or None
    return None


def redact(text: str, key: str | None) -> str:
    """text with every occurrence of key replaced, so no error or log line can carry it."""
    if key and len(key) >= 4:
        return text.replace(key, "***")
    return text
