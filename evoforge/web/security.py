"""Who may read a served run, and what a served page may do.

Candidate programs are hostile: their code, output and error messages are shown in the
pages. The pages therefore never build markup from data (the script sets text only) and
every answer carries a content security policy that allows scripts, styles and requests
from evoforge's own origin only: an injected ``<script>`` or ``onerror=`` attribute does
not run even if some text were ever parsed as markup. Bidirectional controls in that text
(a right-to-left override) are shown as their escapes, so code reads in the order it runs.

Access: bound to a loopback address the server needs no token, but it refuses requests
whose ``Host`` is not a loopback name (a web page elsewhere cannot reach it through DNS
rebinding). Bound to any other address it requires the token that ``evoforge serve``
prints, given once as ``?token=`` (then kept in a same-site, HTTP-only cookie) or as an
``Authorization: Bearer`` header. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

TOKEN_COOKIE = "evoforge_token"
TOKEN_PARAM = "token"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to bind) stays on this machine."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh unguessable access token (192 random bits, URL-safe)."""
    return secrets.token_urlsafe(24)


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def host_header_allowed(host_header: str | None) -> bool:
    """Whether a request's ``Host`` names a loopback address (with any port)."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return is_loopback(name)
