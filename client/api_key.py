"""Where the Segmind API key comes from, which origins it may be sent to, and keeping it out of messages."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..net.url_guard import origin  # noqa: F401 (the client and its tests import it from here)

ENV_KEY = "SEGMIND_API_KEY"
ENV_KEY_FILE = "SEGMIND_API_KEY_FILE"
ENV_ALLOW_CUSTOM_BASE_URL = "SEGMIND_ALLOW_CUSTOM_BASE_URL"
OFFICIAL_BASE_URL = "https://api.segmind.com"
OFFICIAL_STORAGE_URL = "https://workflows-api.segmind.com"


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or (Path.home() / ".config")
    return Path(base) / "segmind" / "api_key"


def stored_api_key() -> str | None:
    """The key of the user's environment: $SEGMIND_API_KEY, else the key file; None when there is none."""
    if os.environ.get(ENV_KEY, "").strip():
        return os.environ[ENV_KEY].strip()
    path = Path(os.environ[ENV_KEY_FILE]) if os.environ.get(ENV_KEY_FILE) else default_key_file()
    if path.is_file():
        text = path.read_text().strip()
        return text or None
    return None


@dataclass(frozen=True)
class KeyChoice:
    """The key to use and the origins it may be sent to; withheld_hint says why a stored key was not
    offered to some configured address (shown when that address then asks for a key)."""

    key: str | None
    origins: tuple[tuple[str, str, int], ...]
    withheld_hint: str | None = None


def choose_key(base_url: str, storage_url: str, typed: str | None = None) -> KeyChoice:
    """A key typed for this call goes to base_url's and storage_url's origins. The user's stored key
    (environment or key file) goes only to Segmind's own API and storage, unless the user allows other
    addresses with SEGMIND_ALLOW_CUSTOM_BASE_URL=1: a shared workflow must not be able to redirect it."""
    configured = [origin(base_url, "base_url"), origin(storage_url, "storage_url")]
    if typed and typed.strip():
        return KeyChoice(typed.strip(), tuple(dict.fromkeys(configured)))
    key = stored_api_key()
    if key is None:
        return KeyChoice(None, ())
    official = {origin(OFFICIAL_BASE_URL), origin(OFFICIAL_STORAGE_URL)}
    if os.environ.get(ENV_ALLOW_CUSTOM_BASE_URL, "").strip().lower() in ("1", "true", "yes"):
        return KeyChoice(key, tuple(dict.fromkeys(configured)))
    allowed = tuple(dict.fromkeys(o for o in configured if o in official))
    withheld = [o for o in configured if o not in official]
    hint = None
    if withheld:
        where = ", ".join(f"{s}://{h}:{p}" for s, h, p in dict.fromkeys(withheld))
        hint = (f"your SEGMIND_API_KEY (environment or key file) is sent only to Segmind's own API, not to {where}; "
                f"to send it there set {ENV_ALLOW_CUSTOM_BASE_URL}=1, or type that server's key into the node's "
                "api_key widget")
    return KeyChoice(key, allowed, hint)


def redact(text: str, key: str | None) -> str:
    """text with every occurrence of key replaced, so no error or log line can carry it."""
    if key and len(key) >= 4:
        return text.replace(key, "***")
    return text
