"""What every recogniser shares, whatever runs its network: reading audio, length-sorted batches,
long files cut at pauses, and the decoder. Importing this module does not import PyTorch.

Two recognisers build on :class:`BaseRecognizer`: :class:`asr.recognizer.Recognizer` (PyTorch, a ``.pt``
model file) and :class:`asr.onnx_model.OnnxRecognizer` (onnxruntime, a ``.onnx`` file from ``asr export``).
:func:`asr.loading.load_model` picks one by the file's extension; this module imports neither.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Iterator, Sequence
from typing import Any, Self

import numpy as np

from asr.audio import audio_info, prepare_samples, read_audio
from asr.confidence import Calibration
from asr.decode import ArrayLike, Transcript, Word, as_numpy
from asr.decoding import Decoding, build_decoder
from asr.errors import AsrError
from asr.spec import ModelSpec
from asr.speech_detect import SpeechConfig, UtteranceCutter, find_utterances, quiet_level, snap_to_sound
from asr.text import Vocabulary

#: Files longer than this are transcribed piece by piece, cut at pauses, in bounded memory.
LONG_AUDIO_SECONDS = 60.0
#: transcribe_files reads this many batches' worth of files at a time and sorts them by length together: batches
#: of like lengths pad less (English held-out sentences: 1.5x the frames a batch of 16 needed sorted among 16
#: files, 1.25x among 64; bench/README.md, "The English default's runtime").
BATCHES_PER_READ = 4
#: Shorter audio is padded with silence to this length: the STFT's centring needs a window's worth of samples.
MIN_SECONDS = 0.1

#: A path, or samples (NumPy array or PyTorch tensor) with a sample rate.
AudioInput = str | os.PathLike[str] | np.ndarray | Any


def confident_words(transcript: Transcript, min_confidence: float | None) -> Transcript:
    """``transcript`` without the words below ``min_confidence`` (all of it when that is None)."""
    if min_confidence is None or all(w.confidence >= min_confidence for w in transcript.words):
        return transcript
    words = [w for w in transcript.words if w.confidence >= min_confidence]
    return Transcript(" ".join(w.word for w in words), words)


def timed_by_sound(transcript: Transcript, samples: np.ndarray, sample_rate: int) -> Transcript:
    """``transcript`` of ``samples`` with each word's times moved to where its sound is
    (:func:`asr.speech_detect.snap_to_sound`)."""
    spans = snap_to_sound([(w.start, w.end) for w in transcript.words], samples, sample_rate)
    words = [Word(w.word, start, end, w.confidence) for w, (start, end) in zip(transcript.words, spans, strict=True)]
    return Transcript(transcript.text, words)


class BaseRecognizer:
    """The recogniser contract: audio in, transcripts out, whichever library runs the network.

    :class:`asr.recognizer.Recognizer` (PyTorch, ``.pt``) and :class:`asr.onnx_model.OnnxRecognizer`
    (onnxruntime, ``.onnx``) both implement :attr:`spec`, :meth:`save`, :meth:`quantized` and :meth:`log_probs`;
    everything else
    (reading audio, finding speech, batching, decoding) is here, the same for both.

    A recogniser never changes: every ``with_*`` method returns a new one that shares this one's network.
    :attr:`decoding` is how this recogniser decodes; :attr:`stored_decoding` is the model file's own default,
    which :meth:`save` writes and :meth:`with_default_decoding` replaces.
    """

    vocab: Vocabulary
    sample_rate: int
    frame_seconds: float  # seconds per output frame (feature hop times subsampling)
    metadata: dict[str, Any]
    stored_decoding: Decoding  # the model file's own default
    decoding: Decoding  # how this recogniser decodes
    decoder: Any  # what build_decoder(vocab, frame_seconds, decoding) made
    #: Cut audio into utterances before the network sees it; audio without speech gets an empty transcript
    #: (:meth:`with_speech_detection` gives a recogniser that decodes each waveform whole).
    detect_speech: bool = True
    #: Whether the network runs with int8 weights (:meth:`quantized`).
    is_quantized: bool = False
    #: Metadata key of a model's own speech-finding settings (:class:`~asr.speech_detect.SpeechConfig` fields):
    #: how much audio around its speech a model expects, which its training data decides.
    SPEECH_KEY = "speech"

    def _start_decoding(self, stored: Decoding) -> None:
        """Set by each back end's constructor: decode as the model file says."""
        self.stored_decoding = self.decoding = stored
        self.decoder = build_decoder(self.vocab, self.frame_seconds, stored)

    @property
    def spec(self) -> ModelSpec:
        """Everything but the weights, as the model file holds it (with :attr:`stored_decoding`)."""
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model file (the same kind as this one's: ``.pt`` or ``.onnx``)."""
        raise NotImplementedError

    @property
    def speech_config(self) -> SpeechConfig:
        """How audio is cut into utterances for this model: the model file's settings (metadata ``"speech"``)
        over the defaults, which suit models trained on clips cut tight around the words."""
        settings = self.metadata.get(self.SPEECH_KEY) or {}
        try:
            return SpeechConfig(**settings)
        except TypeError as error:
            raise AsrError(f"the model file's speech settings are not understood ({error})") from None

    def with_decoding(self, decoding: Decoding) -> Self:
        """A recogniser that shares this one's model (weights, features, settings) and decodes as ``decoding``
        says; this one is unchanged. A lexicon or grammar word the model cannot spell is an error here."""
        other = copy.copy(self)
        other.metadata = copy.deepcopy(self.metadata)  # the copy's file settings are its own
        other.decoder = build_decoder(self.vocab, self.frame_seconds, decoding)
        other.decoding = decoding
        return other

    def with_greedy(self) -> Self:
        """A recogniser like this one that decodes greedily (best token per frame)."""
        return self.with_decoding(Decoding())

    def with_beam_search(
        self,
        decoding: Decoding | None = None,
        lexicon: str | os.PathLike[str] | Sequence[str] | None = None,
        lm: str | os.PathLike[str] | None = None,
        **settings: Any,
    ) -> Self:
        """A recogniser like this one that decodes by beam search: ``decoding``'s settings (default: the
        defaults) with a lexicon (words or a file) and an ARPA word LM (a file) if given, and any setting named
        in ``settings`` (``beam_size=32``, ``lm_weight=1.0``, ...)."""
        base = dataclasses.replace(decoding or Decoding(), method="beam", grammar=None, grammar_loop=False)
        return self.with_decoding(base.overridden(lexicon=lexicon, lm=lm, **settings))

    def with_grammar(
        self,
        grammar: str | os.PathLike[str] | Sequence[str],
        loop: bool | None = None,
        rejection: float | None = None,
        reject: bool = False,
    ) -> Self:
        """A recogniser like this one that outputs exactly one of ``grammar``'s phrases per utterance (a
        sequence of them with ``loop``): a list of phrases, a JSON list as Vosk writes it, a file of one phrase
        per line, or a built-in name (``"digits"``, ``"yesno"``); see :mod:`asr.grammar`. With ``"[unk]"`` among
        the phrases, speech that fits none of them comes out as ``[unk]``; without it, ``reject`` gives an empty
        transcript instead. ``rejection`` sets how readily (default: the calibrated one)."""
        decoding = Decoding().overridden(grammar=grammar, rejection=rejection)
        if loop is not None:
            decoding = dataclasses.replace(decoding, grammar_loop=loop)
        return self.with_decoding(dataclasses.replace(decoding, reject=reject))

    def with_stored_decoding(self) -> Self:
        """A recogniser like this one that decodes as its model file says."""
        return self.with_decoding(self.stored_decoding)

    def with_default_decoding(self, decoding: Decoding | None = None) -> Self:
        """A recogniser whose model file's own decoding is ``decoding`` (default: how this one decodes now),
        written when it is saved or exported (the lexicon's words, the LM's text and a grammar's phrases go into
        the file), and which decodes so."""
        other = self.with_decoding(decoding or self.decoding)
        other.stored_decoding = other.decoding
        return other

    def with_speech_config(self, **settings: Any) -> Self:
        """A recogniser like this one that finds speech with these :class:`~asr.speech_detect.SpeechConfig`
        settings over the model file's (``pre_roll_seconds=0.5``, ...), and writes them when saved."""
        other = self.with_decoding(self.decoding)
        other.metadata[self.SPEECH_KEY] = {**(self.metadata.get(self.SPEECH_KEY) or {}), **settings}
        other.speech_config  # noqa: B018 (an unknown setting is an error now, not at the first file)
        return other

    def with_speech_detection(self, enabled: bool) -> Self:
        """A recogniser like this one that cuts audio into utterances first (``True``, the default) or decodes
        each waveform whole (``False``: what finding speech earns, measured)."""
        other = self.with_decoding(self.decoding)
        other.detect_speech = enabled
        return other

    def quantized(self) -> Self:
        """A recogniser like this one whose recurrent and output layers run with int8 weights (faster on a CPU;
        see each back end); this one is unchanged, and the quantized one is not saved."""
        raise NotImplementedError

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

        Files are read :data:`BATCHES_PER_READ` batches' worth at a time (memory stays bounded however many
        there are) and decoded in batches of similar length; files longer than :data:`LONG_AUDIO_SECONDS` are
        cut at pauses.
        """
        per_read = max(batch_size, 1) * BATCHES_PER_READ
        for start in range(0, len(paths), per_read):
            group = paths[start : start + per_read]
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
        pieces = [self._one_phrase_span(w, find_utterances(w, self.sample_rate, self.speech_config))
                  for w in waveforms]
        decoded = self.decode_waveforms([audio for utterances in pieces for audio, _ in utterances], batch_size)
        results, used = [], 0
        for utterances in pieces:
            words = self._timed_words(utterances, decoded[used : used + len(utterances)])
            used += len(utterances)
            results.append(Transcript(" ".join(w.word for w in words), words))
        return results

    def _one_phrase_span(self, waveform: np.ndarray, utterances: list[tuple[np.ndarray, int]],
                         ) -> list[tuple[np.ndarray, int]]:
        """A grammar of single phrases says one phrase per recording: its pieces (a command said with a pause
        in it) are decoded as the one span from the first to the last."""
        if self.decoding.method != "grammar" or self.decoding.grammar_loop or len(utterances) < 2:
            return utterances
        start = utterances[0][1]
        end = utterances[-1][1] + len(utterances[-1][0])
        return [(waveform[start:end], start)]

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
            calibration = Calibration.from_metadata(self.metadata)  # the model's own, fitted on unseen voices
            for i, transcript in zip(chunk, self.decoder(log_probs, lengths), strict=True):
                transcript = calibration.apply(transcript) if calibration else transcript
                transcript = confident_words(transcript, self.decoding.min_confidence)
                results[i] = timed_by_sound(transcript, waveforms[i], self.sample_rate)
        return [r for r in results if r is not None]
