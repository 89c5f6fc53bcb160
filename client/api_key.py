"""Where the Segmind API key comes from, which origins it may be sent to, and keeping it out of messages."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..net.url_guard import origin  # noqa: F401 (the client and its tests import it from here)
from ..pipeline.errors import BadInput

ENV_KEY = "SEGMIND_API_KEY"
ENV_KEY_FILE = "SEGMIND_API_KEY_FILE"
ENV_ALLOW_CUSTOM_BASE_URL = "SEGMIND_ALLOW_CUSTOM_BASE_URL"
TYPED_SOURCE = "the node's api_key widget"
OFFICIAL_BASE_URL = "https://api.segmind.com"
OFFICIAL_STORAGE_URL = "https://workflows-api.segmind.com"


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or (Path.home() / ".config")
    return Path(base) / "segmind" / "api_key"


def stored_api_key() -> str | None:
    """The key of the user's environment: $SEGMIND_API_KEY, else the key file; None when there is none."""
    return stored_key_and_source()[0]


def stored_key_and_source() -> tuple[str | None, str | None]:
    """(the user's stored key, where it came from in words), or (None, None)."""
    if os.environ.get(ENV_KEY, "").strip():
        return os.environ[ENV_KEY].strip(), f"the {ENV_KEY} environment variable"
    path = Path(os.environ[ENV_KEY_FILE]) if os.environ.get(ENV_KEY_FILE) else default_key_file()
    if path.is_file():
        text = path.read_text().strip()
        return (text, f"the key file {path}") if text else (None, None)
    return None, None


@dataclass(frozen=True)
class KeyChoice:
    """The key to use and the origins it may be sent to; withheld_hint says why a stored key was not
    offered to some configured address (shown when that address then asks for a key)."""

    key: str | None
    origins: tuple[tuple[str, str, int], ...]
    withheld_hint: str | None = None
    source: str | None = None  # where key came from, in words ("the key typed into the node's api_key widget")

    def refused(self, address: str) -> str:
        """What to tell the user when address answered 401 to this choice: which key was sent (never the
        key itself, at most its last 4 characters), and what to change."""
        try:
            sent = self.key is not None and origin(address) in self.origins
        except BadInput:
            sent = False
        if not sent or self.source is None:
            return (f"{address} asked for an API key and none was sent: set {ENV_KEY} (or a key file at "
                    f"{default_key_file()}), or type that server's key into the node's api_key widget"
                    + (f"; {self.withheld_hint}" if self.withheld_hint else ""))
        ending = f" (ending in ...{self.key[-4:]})" if len(self.key) >= 12 else ""
        used = f"{address} refused the API key from {self.source}{ending}"
        if self.source == TYPED_SOURCE:
            return (f"{used}: correct it, or clear the api_key widget to use {ENV_KEY} or the key file instead "
                    "(a typed key is used in their place)")
        return f"{used}: replace it with a valid key for {address}, or type that server's key into the api_key widget"


def choose_key(base_url: str, storage_url: str, typed: str | None = None) -> KeyChoice:
    """A key typed for this call goes to base_url's and storage_url's origins. The user's stored key
    (environment or key file) goes only to Segmind's own API and storage, unless the user allows other
    addresses with SEGMIND_ALLOW_CUSTOM_BASE_URL=1: a shared workflow must not be able to redirect it."""
    configured = [origin(base_url, "base_url"), origin(storage_url, "storage_url")]
    if typed and typed.strip():
        return KeyChoice(typed.strip(), tuple(dict.fromkeys(configured)), source=TYPED_SOURCE)
    key, source = stored_key_and_source()
    if key is None:
        return KeyChoice(None, ())
    official = {origin(OFFICIAL_BASE_URL), origin(OFFICIAL_STORAGE_URL)}
    if os.environ.get(ENV_ALLOW_CUSTOM_BASE_URL, "").strip().lower() in ("1", "true", "yes"):
        return KeyChoice(key, tuple(dict.fromkeys(configured)), source=source)
    allowed = tuple(dict.fromkeys(o for o in configured if o in official))
    withheld = [o for o in configured if o not in official]
    hint = None
    if withheld:
        where = ", ".join(f"{s}://{h}:{p}" for s, h, p in dict.fromkeys(withheld))
        hint = (f"your SEGMIND_API_KEY (environment or key file) is sent only to Segmind's own API, not to {where}; "
                f"to send it there set {ENV_ALLOW_CUSTOM_BASE_URL}=1, or type that server's key into the node's "
                "api_key widget")
    # the stored key reaches only the official origins: for a 401 from elsewhere, no key was sent
    return KeyChoice(key, allowed, hint, source=source)


def redact(text: str, key: str | None) -> str:
    """text with every occurrence of key replaced, so no error or log line can carry it."""
    if key and len(key) >= 4:
        return text.replace(key, "***")
    return text
