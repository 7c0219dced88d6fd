"""Speech recognisers behind one interface: 16 kHz mono samples in, words with times out."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np


class EngineError(Exception):
    """An engine that cannot run as configured; ``message`` names what is missing."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Word(NamedTuple):
    text: str
    start: float
    """Seconds from the start of the samples given."""
    end: float


class Engine(Protocol):
    name: str

    def words(self, pcm: np.ndarray) -> list[Word]:
        """Recognise one stretch of speech (int16, 16 kHz, mono)."""
        ...


_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "[BREATH]", "[COUGH]", "[UH]", "[UM]"}


class PocketsphinxEngine:
    """CMU pocketsphinx with the US English model its PyPI package ships (no download).

    ``dictionary_extra``: lines ``word PH O N E S`` to add, for product names.
    """

    name = "pocketsphinx"

    def __init__(
        self,
        *,
        language: str = "en",
        lm: Path | None = None,
        dictionary: Path | None = None,
    ) -> None:
        if language != "en":
            raise EngineError(f"pocketsphinx ships English only, not {language!r}")
        from pocketsphinx import Decoder

        options: dict[str, object] = {"samprate": 16000, "loglevel": "FATAL"}
        if lm is not None:
            options["lm"] = str(lm)
        if dictionary is not None:
            options["dict"] = str(dictionary)
        self._decoder = Decoder(**options)
        self._frate = 100.0

    def words(self, pcm: np.ndarray) -> list[Word]:
        d = self._decoder
        d.start_utt()
        d.process_raw(np.ascontiguousarray(pcm, dtype=np.int16).tobytes(), full_utt=True)
        d.end_utt()
        out = []
        for seg in d.seg():
            word = seg.word.split("(")[0]  # "hello(2)": an alternative pronunciation
            if word in _FILLERS or word.startswith("["):
                continue
            out.append(Word(word, seg.start_frame / self._frate, seg.end_frame / self._frate))
        return out


def engine_for(name: str, *, language: str = "en") -> Engine:
    if name == "pocketsphinx":
        return PocketsphinxEngine(language=language)
    raise EngineError(f"no transcription engine {name!r} (pocketsphinx)")
