"""Which addresses the server may fetch image URLs from. Pure checks: nothing here connects anywhere
(IP literals and `localhost` resolve without the network)."""

from __future__ import annotations

import ipaddress

import pytest

from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.net.url_guard import (ANY_ADDRESS, PUBLIC_ONLY, AddressPolicy, is_public, parse_url,
                                            resolve_allowed)

NOT_PUBLIC = [
    "127.0.0.1", "127.255.0.9", "0.0.0.0", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "100.127.255.254", "192.0.0.8", "198.18.0.1", "224.0.0.1", "255.255.255.255", "240.0.0.1",
    "::1", "::", "fd00::1", "fc00::5", "fe80::1", "fec0::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "::ffff:169.254.169.254", "2002:7f00:1::1", "2002:a00:1::1", "64:ff9b::a00:1", "64:ff9b::7f00:1",
    "2001:db8::1", "2001::1",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address):
    assert not is_public(ipaddress.ip_address(address))
    assert not PUBLIC_ONLY.allows(ipaddress.ip_address(address))
    assert ANY_ADDRESS.allows(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert is_public(ipaddress.ip_address(address))


def test_an_allowed_network_lets_only_that_network_in():
    policy = AddressPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.2/32"),))
    assert policy.allows(ipaddress.ip_address("127.0.0.2"))
    assert not policy.allows(ipaddress.ip_address("127.0.0.1"))
    assert not policy.allows(ipaddress.ip_address("::1"))


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x.jpg", "http://localhost:8080/x.jpg", "http://[::1]/x.jpg", "http://2130706433/x.jpg",
    "http://0x7f.1/x.jpg", "http://127.1/x.jpg", "http://0177.0.0.1/x.jpg", "http://[::ffff:127.0.0.1]/x.jpg",
    "http://169.254.169.254/latest/meta-data/", "http://[fd00::1]/x.jpg", "http://100.64.1.1/x.jpg",
    "http://[fe80::1%25eth0]/x.jpg", "http://0.0.0.0:22/", "https://10.0.0.8/x.png",
])
def test_every_spelling_of_an_inner_address_is_refused_before_connecting(url):
    with pytest.raises(BadInput) as info:
        resolve_allowed(parse_url(url), PUBLIC_ONLY)
    assert str(info.value).endswith("this server fetches images from public addresses only")


@pytest.mark.parametrize("url, reason", [
    ("http://a..b/x.jpg", "bad host name"), ("http://[::1", "is not a valid URL"),
    ("http://ex\x00ample.com/x.jpg", "bad host name"), ("http://exa mple.com/x.jpg", "bad host name"),
    ("http://example.com:99999/x.jpg", "is not a valid URL"), ("http://" + "a" * 70 + ".com/x.jpg", "bad host name"),
    ("ftp://example.com/x.jpg", "only http(s) URLs"), ("file:///etc/passwd", "only http(s) URLs"),
    ("http://user:secret@example.com/x.jpg", "user name or password"),
    ("http://example.com@127.0.0.1/x.jpg", "user name or password"),
])
def test_malformed_urls_are_bad_input(url, reason):
    with pytest.raises(BadInput) as info:
        parse_url(url, "source_img")
    message = str(info.value)
    assert message.startswith("source_img") and reason in message and "secret" not in message
