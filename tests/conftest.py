"""Settings for the whole test session.

A shell without job control starts a background command (``pytest ... &`` in a script)
with SIGINT ignored, and every process it starts inherits that: the commands the tests
start would then ignore the Ctrl-C the tests send them, as a user's own background
command rightly does. The tests are about a command started from a terminal, so the
session takes SIGINT back: a handler (not an ignored signal) is reset to the default in
each program the tests start.

``make test`` runs the suite on parallel workers (pytest-xdist's ``-n auto``): as many
as the CPUs this process may use (:func:`parallel_workers`), never the machine's count.
Each worker's tests run beside another's and their evaluations, so no property test has a
deadline (Hypothesis's default fails an example that takes over 200 ms, which a busy
machine can make any example take): what they check is what the code does, not how fast.
"""

from __future__ import annotations

import os
import signal

import pytest
from hypothesis import settings

from evoforge.cpus import usable_cpus

MAX_PARALLEL_WORKERS = 8
"""The most workers ``-n auto`` starts: each is a whole test process (about 0.6 GB at its
largest) that itself runs evaluations, runs and servers in processes of their own."""

SUITE_PROFILE = "evoforge-suite"
"""The Hypothesis settings every property test starts from: no deadline."""

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

settings.register_profile(SUITE_PROFILE, deadline=None)
settings.load_profile(SUITE_PROFILE)


def parallel_workers(cpus: int) -> int:
    """How many test workers to start where this process may use ``cpus`` CPUs: one per
    CPU, at least 1 and at most :data:`MAX_PARALLEL_WORKERS`."""
    return max(1, min(cpus, MAX_PARALLEL_WORKERS))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """The worker count of ``-n auto``: :func:`parallel_workers` of the CPUs this process
    may use (its affinity mask and its cgroup's CPU quota; pytest-xdist's own count is the
    machine's, too many in a container given a share of a large machine).
    ``$PYTEST_XDIST_AUTO_NUM_WORKERS``, where set, is left to pytest-xdist."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return parallel_workers(usable_cpus())
