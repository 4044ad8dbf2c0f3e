"""One export: read the runs, build, deduplicate, cap, split, write JSONL and the card.

The order matters and is fixed: candidates are built per run (difficulty quotas and
failure examples already applied), then deduplicated across all runs by normalised code,
then capped per lineage, then split; the card counts what each step dropped.

Memory is bounded by the output, not by the runs: a run is held as its compact index
(:mod:`~evoforge.export.index`), a candidate without its record
(:class:`~evoforge.export.example.Candidate`), and the records of the examples kept are
built again a batch at a time as they are written (:func:`~evoforge.export.formats.build_records`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoforge.atomic_files import remove_stale_staged_files, staged_file, write_text_atomically
from evoforge.export.card import CardData, render_card
from evoforge.export.counting import Count
from evoforge.export.example import Candidate
from evoforge.export.formats import DROP_REASONS, build_records, select_candidates
from evoforge.export.options import ExportError, ExportOptions
from evoforge.export.selection import cap_per_lineage
from evoforge.export.source import RunSource, load_run
from evoforge.export.splits import assign_splits, deduplicate
from evoforge.storage.db import storable_text
from evoforge.wording import quantity

__all__ = ["CARD_FILENAME", "SPLIT_FILES", "ExportResult", "export_runs"]

SPLIT_FILES = {"train": "train.jsonl", "validation": "validation.jsonl"}
CARD_FILENAME = "README.md"
_OWNED_FILES = {*SPLIT_FILES.values(), CARD_FILENAME}


@dataclass(frozen=True)
class ExportResult:
    """Counts per split, the files written (absolute paths) and the dropped candidates;
    ``running``: the runs (labels) that were still running, exported as far as they
    had got."""

    counts: dict[str, int]
    files: dict[str, Path]
    card: Path
    drops: dict[str, int]
    candidates: int
    running: tuple[str, ...] = ()


def _labels(run_dirs: Sequence[Path]) -> list[str]:
    """Each run's directory name, suffixed where two runs share one."""
    labels: list[str] = []
    seen: Counter[str] = Counter()
    for run_dir in run_dirs:
        name = storable_text(run_dir.resolve().name) or "run"
        seen[name] += 1
        labels.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return labels


def _check_runs(run_dirs: Sequence[Path]) -> None:
    """ExportError when no run is given, or one run twice (its examples would count
    twice in the card's sources)."""
    if not run_dirs:
        raise ExportError("give at least one run directory")
    seen: dict[Path, Path] = {}
    for run_dir in run_dirs:
        resolved = run_dir.resolve()
        if resolved in seen:
            raise ExportError(f"run {run_dir} is given twice (also as {seen[resolved]})")
        seen[resolved] = run_dir


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file, not a directory")
    if out.is_dir():
        for name in _OWNED_FILES:  # an export killed as it wrote left its staged files
            remove_stale_staged_files(out / name)
        foreign = sorted(entry.name for entry in out.iterdir() if entry.name not in _OWNED_FILES)
        if foreign:
            raise ExportError(
                f"--out {out} holds other files ({', '.join(foreign[:3])}); "
                "choose an empty or new directory"
            )


