"""Decoding cost: greedy against beam search (lexicon-free, + lexicon, + lexicon + LM) at several beam sizes,
and PyTorch float against int8 (dynamically quantized) and onnxruntime networks, on the same connected-digit
files in one run.

    python bench/bench_decoding.py --model exp/fsdd/model.pt --data-dir ../shared/data/fsdd [--files 200]

The network's output is computed once; the decoder rows time the search alone, per second of audio.
The network rows time features + network (float, then int8) with greedy search, and give their WER.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from digit_strings import connected_digit_strings

from asr.audio import load_audio
from asr.decoding import Decoding
from asr.loading import load_model
from asr.onnx_export import export_onnx
from asr.report import markdown_table
from asr.scoring import score
from data_prep.fsdd import DIGIT_WORDS as DIGITS


def best_of(repeats: int, run) -> tuple[float, object]:  # noqa: ANN001
    """Shortest wall time of ``repeats`` runs and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a digits model (recipes/fsdd)")
    parser.add_argument("--data-dir", required=True, help="FSDD folder")
    parser.add_argument("--files", type=int, default=200, help="connected-digit files to decode")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 4, 16, 64, 256])
    parser.add_argument("--lm", help="ARPA LM (default: digits.arpa beside the model)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model_path = Path(args.model)
    lm = args.lm or str(model_path.parent / "digits.arpa")
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    utts = connected_digit_strings(args.data_dir, args.files, work)
    refs = [u.text for u in utts]
    audio_seconds = sum(u.duration for u in utts)

    recognizer = load_model(model_path)
    waveforms = [load_audio(u.audio, recognizer.sample_rate) for u in utts]

    # Network cost: float against int8, greedy search, features included.
    network_rows = []
    int8 = load_model(model_path).quantized()
    onnx_model = load_model(export_onnx(load_model(model_path), work / "model.onnx"))
    baseline = None
    for name, model in (("PyTorch float32", recognizer), ("PyTorch int8 dynamic", int8),
                        ("onnxruntime float32", onnx_model)):
        model.transcribe_waveforms(waveforms[:8])  # warm-up
        seconds, results = best_of(3, lambda m=model: m.transcribe_waveforms(waveforms, batch_size=32))
        baseline = baseline or seconds
        network_rows.append([name, f"{seconds / audio_seconds:.5f}", f"{baseline / seconds:.2f}x",
                             f"{100 * score(refs, [r.text for r in results]).wer:.2f}%"])

    # Search cost alone, on log-probabilities computed once.
    batches = []
    for start in range(0, len(waveforms), 32):
        batches.append(recognizer.log_probs(waveforms[start : start + 32]))

    decoder = recognizer.with_greedy().decoder

    def decode_all() -> list[str]:
        return [t.text for log_probs, lengths in batches for t in decoder(log_probs, lengths)]

    greedy_seconds, texts = best_of(3, decode_all)
    rows = [["greedy", "-", f"{1000 * greedy_seconds / audio_seconds:.3f}", "1.0x",
             f"{100 * score(refs, texts).wer:.2f}%"]]
    for setting, lexicon, lm_path in (("beam", None, None), ("beam + lexicon", DIGITS, None),
                                      ("beam + lexicon + LM", DIGITS, lm)):
        for beam in args.beams:
            decoder = recognizer.with_beam_search(Decoding.beam(beam_size=beam, lm_weight=0.5), lexicon=lexicon,
                                                  lm=lm_path).decoder
            seconds, texts = best_of(2, decode_all)
            rows.append([setting, beam, f"{1000 * seconds / audio_seconds:.3f}", f"{seconds / greedy_seconds:.1f}x",
                         f"{100 * score(refs, texts).wer:.2f}%"])

    print(f"{len(utts)} files, {audio_seconds:.0f} s of 8 kHz connected digits, torch threads 2, best of 2-3\n")
    print("Network (features + network + greedy search), float against int8 and onnxruntime:\n")
    print(markdown_table(["network", "RTF", "speed-up", "WER"], network_rows))
    print("\nSearch alone (network output computed once):\n")
    print(markdown_table(["decoder", "beam", "ms per audio second", "time vs greedy", "WER"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
