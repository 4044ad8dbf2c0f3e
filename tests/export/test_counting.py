"""The progress counts of an export's long loops."""

from __future__ import annotations

from evoforge.export.counting import counted


def test_a_long_loop_is_counted_about_every_hundredth_with_its_first_and_last() -> None:
    told: list[tuple[int, int]] = []
    assert list(counted(range(1050), 1050, lambda done, total: told.append((done, total)))) == (
        list(range(1050))
    )
    assert told == [(done, 1050) for done in range(0, 1050, 10)] + [(1050, 1050)]


def test_the_last_count_is_the_items_there_were() -> None:
    told: list[tuple[int, int]] = []
    list(counted(iter(range(7)), 5, lambda done, total: told.append((done, total))))
    assert told == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (7, 7)]
    told.clear()
    list(counted([], 0, lambda done, total: told.append((done, total))))
    assert told == [(0, 0), (0, 0)]
    assert list(counted("ab", 2, None)) == ["a", "b"]
