"""What every recogniser shares, whatever runs its network: reading audio, length-sorted batches,
long files cut at pauses, and the decoder. Importing this module does not import PyTorch.

Two recognisers build on :class:`BaseRecognizer`: :class:`asr.recognizer.Recognizer` (PyTorch, a ``.pt``
model file) and :class:`asr.onnx_model.OnnxRecognizer` (onnxruntime, a ``.onnx`` file from ``asr export``).
:func:`asr.loading.load_model` picks one by the file's extension; this module imports neither.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from asr.audio import audio_info, prepare_samples, read_audio
from asr.decode import (
    ArrayLike,
    BeamSearchConfig,
    BeamSearchDecoder,
    GreedyDecoder,
    Transcript,
    Word,
    as_numpy,
    build_decoder,
    read_lexicon,
)
from asr.errors import AsrError
from asr.lm import read_arpa
from asr.spec import DecodingSpec
from asr.speech_detect import SpeechConfig, UtteranceCutter, find_utterances, quiet_level, snap_to_sound
from asr.text import Vocabulary

#: Files longer than this are transcribed piece by piece, cut at pauses, in bounded memory.
LONG_AUDIO_SECONDS = 60.0
#: Shorter audio is padded with silence to this length: the STFT's centring needs a window's worth of samples.
MIN_SECONDS = 0.1

#: A path, or samples (NumPy array or PyTorch tensor) with a sample rate.
AudioInput = str | os.PathLike[str] | np.ndarray | Any


def timed_by_sound(transcript: Transcript, samples: np.ndarray, sample_rate: int) -> Transcript:
    """``transcript`` of ``samples`` with each word's times moved to where its sound is
    (:func:`asr.speech_detect.snap_to_sound`)."""
    spans = snap_to_sound([(w.start, w.end) for w in transcript.words], samples, sample_rate)
    words = [Word(w.word, start, end, w.confidence) for w, (start, end) in zip(transcript.words, spans, strict=True)]
    return Transcript(transcript.text, words)


class BaseRecognizer:
    """Audio in, transcripts out. Subclasses set ``vocab``, ``sample_rate``, ``frame_seconds`` and
    ``decoding``, set ``decoder`` to :meth:`stored_decoder` and implement :meth:`log_probs`.

    ``decoding`` is the model file's own way of decoding (greedy, or beam search with its embedded lexicon
    and LM). A recogniser's decoder is fixed when it is made: :meth:`with_greedy`, :meth:`with_beam_search`
    and :meth:`with_decoder` return a new recogniser that shares this one's model and decodes otherwise.
    """

    vocab: Vocabulary
    sample_rate: int
    frame_seconds: float  # seconds per output frame (feature hop times subsampling)
    metadata: dict[str, Any]
    decoding: DecodingSpec
    decoder: GreedyDecoder | BeamSearchDecoder
    #: Cut audio into utterances before the network sees it; audio without speech gets an empty transcript.
    detect_speech: bool = True
    #: Metadata key of a model's own speech-finding settings (:class:`~asr.speech_detect.SpeechConfig` fields):
    #: how much audio around its speech a model expects, which its training data decides.
    SPEECH_KEY = "speech"

    @property
    def speech_config(self) -> SpeechConfig:
        """How audio is cut into utterances for this model: the model file's settings (metadata ``"speech"``)
        over the defaults, which suit models trained on clips cut tight around the words."""
        settings = self.metadata.get(self.SPEECH_KEY) or {}
        try:
            return SpeechConfig(**settings)
        except TypeError as error:
            raise AsrError(f"the model file's speech settings are not understood ({error})") from None

    def stored_decoder(self) -> GreedyDecoder | BeamSearchDecoder:
        """The decoder that :attr:`decoding` (the model file's own decoding) describes."""
        return build_decoder(self.vocab, self.frame_seconds, self.decoding)

    def with_decoder(self, decoder: GreedyDecoder | BeamSearchDecoder) -> Self:
        """A recogniser that shares this one's model (weights, features, settings) and decodes with
        ``decoder``; this one is unchanged."""
        other = copy.copy(self)
        other.decoder = decoder
        return other

    def with_greedy(self) -> Self:
        """A recogniser like this one that decodes greedily (best token per frame)."""
        return self.with_decoder(GreedyDecoder(self.vocab, self.frame_seconds))

    def with_beam_search(
        self,
        config: BeamSearchConfig | None = None,
        lexicon: str | os.PathLike[str] | Sequence[str] | None = None,
        lm: str | os.PathLike[str] | None = None,
        lm_text: str | None = None,
    ) -> Self:
        """A recogniser like this one that decodes by beam search (optionally with a lexicon and an ARPA
        LM, as a file or as text). The model file's own decoding is unchanged."""
        return self.with_decoder(BeamSearchDecoder(self.vocab, self.frame_seconds, config, lexicon, lm, lm_text))

    def with_stored_decoding(self) -> Self:
        """A recogniser like this one that decodes as its model file says."""
        return self.with_decoder(self.stored_decoder())

    def set_default_decoding(
        self,
        config: BeamSearchConfig | None = None,
        lexicon: str | os.PathLike[str] | Sequence[str] | None = None,
        lm: str | os.PathLike[str] | None = None,
    ) -> BaseRecognizer:
        """Edit the model: beam search with these settings becomes its own decoding, written when it is saved
        or exported (the lexicon's words and the ARPA LM's text go into the model file), and this recogniser
        decodes so from now on. Returns ``self``."""
        config = config or BeamSearchConfig()
        words = None
        if lexicon is not None:
            words = read_lexicon(lexicon, self.vocab) if isinstance(lexicon, str | os.PathLike) else list(lexicon)
        arpa = None
        if lm is not None:
            read_arpa(lm)  # a clear error now rather than when the model is next loaded
            arpa = Path(lm).read_text(encoding="utf-8")
        self.decoding = DecodingSpec("beam", beam_size=config.beam_size, beam_threshold=config.beam_threshold,
                                     lm_weight=config.lm_weight, word_score=config.word_score, lexicon=words,
                                     lm_arpa=arpa)
        self.decoder = self.stored_decoder()
        return self

    def log_probs(self, waveforms: Sequence[ArrayLike]) -> tuple[ArrayLike, ArrayLike]:
        """Mono waveforms at :attr:`sample_rate` -> ``(batch, frames', vocab)`` log-probabilities and
        ``(batch,)`` output lengths."""
        raise NotImplementedError

    def load(self, audio: AudioInput, sample_rate: int | None = None) -> np.ndarray:
        """A path, or samples with their ``sample_rate``, as mono ``(samples,)`` at the model's rate."""
        if isinstance(audio, str | os.PathLike):
            return read_audio(audio, self.sample_rate)
        if sample_rate is None:
            raise AsrError("a sample_rate is needed with raw audio samples")
        return prepare_samples(audio, sample_rate, self.sample_rate)

    def transcribe(
        self, audio: AudioInput | Sequence[AudioInput], sample_rate: int | None = None, batch_size: int = 16
    ) -> Transcript | list[Transcript]:
        """Transcribe one input (path, numpy array or tensor) or a list of them.

        Lists are decoded in batches of similar length; results come back in input order. Files (alone or
        in a list of paths) longer than :data:`LONG_AUDIO_SECONDS` are cut at pauses. The first unreadable
        file raises its ``AsrError``; :meth:`transcribe_files` reports each file's error instead.
        """
        single = not isinstance(audio, list | tuple)
        inputs = [audio] if single else list(audio)
        if all(isinstance(a, str | os.PathLike) for a in inputs):
            results = []
            for _, result in self.transcribe_files(inputs, batch_size):
                if isinstance(result, AsrError):
                    raise result
                results.append(result)
        else:
            results = self.transcribe_waveforms([self.load(a, sample_rate) for a in inputs], batch_size)
        return results[0] if single else results

    def transcribe_files(
        self, paths: Sequence[str | os.PathLike[str]], batch_size: int = 16
    ) -> Iterator[tuple[str | os.PathLike[str], Transcript | AsrError]]:
        """Each file's transcript, or the ``AsrError`` that kept it from one, in input order: the one way
        through files that the CLI, ``evaluate``, ``adapt`` and the server share.

        Files are read ``batch_size`` at a time (memory stays bounded however many there are) and decoded
        in batches of similar length; files longer than :data:`LONG_AUDIO_SECONDS` are cut at pauses.
        """
        for start in range(0, len(paths), max(batch_size, 1)):
            group = paths[start : start + batch_size]
            results: list[Transcript | AsrError | None] = []
            short, waveforms = [], []
            for index, path in enumerate(group):
                try:
                    if audio_info(path).duration > LONG_AUDIO_SECONDS:
                        results.append(self.transcribe_long(path))
                        continue
                    waveforms.append(self.load(path))
                    short.append(index)
                    results.append(None)
                except AsrError as error:
                    results.append(error)
            for index, transcript in zip(short, self.transcribe_waveforms(waveforms, batch_size), strict=True):
                results[index] = transcript
            yield from zip(group, results, strict=True)

    def transcribe_long(self, path: str | os.PathLike[str], max_seconds: float = 30.0) -> Transcript:
        """Transcribe a file of any length in bounded memory: read ``max_seconds`` at a time (see
        :mod:`asr.segment`) and cut into utterances at pauses by the same cutter as short files and streams.

        Word times are relative to the start of the file.
        """
        from asr.segment import iter_blocks

        cutter: UtteranceCutter | None = None
        words: list[Word] = []
        for waveform in iter_blocks(path, self.sample_rate, max_seconds):
            if cutter is None:  # the noise floor starts at the quiet level of the first block
                cutter = UtteranceCutter(self.sample_rate, self.speech_config, quiet_level(waveform, self.sample_rate))
            words += self._decode_utterances(cutter.accept(waveform))
        if cutter is not None:
            words += self._decode_utterances(cutter.finish())
        return Transcript(" ".join(w.word for w in words), words)

    def _decode_utterances(self, utterances: list[tuple[np.ndarray, int]]) -> list[Word]:
        """Utterances ``(audio, first sample)`` -> their words, timed from the start of the audio."""
        return self._timed_words(utterances, self.decode_waveforms([audio for audio, _ in utterances]))

    def _timed_words(self, utterances: list[tuple[np.ndarray, int]], results: Sequence[Transcript]) -> list[Word]:
        """Each utterance's words moved by its start: times from the start of the audio."""
        words: list[Word] = []
        for (_, start), result in zip(utterances, results, strict=True):
            offset = start / self.sample_rate
            words += [Word(w.word, w.start + offset, w.end + offset, w.confidence) for w in result.words]
        return words

    def transcribe_waveforms(self, waveforms: Sequence[ArrayLike], batch_size: int = 16) -> list[Transcript]:
        """Mono waveforms at the model's rate -> transcripts, batched by length.

        Each waveform is cut into utterances where it pauses (:func:`asr.speech_detect.find_utterances`, the
        cutter that streaming uses too) and only the speech reaches the network, so the silence or room tone
        around and between words never turns into words; audio without speech (silence, steady noise, hum)
        gets an empty transcript. Word times are from the start of each waveform. With ``detect_speech`` off,
        each waveform is decoded whole (:meth:`decode_waveforms`)."""
        waveforms = [as_numpy(w).astype(np.float32, copy=False) for w in waveforms]
        if not self.detect_speech:
            return self.decode_waveforms(waveforms, batch_size)
        pieces = [find_utterances(w, self.sample_rate, self.speech_config) for w in waveforms]
        decoded = self.decode_waveforms([audio for utterances in pieces for audio, _ in utterances], batch_size)
        results, used = [], 0
        for utterances in pieces:
            words = self._timed_words(utterances, decoded[used : used + len(utterances)])
            used += len(utterances)
            results.append(Transcript(" ".join(w.word for w in words), words))
        return results

    def decode_waveforms(self, waveforms: Sequence[ArrayLike], batch_size: int = 16) -> list[Transcript]:
        """Mono waveforms at the model's rate, each one utterance already cut -> transcripts, batched by
        length: the network and the decoder, with no search for speech. Audio shorter than
        :data:`MIN_SECONDS` is padded with silence, so any length from 1 sample up is decoded."""
        waveforms = [as_numpy(w).astype(np.float32, copy=False) for w in waveforms]
        results: list[Transcript | None] = [None] * len(waveforms)
        shortest = int(MIN_SECONDS * self.sample_rate)
        waveforms = [w if len(w) >= shortest else np.pad(w, (0, shortest - len(w))) for w in waveforms]
        order = sorted(range(len(waveforms)), key=lambda i: len(waveforms[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            log_probs, lengths = self.log_probs([waveforms[i] for i in chunk])
            for i, transcript in zip(chunk, self.decoder(log_probs, lengths), strict=True):
                results[i] = timed_by_sound(transcript, waveforms[i], self.sample_rate)
        return [r for r in results if r is not None]
