"""The fuzzer's SDP mutations render every combination (tests/fuzzing/sdp.py).

bench/fuzz.py once stopped on its own generator: an ``eol`` op that removed the line
endings, then a ``truncate_chars`` op that split on them (ValueError: empty separator).
"""

from __future__ import annotations

from hypothesis import given, settings

from tests.fuzzing.sdp import SdpCase, sdp_cases


def test_truncating_after_the_line_endings_were_removed_renders():
    case = SdpCase(base="aiortc", ops=(("eol", ""), ("truncate_chars", 136)))
    text = case.render()
    assert isinstance(text, str) and len(text) == 136
    assert text == SdpCase(base="aiortc", ops=(("eol", ""),)).render()[:136]


@settings(max_examples=300, deadline=None)
@given(sdp_cases)
def test_any_generated_case_renders(case: SdpCase):
    assert case.render() is not None
