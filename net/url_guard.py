"""Which addresses an image URL may make us connect to (the server's guard against SSRF).

A server that fetches URLs for strangers must not become their way into its own network: every host
is resolved here, every address checked, and the caller connects to the checked address itself, so a
second DNS answer (rebinding) cannot slip another address in.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..pipeline.errors import BadInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Special-purpose ranges (IANA registries), listed so that no Python version's is_global can let one through.
_NOT_PUBLIC = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4", "::/127", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
    "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"))
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}\.?\Z){_LABEL}(?:\.{_LABEL})*\.?\Z")


@dataclass(frozen=True)
class AddressPolicy:
    """allow_private: any address at all (loopback, private ranges...), for a server used on one's own
    machine (--allow-private-urls). allowed_networks: these networks besides public addresses
    (--allow-url-network, e.g. one internal image host)."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    refusal_hint: str = ""  # how the user can allow more, appended to a refusal

    def allows(self, address: IPAddress) -> bool:
        if self.allow_private or any(address in net for net in self.allowed_networks
                                     if net.version == address.version):
            return True
        return is_public(address)


PUBLIC_ONLY = AddressPolicy()
ANY_ADDRESS = AddressPolicy(allow_private=True)
ENV_ALLOW_PRIVATE_URLS = "FACESWAP_V3_ALLOW_PRIVATE_URLS"
PRIVATE_URLS_HINT = (f"set the environment variable {ENV_ALLOW_PRIVATE_URLS}=1 before starting ComfyUI to allow "
                     "loopback and private-network addresses")


def user_url_policy() -> AddressPolicy:
    """The guard for URLs inside ComfyUI (Load Face, the hosted-API client), where workflows come from
    strangers: public addresses only, unless the user set FACESWAP_V3_ALLOW_PRIVATE_URLS=1."""
    allowed = os.environ.get(ENV_ALLOW_PRIVATE_URLS, "").strip().lower() in ("1", "true", "yes")
    return ANY_ADDRESS if allowed else AddressPolicy(refusal_hint=PRIVATE_URLS_HINT)


def is_public(address: IPAddress) -> bool:
    """A globally reachable unicast address, also judging the IPv4 address inside mapped, 6to4 and
    NAT64 IPv6 forms."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public(embedded):
            return False
        if address.teredo is not None or address.is_site_local:
            return False
    if any(address in net for net in _NOT_PUBLIC if net.version == address.version):
        return False
    return address.is_global and not (address.is_multicast or address.is_unspecified or address.is_reserved
                                      or address.is_loopback or address.is_link_local or address.is_private)


Origin = tuple[str, str, int]  # (scheme, host, port), the port always explicit


@dataclass(frozen=True)
class Target:
    """One URL split for a pinned connection: connect to address, say host in Host and TLS SNI."""

    url: str
    scheme: str
    host: str
    port: int

    @property
    def origin(self) -> Origin:
        return self.scheme, self.host, self.port


def parse_url(url: str, what: str = "image URL") -> Target:
    """Split an http(s) URL; BadInput for anything malformed, another scheme, or a user@host form."""
    text = url.strip()
    shown = quoted_url(text)
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
        userinfo = parts.username is not None or parts.password is not None
    except (ValueError, UnicodeError):
        raise BadInput(f"{what} is not a valid URL: {shown}") from None
    if scheme not in ("http", "https"):
        raise BadInput(f"{what}: only http(s) URLs are accepted, got {shown}")
    if userinfo:
        raise BadInput(f"{what}: URLs with a user name or password (user@host) are not accepted")
    if not host or not (_is_ip(host) or _is_host_name(host)):
        raise BadInput(f"{what} is not a valid URL (bad host name): {shown}")
    return Target(text, scheme, host, port or (443 if scheme == "https" else 80))


def origin(url: str, what: str = "URL") -> Origin:
    """(scheme, lower-case host, port) of an http(s) URL: the one way the pack compares origins (the
    server's own addresses, the API key's origins); BadInput as parse_url."""
    return parse_url(url, what).origin


def resolve_allowed(target: Target, policy: AddressPolicy, what: str = "image URL") -> IPAddress:
    """The address to connect to: every address the host resolves to must be allowed (one refused
    address refuses the host), so no answer can point us inward."""
    refused = f"could not fetch {quoted_url(target.url)}: " + (
        f"only public addresses are fetched; {policy.refusal_hint}" if policy.refusal_hint
        else "this server fetches images from public addresses only")
    literal = target.host.replace("%25", "%").split("%", 1)[0]
    if _is_ip(literal) and not policy.allows(ipaddress.ip_address(literal)):
        raise BadInput(refused)
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        raise BadInput(f"could not fetch {quoted_url(target.url)}: the host name does not resolve") from None
    addresses = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses or not all(policy.allows(a) for a in addresses):
        raise BadInput(refused)
    return addresses[0]


def _is_host_name(host: str) -> bool:
    try:
        ascii_name = host.encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError):
        return False
    return _HOST_NAME.match(ascii_name) is not None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def quoted_url(url: str) -> str:
    """The URL as quoted in an error: one printable line, at most 200 characters."""
    text = "".join(ch if ch.isprintable() else "?" for ch in " ".join(url.split()))
    return text if len(text) <= 200 else text[:200] + "..."
