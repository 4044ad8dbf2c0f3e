"""Which environment variables untrusted code may see: an allow-list, not a deny-list.

A deny-list of secret-looking names always misses one (``MYSQL_PWD``, ``SSHPASS``,
``SMTP_PASS``, a DSN with a password in ``DATABASE_URL``). So a sandboxed process gets only
the variables a program needs to run (``PATH``, locale and time zone, terminal type) plus
the names the user allows explicitly (``evaluator.pass_env``), and even those are dropped
when the name looks like a secret or the value carries a password. Everything else of the
parent's environment, API keys included, never reaches a candidate.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

__all__ = ["BASE_ALLOWED", "looks_secret", "sanitized_environment"]

BASE_ALLOWED = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "TERM", "LC_ALL"})
"""Variables every sandboxed process may inherit (plus every ``LC_*`` locale variable)."""

_SECRET_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASS|PWD|CREDENTIAL|AUTH|PRIVATE|COOKIE|SESSION|SIGNATURE|CERT|DSN",
    re.IGNORECASE,
)
_VALUE_WITH_PASSWORD = re.compile(
    r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]*:[^/@\s]+@"  # scheme://user:pass@host
    r"|(?:^|[\s;])(?:password|passwd|pwd)\s*=",  # key=value DSNs: "host=db password=..."
    re.IGNORECASE,
)
_PINNED = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def looks_secret(name: str, value: str = "") -> bool:
    """True when a variable must never reach untrusted code, allowed or not."""
    return bool(_SECRET_NAME.search(name) or _VALUE_WITH_PASSWORD.search(value))


def sanitized_environment(
    base: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
    allow: Iterable[str] = (),
) -> dict[str, str]:
    """The environment a sandboxed process gets.

    From ``base`` (default ``os.environ``) only :data:`BASE_ALLOWED`, ``LC_*`` and the names
    in ``allow`` pass, and none that :func:`looks_secret`. BLAS/OpenMP are pinned to one
    thread and bytecode writing is off. ``extra`` is applied last, unfiltered: the sandbox's
    own settings (``HOME``, ``TMPDIR``, the run marker).
    """
    source = os.environ if base is None else base
    allowed = BASE_ALLOWED | set(allow)
    env: dict[str, str] = {}
    for name in source:  # the names first: os.environ decodes each value it is asked for
        if name in allowed or name.startswith("LC_"):
            value = source[name]
            if not looks_secret(name, value):
                env[name] = value
    env.update(_PINNED)
    if extra:
        env.update(extra)
    return env
