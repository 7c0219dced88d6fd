"""Vocabulary hints and the transcription section's start-up checks (no audio, no model load)."""

from __future__ import annotations

import pytest

from signaling.config import from_dict
from signaling.errors import ConfigError
from transcribe.vocabulary import (
    MAX_VARIANTS,
    Hint,
    VocabularyError,
    cmu_lookup,
    parse_hint,
    parse_hints,
    pronunciations,
)

WORDS = {"live": ["L IH V", "L AY V"], "desk": ["D EH S K"], "de": ["D IY"], "sk": ["EH S K EY"]}


def lookup(word: str) -> list[str]:
    return WORDS.get(word, [])


def test_a_hint_is_a_word_with_or_without_its_phones():
    assert parse_hint("  ZentraBox ") == Hint("zentrabox")
    assert parse_hint("kwikpay = K W IH K P EY") == Hint(
        "kwikpay", ("K", "W", "IH", "K", "P", "EY")
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("two words", "'two words': a hint is one word of letters, digits or ', 1 to 40 long"),
        ("", "'': a hint is one word of letters, digits or ', 1 to 40 long"),
        ("x" * 41, f"'{'x' * 41}': a hint is one word of letters, digits or ', 1 to 40 long"),
        ("kwik =", "'kwik': no phones after '='"),
        ("kwik = K W IH Q", "'kwik': Q not ARPABET phones"),
        ("kwik = k w", "'kwik': k w not ARPABET phones"),
    ],
)
def test_a_bad_hint_says_what_is_wrong(text, message):
    with pytest.raises(VocabularyError) as err:
        parse_hint(text)
    assert err.value.message == message


def test_too_many_hints_are_refused():
    with pytest.raises(VocabularyError, match="at most 200 hints"):
        parse_hints(["word"] * 201)


def test_a_known_word_needs_nothing_and_given_phones_are_used_as_they_are():
    assert pronunciations(Hint("desk"), lookup) == []
    assert pronunciations(Hint("desk", ("D", "EH", "S", "K")), lookup) == ["D EH S K"]


def test_a_word_made_of_dictionary_words_gets_each_combination_of_their_sounds():
    assert pronunciations(Hint("livedesk"), lookup) == ["L IH V D EH S K", "L AY V D EH S K"]


def test_the_fewest_parts_win_and_the_variants_are_capped():
    # "de"+"sk" would also spell "desk"; one part is fewer than two
    assert pronunciations(Hint("desklive"), lookup) == ["D EH S K L IH V", "D EH S K L AY V"]
    many = {"ab": ["A1", "A2", "A3"], "cd": ["C1", "C2", "C3"]}
    assert len(pronunciations(Hint("abcd"), lambda w: many.get(w, []))) == MAX_VARIANTS


def test_a_word_nothing_spells_asks_for_its_phones():
    with pytest.raises(VocabularyError) as err:
        pronunciations(Hint("xqzvv"), lookup)
    assert err.value.message == (
        "'xqzvv' is not in the dictionary and is not made of words that are;"
        ' give its phones: "xqzvv = ..." (ARPABET)'
    )


def test_the_shipped_dictionary_spells_livedesk_from_live_and_desk():
    assert "L AY V D EH S K" in pronunciations(Hint("livedesk"), cmu_lookup)
    assert cmu_lookup("refund") and not cmu_lookup("zentrabox")


def transcription(**section: object) -> dict[str, object]:
    return {"entries": {"shop": {"transcription": section}}}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"vocabulary": ["xqzvv"]},
            "config error: entries.shop.transcription.vocabulary = ['xqzvv']: vocabulary: 'xqzvv'"
            ' is not in the dictionary and is not made of words that are; give its phones:'
            ' "xqzvv = ..." (ARPABET)',
        ),
        (
            {"vocabulary": ["kwik = K Q"]},
            "config error: entries.shop.transcription.vocabulary = ['kwik = K Q']:"
            " vocabulary: 'kwik': Q not ARPABET phones",
        ),
        (
            {"engine": "vosk", "language": "ko", "vocabulary": ["zentrabox = Z EH N"]},
            "config error: entries.shop.transcription.vocabulary = ['zentrabox = Z EH N']:"
            " vocabulary hints work with pocketsphinx and faster-whisper, not vosk",
        ),
        (
            {"engine": "faster-whisper", "model_dir": "/nope"},
            "config error: entries.shop.transcription.model_dir = '/nope':"
            " the faster-whisper model directory /nope does not exist",
        ),
        (
            {"language": "ko"},
            "config error: entries.shop.transcription.engine = 'pocketsphinx':"
            " pocketsphinx ships English only, not 'ko'",
        ),
    ],
)  # fmt: skip
def test_a_transcription_section_that_cannot_run_stops_start_up(section, message):
    with pytest.raises(ConfigError) as err:
        from_dict(transcription(**section))
    assert str(err.value) == message


def test_hints_that_can_be_used_pass_the_start_up_check():
    cfg = from_dict(transcription(vocabulary=["livedesk", "kwikpay = K W IH K P EY"]))
    assert cfg.entries["shop"].transcription.vocabulary == ["livedesk", "kwikpay = K W IH K P EY"]
