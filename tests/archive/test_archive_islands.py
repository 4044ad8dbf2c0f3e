"""Archive of islands: global elites, migration ring, parent and inspiration sampling."""

from __future__ import annotations

import numpy as np
import pytest

from evoforge.archive import sampling
from evoforge.archive.islands import Archive
from evoforge.archive.map_elites import order_key
from evoforge.config import ArchiveConfig, FeatureConfig, InspirationConfig
from evoforge.program import InsertStatus, Program

FEATURES = [
    FeatureConfig(name="a", bins=10, range=(0.0, 10.0)),
    FeatureConfig(name="b", bins=10, range=(0.0, 10.0)),
]


def config(**overrides: object) -> ArchiveConfig:
    values: dict[str, object] = {"num_islands": 3, "features": FEATURES, "elite_size": 5}
    values.update(overrides)
    return ArchiveConfig.model_validate(values)


def prog(pid: str, score: float, seq: int, a: float, b: float) -> Program:
    return Program(
        id=pid, code=f"x = {pid!r}", code_hash=pid, seq=seq, score=score, features={"a": a, "b": b}
    )


def filled(archive: Archive, island: int, n: int, start_seq: int = 0) -> list[Program]:
    programs = [
        prog(f"i{island}-{k}", float(k), start_seq + k, float(k % 10), float(k // 10))
        for k in range(n)
    ]
    for program in programs:
        archive.insert(program, island)
    return programs


def test_insert_sets_island_and_tracks_best_and_global_elites() -> None:
    archive = Archive(config())
    assert archive.best() is None
    outcome = archive.insert(prog("a", 1.0, 1, 1, 1), 2)
    assert outcome.island == 2 and outcome.status is InsertStatus.NEW_CELL
    filled(archive, 0, 20, start_seq=10)
    best = archive.best()
    assert best is not None and best.id == "i0-19"
    elites = archive.global_elites()
    assert [p.score for p in elites] == [19.0, 18.0, 17.0, 16.0, 15.0]
    assert set(archive.programs_by_id) >= {p.id for p in elites}


def test_global_elite_ties_go_to_earlier_seq() -> None:
    archive = Archive(config(elite_size=1))
    archive.insert(prog("late", 1.0, 9, 1, 1), 0)
    archive.insert(prog("early", 1.0, 2, 5, 5), 1)
    best = archive.best()
    assert best is not None and best.id == "early"


def test_programs_by_id_forgets_programs_that_left_everywhere() -> None:
    archive = Archive(config(elite_size=1))
    archive.insert(prog("old", 1.0, 1, 1, 1), 0)
    archive.insert(prog("top", 9.0, 2, 8, 8), 0)
    archive.insert(prog("new", 2.0, 3, 1.5, 1.5), 0)  # replaces "old" in its cell
    assert "old" not in archive.programs_by_id
    assert {"top", "new"} <= set(archive.programs_by_id)


def test_best_survives_eviction_from_its_grid() -> None:
    adaptive = [FeatureConfig(name="a", bins=2), FeatureConfig(name="b", bins=1)]
    archive = Archive(config(features=adaptive, num_islands=1, elite_size=2))
    archive.insert(prog("best", 10.0, 1, 0.0, 0), 0)
    archive.insert(prog("other", 11.0, 2, 1.0, 0), 0)
    archive.insert(prog("far", 0.0, 3, 1000.0, 0), 0)  # re-bin: "best" collides with "other"
    assert "best" not in {p.id for p in archive.elites(0)}
    assert [p.id for p in archive.global_elites()] == ["other", "best"]
    assert "best" in archive.programs_by_id


def three_tiers(archive: Archive) -> None:
    """On each island i: w{i} (score 1, cell (1, 1)), m{i} (2, (5, 5)), t{i} (3, (9, 9))."""
    for island in range(archive.num_islands):
        archive.insert(prog(f"w{island}", 1.0, 10 * island, 1, 1), island)
        archive.insert(prog(f"m{island}", 2.0, 10 * island + 1, 5, 5), island)
        archive.insert(prog(f"t{island}", 3.0, 10 * island + 2, 9, 9), island)


def test_ring_migration_moves_top_elites_one_step() -> None:
    archive = Archive(config(migration_count=2, neutral_drift=False))
    three_tiers(archive)
    moved = archive.migrate(np.random.default_rng(0))
    assert [(p.id, source, dest) for p, source, dest in moved] == [
        ("t0", 0, 1),
        ("m0", 0, 1),
        ("t1", 1, 2),
        ("m1", 1, 2),
        ("t2", 2, 0),
        ("m2", 2, 0),
    ]
    # Cells (9, 9) and (5, 5) collide: without neutral drift the ties keep the incumbents.
    assert {p.id for p in archive.elites(1)} == {"w1", "m1", "t1"}
    # A better migrant takes over.
    archive.insert(prog("star", 99.0, 50, 0, 9), 0)
    archive.migrate(np.random.default_rng(0))
    assert "star" in {p.id for p in archive.elites(1)}


def test_neutral_drift_reaches_the_grids_and_lets_tied_migrants_in() -> None:
    archive = Archive(config(migration_count=2, neutral_drift=True))
    three_tiers(archive)
    tie = archive.insert(prog("t0-twin", 3.0, 40, 9, 9), 0)
    assert tie.status is InsertStatus.TIED and tie.island == 0
    assert "t0" not in {p.id for p in archive.elites(0)}
    archive.migrate(np.random.default_rng(0))
    # the migrants tie the occupants of cells (9, 9) and (5, 5) and are no larger
    assert {p.id for p in archive.elites(1)} == {"w1", "m0", "t0-twin"}


def test_migration_skips_identical_programs_and_single_island() -> None:
    archive = Archive(config(num_islands=2, migration_count=1))
    shared = prog("s", 5.0, 1, 3, 3)
    archive.insert(shared, 0)
    archive.insert(shared, 1)
    assert archive.migrate(np.random.default_rng(0)) == []
    single = Archive(config(num_islands=1))
    single.insert(shared, 0)
    assert single.migrate(np.random.default_rng(0)) == []


def test_replaying_migration_moves_rebuilds_the_same_archive() -> None:
    original = Archive(config(migration_count=2))
    replay = Archive(config(migration_count=2))
    for island in range(3):
        filled(original, island, 15, start_seq=100 * island)
        filled(replay, island, 15, start_seq=100 * island)
    moved = original.migrate(np.random.default_rng(0))
    for program, _, destination in moved:
        replay.insert(program, destination)
    for island in range(3):
        assert [p.id for p in original.elites(island)] == [p.id for p in replay.elites(island)]
    assert original.summary() == replay.summary()


def test_sample_parent_is_deterministic_and_follows_rates() -> None:
    archive = Archive(config())
    programs = filled(archive, 0, 50)
    a = [archive.sample_parent(0, np.random.default_rng(7)).id for _ in range(5)]
    b = [archive.sample_parent(0, np.random.default_rng(7)).id for _ in range(5)]
    assert a == b
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    seq_a = [archive.sample_parent(0, rng_a).id for _ in range(50)]
    seq_b = [archive.sample_parent(0, rng_b).id for _ in range(50)]
    assert seq_a == seq_b

    # Pure exploration is uniform over occupied cells; pure exploitation favours the best.
    explore = Archive(config(exploitation_rate=0, exploration_rate=1, tournament_rate=0))
    exploit = Archive(config(exploitation_rate=1, exploration_rate=0, tournament_rate=0))
    for program in programs:
        explore.insert(program, 0)
        exploit.insert(program, 0)
    rng = np.random.default_rng(11)
    draws = 4000
    explore_best = sum(explore.sample_parent(0, rng).id == "i0-49" for _ in range(draws))
    exploit_best = sum(exploit.sample_parent(0, rng).id == "i0-49" for _ in range(draws))
    assert explore_best / draws == pytest.approx(1 / 50, abs=0.01)
    harmonic = sum(1 / k for k in range(1, 51))
    assert exploit_best / draws == pytest.approx(1 / harmonic, abs=0.03)


def test_sample_parent_falls_back_to_global_elites() -> None:
    archive = Archive(config())
    archive.insert(prog("only", 1.0, 0, 1, 1), 0)
    parent = archive.sample_parent(2, np.random.default_rng(0))
    assert parent.id == "only"
    with pytest.raises(LookupError):
        Archive(config()).sample_parent(0, np.random.default_rng(0))


def test_negative_scores_are_fine() -> None:
    archive = Archive(config())
    for k in range(10):
        archive.insert(prog(f"n{k}", -1e6 * (k + 1), k, k, 0), 0)
    rng = np.random.default_rng(0)
    picks = [archive.sample_parent(0, rng).id for _ in range(500)]
    assert picks.count("n0") > picks.count("n9")


@pytest.mark.parametrize("policy", ["top", "diverse", "neighbours", "mixed"])
def test_inspirations_exclude_parent_and_duplicates(policy: str) -> None:
    archive = Archive(config(inspirations=InspirationConfig(policy="mixed", count=3)))
    filled(archive, 0, 40)
    rng = np.random.default_rng(5)
    for _ in range(30):
        parent = archive.sample_parent(0, rng)
        chosen = archive.sample_inspirations(parent, 0, rng, 6, policy)  # type: ignore[arg-type]
        ids = [p.id for p in chosen]
        assert parent.id not in ids
        assert len(ids) == len(set(ids)) == 6
    default = archive.sample_inspirations(archive.elites(0)[0], 0, rng)
    assert len(default) == 3


def test_inspiration_policies_pick_what_they_promise() -> None:
    archive = Archive(config())
    filled(archive, 0, 100)  # one program per cell of the 10x10 grid, score = 10*b + a
    parent = prog("i0-0", 0.0, 0, 0.0, 0.0)
    rng = np.random.default_rng(1)
    top = archive.sample_inspirations(parent, 0, rng, 3, "top")
    assert [p.id for p in top] == ["i0-99", "i0-98", "i0-97"]
    near = archive.sample_inspirations(parent, 0, rng, 3, "neighbours")
    assert {p.id for p in near} == {"i0-1", "i0-10", "i0-11"}
    far_distances: list[int] = []
    for _ in range(20):
        far = archive.sample_inspirations(parent, 0, rng, 3, "diverse")
        cells = {archive.grid(0).cell_of(p) for p in far}
        assert len(cells) == 3
        far_distances.extend(max(cell) for cell in cells)
    assert np.mean(far_distances) > 5.0


def test_inspirations_top_up_from_global_elites() -> None:
    archive = Archive(config())
    filled(archive, 0, 10)
    lonely = prog("lonely", 0.5, 100, 3, 3)
    archive.insert(lonely, 1)
    chosen = archive.sample_inspirations(lonely, 1, np.random.default_rng(0), 2, "top")
    assert [p.id for p in chosen] == ["i0-9", "i0-8"]


def test_summary_and_feature_reference() -> None:
    archive = Archive(config(), reference_size=4)
    filled(archive, 0, 12)
    rows = archive.summary()
    assert [row["island"] for row in rows] == [0, 1, 2]
    assert rows[0]["cells"] == 12 and rows[0]["size"] == 12 and rows[0]["best_score"] == 11.0
    assert rows[1]["cells"] == 0 and rows[1]["best_score"] is None
    reference = archive.features_reference(0)
    assert [p.score for p in reference] == [11.0, 10.0, 9.0, 8.0]
    assert [p.score for p in archive.features_reference(1)] == [11.0, 10.0, 9.0, 8.0]


def test_compute_features_uses_island_reference() -> None:
    cfg = config(features=[FeatureConfig(name="diversity", range=(0.0, 1.0))])
    archive = Archive(cfg)
    assert archive.compute_features("y = 1", {}, 1.0, 0) == {"diversity": 0.0}
    archive.insert(
        Program(id="e", code="y = 1", code_hash="e", score=1.0, features={"diversity": 0.0}), 0
    )
    assert archive.compute_features("z = 2", {}, 1.0, 0)["diversity"] > 0.5


def test_ten_thousand_inserts_with_adaptive_ranges() -> None:
    cfg = config(
        num_islands=4,
        features=[FeatureConfig(name="a", bins=20), FeatureConfig(name="b", bins=20)],
        elite_size=20,
    )
    archive = Archive(cfg)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(10_000, 3)).cumsum(axis=0)
    for seq, (a, b, score) in enumerate(values):
        archive.insert(prog(f"p{seq}", float(score), seq, float(a), float(b)), seq % 4)
        if seq % 100 == 0:
            archive.sample_parent(seq % 4, rng)
    best = archive.best()
    assert best is not None and best.score == pytest.approx(values[:, 2].max())
    assert all(0 < row["cells"] <= 400 for row in archive.summary())
    assert len(archive.global_elites()) == 20


def _reference_parent(archive: Archive, island: int, rng: np.random.Generator) -> Program:
    """Parent selection recomputed from scratch, as it was before the archive kept its
    per-island views."""
    candidates = archive.elites(island) or sorted(archive.global_elites(), key=order_key)
    settings = archive.config
    rates = (settings.exploitation_rate, settings.exploration_rate, settings.tournament_rate)
    return sampling.select_parent(candidates, rates, settings.tournament_size, rng)[0]


def _reference_inspirations(
    archive: Archive, parent: Program, island: int, rng: np.random.Generator, count: int
) -> list[Program]:
    grid = archive.grid(island)
    seen_ids, seen_hashes = {parent.id}, {parent.code_hash}
    pool: list[Program] = []
    cells: list[tuple[int, ...]] = []

    def add(program: Program, cell: tuple[int, ...] | None) -> None:
        if program.id in seen_ids or program.code_hash in seen_hashes:
            return
        seen_ids.add(program.id)
        seen_hashes.add(program.code_hash)
        pool.append(program)
        cells.append(grid.cell_of(program) if cell is None else cell)

    for cell, program in grid.entries():
        add(program, cell)
    if len(pool) < count:
        for program in sorted(archive.global_elites(), key=order_key):
            add(program, None)
    parent_cell = grid.cell_of(parent)
    chosen: list[Program] = []
    for name, quota in zip(
        ("top", "diverse", "neighbours"), sampling.mixed_quotas(count), strict=True
    ):
        kept = [i for i, p in enumerate(pool) if p.id not in {c.id for c in chosen}]
        candidates, kept_cells = [pool[i] for i in kept], [cells[i] for i in kept]
        if not quota:
            continue
        if name == "top":
            chosen += sampling.top(candidates, quota)
        elif name == "diverse":
            chosen += sampling.diverse(candidates, kept_cells, parent_cell, grid.shape, quota, rng)
        else:
            chosen += sampling.neighbours(candidates, kept_cells, parent_cell, quota, rng)
    if len(chosen) < count:
        left = [p for p in pool if p.id not in {c.id for c in chosen}]
        chosen += sampling.top(left, count - len(chosen))
    return chosen


def test_cached_selection_draws_what_a_fresh_computation_draws() -> None:
    archive = Archive(config(elite_size=8))
    reference = np.random.default_rng(3)
    for seq in range(400):
        island = seq % 3
        score = float(reference.normal())
        a, b = (float(v) for v in reference.uniform(0, 10, size=2))
        code_hash = f"h{seq % 97}"  # some programs share a hash
        archive.insert(
            Program(
                id=f"p{seq}",
                code="",
                code_hash=code_hash,
                seq=seq,
                score=score,
                features={"a": a, "b": b},
            ),
            island,
        )
        if seq % 7:
            continue
        for draw in range(3):
            seed = [seq, draw]
            cached = archive.sample_parent(island, np.random.default_rng(seed))
            assert cached == _reference_parent(archive, island, np.random.default_rng(seed))
            for count in (1, 2, 5, 40):
                got = archive.sample_inspirations(
                    cached, island, np.random.default_rng(seed), count, "mixed"
                )
                expected = _reference_inspirations(
                    archive, cached, island, np.random.default_rng(seed), count
                )
                assert [p.id for p in got] == [p.id for p in expected], (seq, draw, count)


def test_reaches_says_whether_an_island_holds_a_score_and_follows_its_changes() -> None:
    archive = Archive(config())
    archive.insert(prog("low", 1.0, 1, 1, 1), 0)
    archive.insert(prog("high", 5.0, 2, 2, 2), 1)
    assert archive.reaches(1, 5.0) and not archive.reaches(0, 5.0)
    assert not archive.reaches(2, -100.0)  # an empty island holds nothing
    archive.insert(prog("better", 6.0, 3, 3, 3), 0)  # the grid changed since the last look
    assert archive.reaches(0, 5.0) and not archive.reaches(1, 6.0)
    archive.insert(prog("zero", 0.0, 4, 4, 4), 2)
    assert archive.reaches(2, 0.0) and archive.reaches(2, -1.0)  # 0 is a score
    assert not archive.reaches(2, 0.5)
    with pytest.raises(ValueError):
        archive.reaches(3, 0.0)
