"""Settings for the whole test session.

A shell without job control starts a background command (``pytest ... &`` in a script)
with SIGINT ignored, and every process it starts inherits that: the commands the tests
start would then ignore the Ctrl-C the tests send them, as a user's own background
command rightly does. The tests are about a command started from a terminal, so the
session takes SIGINT back: a handler (not an ignored signal) is reset to the default in
each program the tests start.
"""

from __future__ import annotations

import signal

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
