"""Fuzzing the protocol against a real ``livedesk run`` process (issue 9, point 2).

``server`` starts the process under test and reads its log and memory, ``frames`` and
``bodies`` are the hypothesis strategies for WebSocket frames (SDP included) and HTTP
JSON bodies, and ``arena`` holds the people and sessions the cases run against and
judges every answer. ``tests/integration/test_fuzz.py`` is the fast run for CI;
``bench/fuzz.py`` the long one with figures.
"""

from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "livedesk-fuzz-ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
"""CI: the same draws every run (``derandomize``), no example database (CI runs with
``-p no:cacheprovider`` and keeps nothing between runs), no per-example deadline (a case
waits for a real server; timing is the benchmark's business), shrinking on."""

settings.register_profile(
    "livedesk-fuzz-bench",
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
"""The long run: random draws from ``bench/fuzz.py --seed``, no shrinking (failures are
collected and reported, not raised)."""
