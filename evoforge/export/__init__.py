"""Training data distilled from runs: ``evoforge export``.

:func:`export_runs` reads run directories and writes ``train.jsonl``,
``validation.jsonl`` and a dataset card (``README.md``) in one of three formats (sft,
preference, traces); :class:`ExportOptions` says how examples are selected and split.
Only the standard library is needed to write them; the ``export`` extra adds Hugging
Face ``datasets`` to load them. The pipeline is imported on first use, so that the
command line's parser stays quick to build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evoforge.export.options import (
    DIFFICULTY_MODES,
    FORMATS,
    REASONING_MODES,
    ExportError,
    ExportOptions,
)

if TYPE_CHECKING:
    from evoforge.export.pipeline import ExportResult, export_runs

__all__ = [
    "DIFFICULTY_MODES",
    "FORMATS",
    "REASONING_MODES",
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "export_runs",
]


def __getattr__(name: str) -> Any:
    if name in ("ExportResult", "export_runs"):
        from evoforge.export import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