def export_runs(
    run_dirs: Sequence[Path],
    out: Path,
    options: ExportOptions,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export ``run_dirs`` in ``options.format`` to ``out``; ExportError on bad input (no
    run, a run given twice, an ``out`` holding other files) or when nothing is selected.
    A previous export in ``out`` is replaced. ``progress`` is told, in one line each,
    what the export turns to next (each run read, each run's examples, the writing),
    and while it reads a run and builds its examples, how far it has got (``reading run
    NAME (1/2): 5,000/50,000 programs``) about every hundredth of the way."""
    tell = progress or (lambda _line: None)
    _check_runs(run_dirs)
    _check_out(out)
    count = len(run_dirs)
    sources = []
    for number, (run_dir, label) in enumerate(zip(run_dirs, _labels(run_dirs), strict=True), 1):
        reading = f"reading run {label} ({number}/{count})"
        tell(reading)
        sources.append(load_run(run_dir, label, _counting(tell, reading, "programs")))
    drops: Counter[str] = Counter()
    candidates: list[Candidate] = []
    unit = "children" if options.format == "traces" else "parents"
    for number, source in enumerate(sources, 1):
        building = f"building {options.format} examples from {source.label} ({number}/{count})"
        tell(building)
        counting = _counting(tell, building, unit)
        candidates.extend(select_candidates(source, number - 1, options, drops, counting))
    tell(f"selecting among {len(candidates)} candidates")
    examples, duplicates = deduplicate(candidates)
    drops["duplicate"] += duplicates
    if options.format != "traces":
        examples, capped = cap_per_lineage(examples, options.per_lineage)
        drops["lineage_cap"] += capped
    splits = assign_splits(
        examples,
        options.validation,
        options.seed,
        {source.lineage_key(source.seed) for source in sources},
    )
    drops["split_boundary"] += splits.dropped
    by_split = {"train": splits.train, "validation": splits.validation}
    if not splits.train and not splits.validation:
        raise ExportError(
            f"no {options.format} examples selected from {quantity(len(sources), 'run')} "
            f"({len(candidates)} candidates); the runs may hold no improving children"
        )
    out.mkdir(parents=True, exist_ok=True)
    files = {split: out / filename for split, filename in SPLIT_FILES.items() if by_split[split]}
    written = [example for split in files for example in by_split[split]]
    card = CardData(
        format=options.format,
        options=options.as_dict(),
        sources=[_describe(source) for source in sources],
        counts={split: len(by_split[split]) for split in files},
        files={split: path.name for split, path in files.items()},
        drops=drops,
        drop_reasons=_drop_reasons(options),
        operators=Counter(example.operator for example in written),
        problems=Counter(example.problem for example in written),
        kinds=Counter(example.kind for example in written if example.kind is not None),
        candidates=len(candidates),
    )
    card_path = out / CARD_FILENAME
    tell(f"writing {len(written)} examples")
    records = {split: _records(sources, options, by_split[split]) for split in files}
    _replace_export(out, card_path, render_card(card), records, files)
    return ExportResult(
        counts=dict(card.counts),
        files=files,
        card=card_path,
        drops={reason: drops.get(reason, 0) for reason in card.drop_reasons},
        candidates=len(candidates),
        running=tuple(source.label for source in sources if source.running is not None),
    )


def _counting(tell: Callable[[str], None], doing: str, unit: str) -> Count:
    """A count that tells ``doing: done/total unit``."""
    return lambda done, total: tell(f"{doing}: {done:,}/{total:,} {unit}")


def _records(
    sources: Sequence[RunSource], options: ExportOptions, candidates: Sequence[Candidate]
) -> Iterator[dict[str, Any]]:
    """The records of ``candidates`` in their order, built as they are asked for."""
    for run, group in itertools.groupby(candidates, key=lambda candidate: candidate.run):
        yield from build_records(sources[run], options, group)


def _drop_reasons(options: ExportOptions) -> dict[str, str]:
    if options.format == "traces":
        skipped = {"quota", "unparsable", "lineage_cap"}
        return {key: text for key, text in DROP_REASONS.items() if key not in skipped}
    return dict(DROP_REASONS)


def _describe(source: RunSource) -> dict[str, Any]:
    scored = [node for node in source.index.nodes.values() if node.is_scored]
    best = max((float(node.score or 0.0) for node in scored), default=None)
    return {
        "run": source.label,
        "problem": source.problem,
        "programs": source.counts.get("programs", 0),
        "scored": source.counts.get("scored", 0),
        "seed_score": source.seed.score,
        "best_score": best,
        "running": source.running,
    }


_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
"""The characters other than ``\\n`` that ``str.splitlines`` ends a line at and JSON leaves
as they are (it escapes the control characters ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``
itself)."""


def json_line(record: Any) -> str:
    """``record`` as one line of JSON text: non-ASCII characters as they are, but NEL,
    LINE SEPARATOR and PARAGRAPH SEPARATOR as ``\\uNNNN`` escapes, so that a reader that
    splits the file with ``str.splitlines`` (rather than at ``\\n`` alone) still gets one
    record per line. They can only occur inside strings, so the record reads back equal."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False).translate(_LINE_BREAKS)


def _replace_export(
    out: Path,
    card_path: Path,
    card_text: str,
    records: Mapping[str, Iterable[dict[str, Any]]],
    files: Mapping[str, Path],
) -> None:
    """Put the new export in ``out`` in place of an earlier one, so that no moment leaves
    a card describing other data: the files are written aside first (``records``: each
    split's, one at a time as they come), the old card goes before any file is replaced,
    the new card comes last (an export without its card was stopped part way)."""
    with contextlib.ExitStack() as stack:
        put: list[Callable[[], None]] = []
        for split, path in files.items():
            handle, put_in_place = stack.enter_context(staged_file(path))
            for record in records[split]:
                handle.write(json_line(record) + "\n")
            put.append(put_in_place)
        card_path.unlink(missing_ok=True)
        for filename in SPLIT_FILES.values():
            if out / filename not in files.values():
                (out / filename).unlink(missing_ok=True)  # an earlier export's, now empty
        for put_in_place in put:
            put_in_place()
    write_text_atomically(card_path, card_text)
