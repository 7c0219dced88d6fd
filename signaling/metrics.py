"""A small Prometheus text-format registry, owned by the application (no globals)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable


class Metrics:
    """Counters and gauges with at most one label each."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, Callable[[], dict[str, float]]] = {}

    def counter(self, name: str, help_text: str) -> None:
        self._help[name] = ("counter", help_text)
        self._counters[name]

    def gauge(self, name: str, help_text: str, read: Callable[[], dict[str, float]]) -> None:
        """``read`` returns ``{label_value: value}``; the empty label means no label."""
        self._help[name] = ("gauge", help_text)
        self._gauges[name] = read

    def inc(self, name: str, label: str = "", by: float = 1.0) -> None:
        self._counters[name][label] += by

    def value(self, name: str, label: str = "") -> float:
        return self._counters[name].get(label, 0.0)

    def render(self, label_names: dict[str, str] | None = None) -> str:
        label_names = label_names or {}
        out: list[str] = []
        for name, (kind, help_text) in self._help.items():
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            values = self._gauges[name]() if kind == "gauge" else dict(self._counters[name])
            if not values and kind == "counter":
                values = {"": 0.0}
            for label, v in sorted(values.items()):
                key = label_names.get(name, "label")
                lbl = f'{{{key}="{_escape(label)}"}}' if label else ""
                out.append(f"{name}{lbl} {_num(v)}")
        return "\n".join(out) + "\n"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)
