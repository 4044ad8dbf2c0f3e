"""Access rules of the web view, and ``evoforge serve`` on a non-loopback address."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from evoforge.web.security import host_header_allowed, is_loopback, new_token, token_matches

from .support import Server


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.org", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("127.0.0.1:8000", True),
        ("localhost:1234", True),
        ("localhost", True),
        ("[::1]:8000", True),
        ("LOCALHOST:80", True),
        ("attacker.example:8000", False),
        ("127.0.0.1.attacker.example", False),
        ("", False),
        (None, False),
    ],
)
def test_host_header_check(header: str | None, allowed: bool) -> None:
    assert host_header_allowed(header) is allowed


def test_tokens_are_fresh_and_compared_exactly() -> None:
    token = new_token()
    assert len(token) >= 32 and token != new_token()
    assert token_matches(token, token)
    assert not token_matches(token[:-1], token)
    assert not token_matches("", token)
    assert not token_matches(None, token)


def test_serving_all_interfaces_prints_and_requires_a_token(small_run: Path) -> None:
    served = Server(str(small_run), "--host", "0.0.0.0")
    try:
        parts = urlsplit(served.url)
        token = parse_qs(parts.query)["token"][0]
        assert "keep it private" in "".join(served.output)
        base = f"http://127.0.0.1:{parts.port}"
        assert httpx.get(f"{base}/api/runs", timeout=30).status_code == 401
        bad = httpx.get(f"{base}/api/runs", params={"token": token + "x"}, timeout=30)
        assert bad.status_code == 401
        good = httpx.get(f"{base}/api/runs", params={"token": token}, timeout=30)
        assert good.status_code == 200
        assert good.json()[0]["programs"] == 61
    finally:
        served.stop()


def test_loopback_server_prints_a_url_without_token(small_run: Path) -> None:
    served = Server(str(small_run))
    try:
        assert served.url.startswith("http://127.0.0.1:")
        assert "token" not in served.url
        assert httpx.get(served.url + "api/runs", timeout=30).status_code == 200
    finally:
        served.stop()
