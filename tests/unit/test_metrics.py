"""The Prometheus text rendering."""

from __future__ import annotations

from signaling.metrics import Metrics


def test_counter_is_exported_at_zero_with_help_and_type():
    m = Metrics()
    m.counter("livedesk_connections_total", "WebSocket connections opened")
    assert m.render() == (
        "# HELP livedesk_connections_total WebSocket connections opened\n"
        "# TYPE livedesk_connections_total counter\n"
        "livedesk_connections_total 0\n"
    )


def test_counter_counts_up():
    m = Metrics()
    m.counter("livedesk_messages_in_total", "Messages received")
    m.inc("livedesk_messages_in_total")
    m.inc("livedesk_messages_in_total", by=2)
    assert m.value("livedesk_messages_in_total") == 3
    assert m.render().splitlines()[-1] == "livedesk_messages_in_total 3"


def test_labelled_counter_uses_the_given_label_name_sorted_by_value():
    m = Metrics()
    m.counter("livedesk_errors_total", "Errors sent to clients, by code")
    m.inc("livedesk_errors_total", "rate_limited")
    m.inc("livedesk_errors_total", "bad_json", by=2)
    assert m.render({"livedesk_errors_total": "code"}).splitlines()[2:] == [
        'livedesk_errors_total{code="bad_json"} 2',
        'livedesk_errors_total{code="rate_limited"} 1',
    ]


def test_label_name_defaults_to_label():
    m = Metrics()
    m.counter("x_total", "x")
    m.inc("x_total", "a")
    assert m.render().splitlines()[-1] == 'x_total{label="a"} 1'


def test_value_of_an_unseen_label_is_zero():
    m = Metrics()
    m.counter("x_total", "x")
    assert m.value("x_total", "never") == 0.0


def test_gauge_is_read_at_render_time():
    m = Metrics()
    sessions = {"queued": 2.0, "active": 5.0}
    m.gauge("livedesk_sessions", "Live sessions by state", lambda: dict(sessions))
    sessions["queued"] = 3.0
    assert m.render({"livedesk_sessions": "state"}) == (
        "# HELP livedesk_sessions Live sessions by state\n"
        "# TYPE livedesk_sessions gauge\n"
        'livedesk_sessions{state="active"} 5\n'
        'livedesk_sessions{state="queued"} 3\n'
    )


def test_gauge_with_the_empty_label_has_no_braces():
    m = Metrics()
    m.gauge("livedesk_agents_online", "Agents online", lambda: {"": 4.0})
    assert m.render().splitlines()[-1] == "livedesk_agents_online 4"


def test_empty_gauge_has_only_help_and_type():
    m = Metrics()
    m.gauge("livedesk_sessions", "Live sessions", dict)
    assert m.render() == "# HELP livedesk_sessions Live sessions\n# TYPE livedesk_sessions gauge\n"


def test_label_values_are_escaped():
    m = Metrics()
    m.counter("x_total", "x")
    m.inc("x_total", 'back\\slash "quoted"\nnewline')
    assert m.render().splitlines()[-1] == 'x_total{label="back\\\\slash \\"quoted\\"\\nnewline"} 1'


def test_whole_numbers_print_without_a_decimal_point_and_fractions_exactly():
    m = Metrics()
    m.gauge("g", "g", lambda: {"whole": 3.0, "half": 0.5, "tiny": 1e-7})
    assert m.render({"g": "k"}).splitlines()[2:] == [
        'g{k="half"} 0.5',
        'g{k="tiny"} 1e-07',
        'g{k="whole"} 3',
    ]


def test_metrics_render_in_registration_order():
    m = Metrics()
    m.counter("b_total", "b")
    m.gauge("a", "a", lambda: {"": 1.0})
    m.counter("c_total", "c")
    names = [line.split()[2] for line in m.render().splitlines() if line.startswith("# HELP")]
    assert names == ["b_total", "a", "c_total"]


def test_registries_are_independent():
    one, two = Metrics(), Metrics()
    one.counter("x_total", "x")
    one.inc("x_total")
    assert two.render() == "\n"


def test_gc_pauses_are_timed_per_generation_and_the_max_resets_on_read() -> None:
    import gc

    from signaling.metrics import Metrics, add_process_gauges

    m = Metrics()
    add_process_gauges(m)
    keep = [[i] for i in range(50_000)]  # something for a full collection to walk
    gc.collect()
    text = m.render({"livedesk_gc_pause_max_seconds": "generation"})
    full = next(
        line
        for line in text.splitlines()
        if line.startswith('livedesk_gc_pause_max_seconds{generation="2"}')
    )
    assert float(full.split()[1]) > 0
    again = m.render({"livedesk_gc_pause_max_seconds": "generation"})
    assert 'livedesk_gc_pause_max_seconds{generation="2"} 0' in again
    assert "livedesk_gc_pause_seconds_total" in again and keep
