"""Inference speed: real-time factor of our recogniser (greedy, beam + lexicon + LM) against pocketsphinx
(its bundled en-us model with a digit grammar) on the same connected-digit files, in the same run; and the
wall time of one whole ``transcribe`` process on one short file.

    python bench/bench_inference.py --model exp/fsdd/model.pt --data-dir ../shared/data/fsdd [--files 300]

RTF = processing seconds / audio seconds (lower is faster). Audio reading is timed for every system.
pocketsphinx needs 16 kHz input, so its time includes resampling the 8 kHz files.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from digit_strings import connected_digit_strings

from asr.audio import load_audio
from asr.loading import load_model
from asr.onnx_export import export_onnx
from asr.report import markdown_table
from asr.scoring import score
from data_prep.fsdd import DIGIT_WORDS as DIGITS


def time_ours(model_path: Path, files: list[str], beam: dict | None,
              quantize: bool = False) -> tuple[float, float, list[str]]:
    """Seconds with model load excluded and included, and the transcripts."""
    started = time.perf_counter()
    model = load_model(model_path)
    if quantize:
        model = model.quantized()
    if beam is not None:
        model = model.with_beam_search(lexicon=beam["lexicon"], lm=beam["lm"])
    loaded = time.perf_counter()
    waveforms = [load_audio(f, model.sample_rate) for f in files]
    texts = [t.text for t in model.transcribe_waveforms(waveforms, batch_size=32)]
    done = time.perf_counter()
    return done - loaded, done - started, texts


def time_pocketsphinx(files: list[str]) -> tuple[float, float, list[str]] | None:
    try:
        from pocketsphinx import Decoder
    except ImportError:
        return None
    grammar = "#JSGF V1.0;\ngrammar digits;\npublic <digits> = ( " + " | ".join(DIGITS) + " )+ ;\n"
    started = time.perf_counter()
    with tempfile.NamedTemporaryFile("w", suffix=".gram", delete=False) as handle:
        handle.write(grammar)
    decoder = Decoder(jsgf=handle.name, samprate=16000, loglevel="FATAL")
    loaded = time.perf_counter()
    texts = []
    for f in files:
        audio = (load_audio(f, 16000).clamp(-1, 1) * 32767).to(torch.int16).numpy().tobytes()
        decoder.start_utt()
        decoder.process_raw(audio, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        texts.append(hyp.hypstr if hyp is not None else "")
    done = time.perf_counter()
    return done - loaded, done - started, texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a digits model (recipes/fsdd)")
    parser.add_argument("--data-dir", required=True, help="FSDD folder")
    parser.add_argument("--files", type=int, default=300, help="connected-digit files to build and decode")
    parser.add_argument("--lm", help="ARPA LM for the beam row (default: digits.arpa beside the model)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model_path = Path(args.model)
    lm = args.lm or str(model_path.parent / "digits.arpa")
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    utts = connected_digit_strings(args.data_dir, args.files, work)
    files, refs = [u.audio for u in utts], [u.text for u in utts]
    audio_seconds = sum(u.duration for u in utts)

    onnx_path = export_onnx(load_model(model_path), work / "model.onnx")
    rows, baseline = [], None
    runs = [("pocketsphinx en-us + digit grammar", lambda: time_pocketsphinx(files)),
            ("ours, greedy", lambda: time_ours(model_path, files, None)),
            ("ours, beam 16 + lexicon + LM", lambda: time_ours(model_path, files, {"lexicon": DIGITS, "lm": lm})),
            ("ours, greedy, int8 (--quantize)", lambda: time_ours(model_path, files, None, quantize=True)),
            ("ours, greedy, ONNX (onnxruntime)", lambda: time_ours(onnx_path, files, None)),
            ("ours, beam 16 + lexicon + LM, ONNX", lambda: time_ours(onnx_path, files, {"lexicon": DIGITS,
                                                                                        "lm": lm}))]
    for name, run in runs:
        measured = run()
        if measured is None:
            rows.append([name, "not installed (pip install -e '.[bench]')", "", "", ""])
            continue
        excl, incl, texts = measured
        rtf = excl / audio_seconds
        baseline = baseline or rtf
        rows.append([name, f"{rtf:.4f}", f"{incl / audio_seconds:.4f}", f"{baseline / rtf:.1f}x",
                     f"{100 * score(refs, texts).wer:.2f}%"])
    short = files[0]
    walls: dict[str, list[float]] = {}
    commands = {"python3 -c 'import torch' (the floor)": [sys.executable, "-c", "import torch"],
                "transcribe, model.pt": [sys.executable, "-m", "asr", "transcribe", "--model", str(model_path), short],
                "transcribe, model.onnx": [sys.executable, "-m", "asr", "transcribe", "--model", str(onnx_path),
                                           short]}
    for _ in range(5):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            walls.setdefault(name, []).append(time.perf_counter() - started)
    print(f"{len(files)} files, {audio_seconds:.0f} s of 8 kHz connected digits (FSDD speakers), torch threads 2\n")
    print(markdown_table(["system", "RTF (load excluded)", "RTF (load included)", "speed vs pocketsphinx",
                          "WER"], rows))
    print(f"\nOne whole process on one {utts[0].duration:.1f} s file, start-up included (5 runs each, interleaved):\n")
    floor = statistics.median(next(iter(walls.values())))
    print(markdown_table(["command", "median", "vs import torch", "runs"],
                         [[name, f"{statistics.median(w):.2f} s", f"{statistics.median(w) / floor:.2f}x",
                           ", ".join(f"{x:.2f}" for x in w)] for name, w in walls.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
