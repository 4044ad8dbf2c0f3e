"""Keeping secrets, machine paths and evaluator internals out of exported text.

A run database holds text that was never meant to leave the machine: tracebacks whose
frames point into the problem's ``evaluator.py`` (and quote its source lines), temporary
sandbox paths, the user's home directory, and whatever a program or a model printed. A
:class:`Scrubber` is built once per run and cleans every free-text field:

* traceback frames outside the candidate program are removed with their quoted source
  lines (the exception line itself stays: it is the feedback the evaluator meant to give);
* a line that quotes a line of a private problem file (the evaluator, data files: any
  file but ``initial_program.py`` and ``README.md``) and appears in no program of the run
  is removed;
* secrets (API keys, tokens, private keys, ``password=...``, the values of the current
  environment's ``*KEY*``/``*TOKEN*``/``*SECRET*``/``*PASSWORD*`` variables) become
  ``<redacted>``;
* URLs become ``<url>`` and absolute paths keep only their last component.

Code is never edited: a field that carries a program is checked with :meth:`Scrubber.is_clean`
and the example is dropped when the program itself holds something sensitive.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

__all__ = ["PROGRAM_FILES", "Scrubber"]

#: problem files whose text a model is meant to see; every other file is private
PROGRAM_FILES = frozenset({"initial_program.py", "README.md"})
_CANDIDATE_FILES = frozenset({"program.py", "initial_program.py", "<string>"})
_MIN_INTERNAL_LINE = 16
_SECRET_ENV_RE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.I)
_SECRET_PATTERNS = (
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
    ),
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{12,}=*"),
)
_SECRET_NEEDLES: tuple[tuple[str, ...], ...] = (
    ("-----BEGIN ",),
    ("sk-", "pk-", "rk-"),
    ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ("github_pat_",),
    ("xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-"),
    ("AKIA",),
    ("AIza",),
    ("hf_",),
    ("eyJ",),
    ("bearer",),  # sought in the folded text: the pattern ignores case
)
"""For each of :data:`_SECRET_PATTERNS`, text that any match holds (one of them): a text
holding none is skipped without running the pattern, whose leading ``\\b`` makes the
regex engine try every position of the text (a millisecond or more per kilobyte-long
program, tens for a model's prompt; an export scrubs thousands of them)."""
# ``password = "..."``, ``api_key: sk...``, ``token=abc123``: the value is redacted when
# it is quoted, or bare and not code (a call, an index or an attribute chain such as
# ``token_count = len(x)``, ``tokens = text.split()``, ``token = self.token``)
_ASSIGNED_SECRET_RE = re.compile(
    r"(?i)\b(\w*(?:api[_-]?key|secret|token|password|passwd)\w*)(\s*[=:]\s*)"
    r"(?:(['\"])([^\s'\"]{6,})\3|([^\s'\"()\[\],;]{6,})(?![(\[\w]))"
)
_ASSIGNED_SECRET_NEEDLES = ("api_key", "api-key", "apikey", "secret", "token", "password", "passwd")
"""Text one of which (in the folded text) any match of :data:`_ASSIGNED_SECRET_RE` holds."""
_DOTTED_NAME_RE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]{}`]+")
# an absolute path: two directories or more (``/srv/runs/``), or a directory and a name
# (``/home/carol``); not one word between two slashes (``(a + b) /scale/ 2`` is code)
_POSIX_PATH_RE = re.compile(
    r"(?<![\w.:/\\~-])(?:~/|/)(?:(?:[\w.@+%-]+/){2,}([\w.@+%-]*)|[\w.@+%-]+/([\w.@+%-]+))"
)
_WINDOWS_PATH_RE = re.compile(r"\b[A-Za-z]:\\(?:[^\\\s'\"<>|:*?]+\\)+([^\\\s'\"<>|:*?]*)")
_FRAME_RE = re.compile(r'^(?P<indent>[ \t]*)File "(?P<file>[^"]+)", line \d+')
_CARET_RE = re.compile(r"^[ \t]*[\^~]+[ \t]*$")
_PATH_NEEDLE_RE = re.compile(r"/[\w.@+%-]+/")
"""What every match of :data:`_POSIX_PATH_RE` holds (a name between two slashes), found
by a scan for ``/`` rather than a look-behind tried at every position."""


def _folded(text: str) -> str:
    """``text`` as the needles of an ignore-case pattern are sought in: case-folded, with
    the two letters that ``re.IGNORECASE`` also takes for ``i`` (dotted capital I,
    dotless i) made ``i`` first, so that a text a pattern matches always holds one of
    its needles."""
    return text.replace("\u0130", "i").replace("\u0131", "i").casefold()


def _holds_any(text: str, needles: Iterable[str]) -> bool:
    return any(needle in text for needle in needles)


def _redact_assigned(match: re.Match[str]) -> str:
    name, separator, quote, _quoted, bare = match.groups()
    if quote:
        return f"{name}{separator}{quote}<redacted>{quote}"
    if _DOTTED_NAME_RE.fullmatch(bare):
        return match.group(0)  # an attribute chain: code, not a value
    return f"{name}{separator}<redacted>"


class Scrubber:
    """Cleans free text of one run (see the module docstring for the rules).

    ``program_codes`` is iterated once, always to its end, and none of it is kept: a
    private line that some program holds is no secret."""

    def __init__(
        self,
        *,
        problem_files: Mapping[str, bytes],
        program_codes: Iterable[str],
        environment: Mapping[str, str] | None = None,
        known_paths: Iterable[str] = (),
    ) -> None:
        shown: set[str] = set()
        for name in PROGRAM_FILES:
            shown.update(_lines(problem_files.get(name, b"")))
        internal: set[str] = set()
        for name, content in problem_files.items():
            if name in PROGRAM_FILES:
                continue
            internal.update(
                line
                for line in _lines(content)
                if len(line) >= _MIN_INTERNAL_LINE and line not in shown
            )
        # ``program_codes`` is read once, to its end, keeping nothing of it but which
        # private lines some program also holds (a run's codes may not fit in memory)
        for code in program_codes:
            if internal:
                internal.difference_update(line.strip() for line in code.splitlines())
        self._internal_lines = frozenset(internal)
        env = os.environ if environment is None else environment
        values = {
            value
            for name, value in env.items()
            if _SECRET_ENV_RE.search(name) and len(value.strip()) >= 8
        }
        self._secret_values = sorted(values, key=len, reverse=True)
        self._known_paths = sorted(
            {path.rstrip("/") for path in known_paths if len(path.rstrip("/")) > 1},
            key=len,
            reverse=True,
        )

    def scrub(self, text: str) -> str:
        """``text`` without secrets, machine paths, URLs and evaluator internals.

        Each pattern runs only on text that holds what all its matches hold (its
        needles), so ordinary code and prompts cost a few substring searches."""
        if not text:
            return text
        text = self._drop_foreign_frames(text)
        if self._internal_lines:
            kept = [
                line
                for line in text.splitlines(keepends=True)
                if line.strip() not in self._internal_lines
            ]
            text = "".join(kept)
        for value in self._secret_values:
            text = text.replace(value, "<redacted>")
        folded = _folded(text)
        for pattern, needles in zip(_SECRET_PATTERNS, _SECRET_NEEDLES, strict=True):
            if _holds_any(folded if pattern.flags & re.IGNORECASE else text, needles):
                redacted = pattern.sub("<redacted>", text)
                if redacted != text:
                    text, folded = redacted, _folded(redacted)
        if _holds_any(folded, _ASSIGNED_SECRET_NEEDLES):
            text = _ASSIGNED_SECRET_RE.sub(_redact_assigned, text)
        if "://" in text:
            text = _URL_RE.sub("<url>", text)
        for path in self._known_paths:
            if path in text:
                text = re.sub(re.escape(path) + r"(?![\w.@+%-])/?", "", text)
        if _PATH_NEEDLE_RE.search(text):
            text = _POSIX_PATH_RE.sub(lambda match: match.group(1) or match.group(2) or "", text)
        if ":\\" in text:
            text = _WINDOWS_PATH_RE.sub(lambda match: match.group(1), text)
        return text

    def is_clean(self, text: str) -> bool:
        """Whether scrubbing would leave ``text`` unchanged (for fields that hold code)."""
        return self.scrub(text) == text

    @staticmethod
    def _drop_foreign_frames(text: str) -> str:
        """Remove traceback frames of files other than the candidate program, with the
        source line and caret line the traceback quotes under each."""
        if 'File "' not in text:
            return text
        lines = text.splitlines(keepends=True)
        kept: list[str] = []
        skipping_indent: int | None = None
        for line in lines:
            if skipping_indent is not None:
                indent = len(line) - len(line.lstrip())
                if line.strip() and (indent > skipping_indent or _CARET_RE.match(line)):
                    continue
                skipping_indent = None
            match = _FRAME_RE.match(line)
            if match is not None:
                name = re.split(r"[\\/]", match["file"])[-1]
                if name not in _CANDIDATE_FILES:
                    skipping_indent = len(match["indent"])
                    continue
            kept.append(line)
        return "".join(kept)


def _lines(content: bytes) -> set[str]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return set()
    return {line.strip() for line in text.splitlines() if line.strip()}
