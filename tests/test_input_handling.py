"""One of each (issue 28, part 5): one sample conversion and one set of sample rates on every input path, one
atomic write, one frame energy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from asr.audio import MAX_RATE, MIN_RATE, prepare_samples, read_audio, to_float32
from asr.errors import AsrError
from asr.files import atomic_open, atomic_write, atomic_write_text
from asr.segment import iter_blocks
from asr.speech_detect import block_levels, frame_levels, frame_power
from asr.stream_session import SharedRecognizer, StreamSession
from asr.streaming import StreamingRecognizer

RATE = 8000
#: The same four values in each dtype: half scale, negative full scale, (almost) positive full scale, zero.
SAMPLES = {
    "int32": (np.array([2**30, -(2**31), 2**31 - 1, 0], np.int32), [0.5, -1.0, 1.0 - 2.0**-31, 0.0]),
    "int16": (np.array([2**14, -(2**15), 2**15 - 1, 0], np.int16), [0.5, -1.0, 1.0 - 2.0**-15, 0.0]),
    "uint8": (np.array([192, 0, 255, 128], np.uint8), [0.5, -1.0, 1.0 - 2.0**-7, 0.0]),
    "float64": (np.array([0.5, -1.0, 0.25, 0.0], np.float64), [0.5, -1.0, 0.25, 0.0]),
}
#: How each dtype is stored in a WAV file (uint8 as 8-bit unsigned PCM, written from int16 by soundfile).
SUBTYPES = {"int32": "PCM_32", "int16": "PCM_16", "uint8": "PCM_U8", "float64": "DOUBLE"}


def fake_recognizer(rate: int = RATE) -> SimpleNamespace:
    return SimpleNamespace(sample_rate=rate, decode_waveforms=lambda waveforms: [], transcribe_waveforms=None)


def streamed(samples: np.ndarray, pcm16: bool = False) -> np.ndarray:
    """What a stream hands its utterance cutter for one chunk."""
    stream = StreamingRecognizer(fake_recognizer(), RATE)  # type: ignore[arg-type]
    seen: list[np.ndarray] = []
    stream._cutter.accept = lambda chunk: seen.append(chunk) or []  # type: ignore[method-assign]
    stream.accept_pcm16(samples.astype("<i2").tobytes()) if pcm16 else stream.accept(samples)
    return seen[0]


def from_file(tmp_path: Path, name: str, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    path = tmp_path / f"{name}.wav"
    data = ((samples.astype(np.int16) - 128) * 256).astype(np.int16) if name == "uint8" else samples
    sf.write(path, data, RATE, subtype=SUBTYPES[name])
    return read_audio(path, RATE), np.concatenate(list(iter_blocks(path, RATE)))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_path_turns_each_dtype_into_the_same_floats(name, tmp_path):
    samples, expected = SAMPLES[name]
    expected = np.array(expected, np.float32)
    paths = {"to_float32": to_float32(samples), "prepare_samples": prepare_samples(samples, RATE, RATE),
             "2-D (samples, 1)": prepare_samples(samples[:, None], RATE, RATE), "stream": streamed(samples)}
    paths["read_audio"], paths["iter_blocks"] = from_file(tmp_path, name, samples)
    if name == "int16":
        paths["stream pcm16"] = streamed(samples, pcm16=True)
    for path, values in paths.items():
        assert values.dtype == np.float32, path
        np.testing.assert_array_equal(values, expected, err_msg=path)


def test_samples_that_are_not_numbers_or_not_finite_are_refused_alike():
    for bad, reason in ((np.array([True, False]), "must be numbers"), (np.array([0.0, np.nan]), "NaN or infinite"),
                        (np.array([0.0, 1e300]), "NaN or infinite")):
        for convert in (to_float32, lambda s: prepare_samples(s, RATE, RATE), streamed):
            with pytest.raises(AsrError, match=reason):
                convert(bad)


def rate_errors(rate: object, tmp_path: Path) -> dict[str, str]:
    """The error each input path gives for ``rate`` ('' where it was accepted)."""
    errors = {}

    def attempt(name, call):
        try:
            call()
            errors[name] = ""
        except AsrError as error:
            errors[name] = error.reason

    attempt("prepare_samples", lambda: prepare_samples(np.zeros(2000, np.float32), rate, RATE))
    attempt("StreamingRecognizer", lambda: StreamingRecognizer(fake_recognizer(), rate))  # type: ignore[arg-type]
    session = StreamSession(SharedRecognizer(fake_recognizer(), threading.Lock()), 30.0)  # type: ignore[arg-type]
    reply, _ = session.handle(json.dumps({"config": {"sample_rate": rate}}), None)
    errors["/stream config"] = (reply or {}).get("error", "")
    if isinstance(rate, int) and rate > 0:  # a file can only declare a positive whole number
        path = tmp_path / f"{rate}.wav"
        sf.write(path, np.zeros(2000, np.float32), rate)
        attempt("read_audio", lambda: read_audio(path, RATE))
        attempt("iter_blocks", lambda: list(iter_blocks(path, RATE)))
    return errors


@pytest.mark.parametrize("rate", [0, MIN_RATE - 1, MAX_RATE + 1, 4_000_000, -8000, 8000.5, "fast", None])
def test_a_rate_outside_the_limits_gives_the_same_error_by_every_path(rate, tmp_path):
    errors = rate_errors(rate, tmp_path)
    shown = rate if isinstance(rate, int) else repr(rate)
    assert set(errors.values()) == {f"sample rate must be a whole number of Hz from 1000 to 768000, got {shown}"}, \
        errors


@pytest.mark.parametrize("rate", [MIN_RATE, 8000, 44100, 96000, 384_000, MAX_RATE])
def test_a_rate_inside_the_limits_is_taken_by_every_path(rate, tmp_path):
    errors = rate_errors(rate, tmp_path)
    assert set(errors.values()) == {""}, errors


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.bin"
    atomic_write(path, lambda handle: handle.write(b"old"))

    def failing(handle):
        handle.write(b"half of the new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, failing)
    with pytest.raises(KeyboardInterrupt), atomic_open(path, "w") as handle:
        handle.write("half")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"old" and temporaries(tmp_path) == []
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # an ordinary file, not the temporary's 0600


def test_the_writers_of_this_toolkit_are_atomic(tmp_path):
    from asr.lm import build_arpa, write_arpa
    from asr.manifest import Utterance, read_manifest, write_manifest

    manifest = tmp_path / "data" / "train.jsonl"
    write_manifest(manifest, [Utterance(str(tmp_path / "a.wav"), "one", 1.0)])

    def broken():
        yield Utterance(str(tmp_path / "b.wav"), "two", 1.0)
        raise AsrError("a source file went missing")

    with pytest.raises(AsrError, match="went missing"):
        write_manifest(manifest, broken())
    assert [u.text for u in read_manifest(manifest, require_audio=False)] == ["one"]
    lm = manifest.parent / "lm.arpa"
    model = build_arpa(["one two", "two one"], order=2)
    write_arpa(model, lm)
    before = lm.read_text()
    model.probs[("three",)] = "not a number"  # type: ignore[assignment]
    with pytest.raises(ValueError):
        write_arpa(model, lm)
    assert lm.read_text() == before and temporaries(manifest.parent) == []


def test_two_concurrent_writers_never_share_a_temporary(tmp_path):
    path = tmp_path / "state.json"
    both_open = threading.Barrier(2, timeout=10)
    seen: list[str] = []

    def writer(text: str) -> None:
        def write(handle):
            handle.write(text.encode()[:5])
            seen.append(handle.name)
            both_open.wait()  # both temporaries exist now
            handle.write(text.encode()[5:])

        atomic_write(path, write)

    threads = [threading.Thread(target=writer, args=(text * 1000,)) for text in ("first ", "second ")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 2 and all(Path(name).parent == tmp_path for name in seen)
    assert path.read_text() in ("first " * 1000, "second " * 1000)  # one writer's file, whole
    assert temporaries(tmp_path) == []
    atomic_write_text(path, "text")
    assert path.read_text() == "text"


def test_frame_energy_is_one_measure():
    rng = np.random.default_rng(3)
    samples = (rng.standard_normal(1234) * np.linspace(0, 1, 1234)).astype(np.float32)
    blocks = samples[:1200].astype(np.float64).reshape(-1, 80)
    np.testing.assert_allclose(frame_power(samples, 80), (blocks**2).mean(1))
    np.testing.assert_allclose(block_levels(samples, 80), 10 * np.log10((blocks**2).mean(1) + 1e-12))
    frames = np.lib.stride_tricks.sliding_window_view(samples.astype(np.float64), 200)[::80]
    np.testing.assert_allclose(frame_levels(samples, RATE), 10 * np.log10((frames**2).mean(1) + 1e-12))
    assert block_levels(np.zeros(79), 80).size == 0 and frame_levels(np.zeros(0), RATE).tolist() == [-120.0]


def test_trim_silence_keeps_its_behaviour():
    torch = pytest.importorskip("torch")
    from data_prep.connected import trim_silence

    wave = torch.cat([torch.zeros(800), 0.5 * torch.sin(torch.arange(1600) / 3.0), 1e-4 * torch.ones(900)])
    assert trim_silence(wave, RATE).numel() == 1600 and trim_silence(torch.zeros(500), RATE).numel() == 500


def test_the_shared_input_helpers_import_no_pytorch():
    code = ("import sys, asr.audio, asr.files, asr.speech_detect, asr.segment; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
