"""A candidate in this process, with the channel's interface: for testing isolated evaluators.

An isolated problem's ``evaluate_candidate(candidate)`` talks to the candidate only through
:class:`~evoforge.evaluation.channel.EvaluatorEnd`. :class:`LocalCandidate` offers the same
calls (``candidate.name(...)``, ``call``, ``batch``, ``functions``) on a program imported
here, and sends every argument and result through the channel's encoding, so an evaluator
sees exactly the types it would see in a real evaluation. It gives **no isolation at
all**: use it to test a problem's evaluator quickly, never to score untrusted code.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from evoforge.evaluation.channel import CandidateError, decode, encode, error_record

__all__ = ["LocalCandidate"]


def _round_trip(value: object) -> object:
    return decode(encode(value))


class LocalCandidate:
    """The program at ``path`` (or given as ``code``), callable as an evaluator would call it."""

    def __init__(self, path: Path | str | None = None, *, code: str | None = None) -> None:
        name = f"_evoforge_local_candidate_{uuid.uuid4().hex}"
        module = ModuleType(name)
        if code is None:
            if path is None:
                raise ValueError("give a path or code")
            spec = importlib.util.spec_from_file_location(name, Path(path))
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module.__file__ = str(path or "program.py")
            exec(compile(code, module.__file__, "exec"), module.__dict__)
        self._module = module
        self.functions = tuple(
            key
            for key, value in vars(module).items()
            if not key.startswith("_")
            and callable(value)
            and getattr(value, "__module__", None) in (name, None)
        )
        self.broken: str | None = None
        self.calls = 0

    def __getattr__(self, name: str) -> Callable[..., object]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: object, **kwargs: object) -> object:
            return self.call(name, *args, **kwargs)

        return call

    def call(self, name: str, *args: object, **kwargs: object) -> object:
        """Call the program's function ``name`` with copies of the arguments."""
        self.calls += 1
        if name not in self.functions:
            raise CandidateError("AttributeError", f"the program defines no function {name!r}")
        function = getattr(self._module, name)
        sent_args = _round_trip(args)
        sent_kwargs = _round_trip(kwargs)
        assert isinstance(sent_args, tuple) and isinstance(sent_kwargs, dict)
        try:
            result = function(*sent_args, **sent_kwargs)
        except Exception as exc:
            record = error_record(exc)
            raise CandidateError(
                record["type"], record["message"], record["traceback_tail"]
            ) from None
        return _round_trip(result)

    def batch(self, name: str, calls: Sequence[Sequence[object]]) -> list[object]:
        """``[self.call(name, *args) for args in calls]``."""
        return [self.call(name, *args) for args in calls]
