"""Where a ``transcribe`` of many short files spends its time, how far the network is from its compute floor,
and what int8 weights, threads and batching change (speed, and accuracy on speakers no training saw).

    python bench/bench_runtime.py --data-dir ../shared/data [--model digits] [--files 88] [--repeats 3]
    python bench/bench_runtime.py --model english --manifest so762=exp/english/groups/so762-children.jsonl ...

Speed material: ``--files`` connected-digit strings of 3-7 FSDD takes (about 3 s each) and as many isolated FSDD
takes (about 0.5 s each), at the model's rate. Accuracy material (no digits model trained on either): the digit
strings of the digits recipe's AN4 validation speakers and speechocean762's digit strings (children and adults).
``--manifest NAME=PATH`` (for a model that knows more than digits, such as the English recipe's held-out speakers
in EXP/groups/): each manifest's utterances (at most ``--files``, drawn as bench_peers draws) are both a speed set
and a held-out set, and the first is the one section (1) splits.

(1) The split of one ``transcribe_files`` pass over the 3-s strings, float model: reading and resampling, finding
    speech, the ONNX graph (onnxruntime's own profile splits it into the feature graph, the convolutional front
    end, the recurrent layers and the rest), the search, and what is left (Python between the pieces).
(2) The compute floor: the network's multiply-adds per second of audio (from the model's shape) over this CPU's
    float32 matrix-multiply throughput (NumPy's BLAS at the LSTM's input-projection shape, same thread count),
    against the time the recurrent layers and front end took.
(3) End-to-end RTF of ``transcribe_files`` (reading included, loading excluded) for float and int8 weights
    (``asr export --int8``, made here from the float ONNX file), 1 and 2 threads, batch 16 and batch 1, with the
    WER of each on the held-out sets; and the float model with greedy decoding instead of its stored one (what
    the search costs).
Best of ``--repeats`` passes. RTF = processing seconds / audio seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_padded import speechocean_strings  # noqa: E402
from bench_peers import manifest_sets  # noqa: E402
from digit_strings import connected_digit_strings  # noqa: E402

from asr.audio import audio_info, read_audio  # noqa: E402
from asr.loading import packaged_model_path  # noqa: E402
from asr.onnx_int8 import export_int8  # noqa: E402
from asr.onnx_model import OnnxRecognizer, load_onnx_model  # noqa: E402
from asr.report import markdown_table  # noqa: E402
from asr.scoring import score  # noqa: E402
from asr.speech_detect import find_utterances  # noqa: E402


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """The fastest of ``repeats`` timed calls, in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def an4_held_out_digit_strings(data: Path, work: Path) -> list[tuple[str, str]]:
    """The digit strings of the digits recipe's AN4 validation speakers: its decoding was chosen on them, but no
    digits model trained on them (shared/ holds AN4's training part only)."""
    spec = importlib.util.spec_from_file_location("digits_recipe", REPO / "recipes" / "digits" / "run.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    return [(u.audio, u.text) for u in recipe.prepare(data, work / "digits").an4_valid]


def network_macs_per_second(model: OnnxRecognizer) -> float:
    """Multiply-adds per second of audio of the front end, the recurrent stack and the output layer."""
    features, shape = model.spec.features, model.spec.model
    frames = 1.0 / model.frame_seconds  # output frames a second
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[shape["rnn_type"]]
    hidden, directions = shape["hidden_size"], 2 if shape["bidirectional"] else 1
    freq, channels, conv = features["n_mels"], shape["conv_channels"], 0.0
    input_frames = frames * shape["subsampling"]
    for _ in range(shape["subsampling"].bit_length() - 1):  # stride-2 3x3 convolutions
        freq, input_frames = (freq + 1) // 2, input_frames / 2
        conv += input_frames * freq * channels * 9 * (1 if conv == 0 else channels)
    size = channels * freq if shape["subsampling"] > 1 else features["n_mels"]
    recurrent = 0.0
    for _ in range(shape["num_layers"]):
        recurrent += frames * directions * gates * hidden * (size + hidden)
        size = directions * hidden
    return conv + recurrent + frames * size * len(model.vocab)


def gemm_macs_per_second(rows: int, inner: int, columns: int, repeats: int = 20) -> float:
    """This CPU's float32 matrix multiply throughput (multiply-adds a second) at one shape, NumPy's BLAS."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, inner), dtype=np.float32)
    b = rng.standard_normal((inner, columns), dtype=np.float32)
    seconds = best_of(repeats, lambda: a @ b)
    return rows * inner * columns / seconds


def onnx_profile(path: Path, waveforms: Sequence[np.ndarray], threads: int, batch: int) -> dict[str, float]:
    """Seconds per part of the graph (onnxruntime's node profile) for one pass over ``waveforms``."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = os.path.join(folder, "profile")
        model = load_onnx_model(path, threads)
        model.session = onnxruntime.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
        order = sorted(range(len(waveforms)), key=lambda i: len(waveforms[i]))
        for start in range(0, len(order), batch):
            model.log_probs([waveforms[i] for i in order[start : start + batch]])
        events = json.loads(Path(model.session.end_profiling()).read_text())
    parts: dict[str, float] = defaultdict(float)
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        name = event["name"]
        part = ("features" if name.startswith("/features/") else "front end" if "/frontend/" in name
                else "recurrent layers" if "/rnn/" in name else "rest of the graph")
        parts[part] += event["dur"] / 1e6
    return dict(parts)


def split_of_a_pass(model: OnnxRecognizer, paths: Sequence[str], repeats: int) -> dict[str, float]:
    """Seconds of each piece of ``transcribe_files`` over ``paths``, timed one piece at a time."""
    rate = model.sample_rate
    pieces: dict[str, float] = {}
    pieces["reading and resampling"] = best_of(repeats, lambda: [read_audio(p, rate) for p in paths])
    waveforms = [read_audio(p, rate) for p in paths]
    pieces["finding speech"] = best_of(repeats, lambda: [find_utterances(w, rate, model.speech_config)
                                                          for w in waveforms])
    utterances = [audio for w in waveforms for audio, _ in find_utterances(w, rate, model.speech_config)]
    order = sorted(range(len(utterances)), key=lambda i: len(utterances[i]))
    batches = [[utterances[i] for i in order[s : s + 16]] for s in range(0, len(order), 16)]
    outputs = [model.log_probs(b) for b in batches]
    pieces["ONNX graph"] = best_of(repeats, lambda: [model.log_probs(b) for b in batches])
    pieces["search (stored decoding)"] = best_of(repeats, lambda: [model.decoder(lp, n) for lp, n in outputs])
    pieces["whole transcribe_files"] = best_of(repeats, lambda: list(model.transcribe_files(paths)))
    return pieces


def transcribe_seconds(model: OnnxRecognizer, paths: Sequence[str], batch: int, repeats: int) -> float:
    return best_of(repeats, lambda: list(model.transcribe_files(paths, batch_size=batch)))


def wer_of(model: OnnxRecognizer, material: Sequence[tuple[str, str]]) -> float:
    hypotheses = [t.text if not isinstance(t, Exception) else "" for _, t in
                  model.transcribe_files([p for p, _ in material])]
    return score([ref for _, ref in material], hypotheses).wer


def report_split(model: OnnxRecognizer, source: Path, name: str, paths: Sequence[str], audio: float,
                 repeats: int) -> dict:
    """Section (1) over the speed set ``name``; returns the graph's seconds and onnxruntime's split of them."""
    threads = model.session.get_session_options().intra_op_num_threads
    split = split_of_a_pass(model, paths, repeats)
    waveforms = [read_audio(p, model.sample_rate) for p in paths]
    utterances = [a for w in waveforms for a, _ in find_utterances(w, model.sample_rate, model.speech_config)]
    graph = onnx_profile(source, utterances, threads, 16)
    whole = split.pop("whole transcribe_files")
    split["the rest (Python between the pieces)"] = whole - sum(split.values())
    rows = [[name, f"{1000 * value / len(paths):.2f}", f"{100 * value / whole:.0f}%"] for name, value in split.items()]
    rows.append(["**whole transcribe_files**", f"{1000 * whole / len(paths):.2f}", f"RTF {whole / audio:.4f}"])
    print(f"## (1) One pass over {name}, float weights, batch 16\n")
    print(markdown_table(["piece", "ms per file", "share"], rows))
    profiled = sum(graph.values())
    print("onnxruntime's profile of the graph (one pass, its own timer): " + ", ".join(
        f"{name} {100 * value / profiled:.0f}%" for name, value in sorted(graph.items(), key=lambda kv: -kv[1]))
        + "\n")
    return {"seconds": split["ONNX graph"], "parts": graph}


def report_floor(model: OnnxRecognizer, graph: dict, audio: float) -> None:
    """Section (2): the network's time against its multiply-adds at this CPU's GEMM throughput."""
    threads = model.session.get_session_options().intra_op_num_threads
    macs, hidden = network_macs_per_second(model), model.spec.model["hidden_size"]
    gemm = gemm_macs_per_second(1000, 640, 4 * hidden)
    parts = graph["parts"]
    network = graph["seconds"] * (1 - parts.get("features", 0) / sum(parts.values()))
    floor = macs * audio / gemm
    print("## (2) The network against its compute floor\n")
    print(f"{macs / 1e6:.0f} M multiply-adds per second of audio; this CPU's float32 GEMM (1000x640 by "
          f"640x{4 * hidden}, {threads} threads): {gemm / 1e9:.1f} G multiply-adds/s, so the floor for the "
          f"{audio:.0f} s is {1000 * floor:.0f} ms; the network took {1000 * network:.0f} ms "
          f"({network / floor:.1f}x the floor).\n")


def report_variants(models: dict[str, Path], speed_sets: dict[str, list[str]], seconds: dict[str, float],
                    held_out: dict[str, list[tuple[str, str]]], threads: int, repeats: int) -> None:
    """Section (3): end-to-end RTF per weights, threads and batch; held-out WER at the default settings."""
    rows = []
    for label, path in models.items():
        for run_threads in sorted({1, threads}):
            variant = load_onnx_model(path, run_threads)
            for batch in (16, 1):
                times = [transcribe_seconds(variant, speed_sets[n], batch, repeats) for n in speed_sets]
                scored = batch == 16 and run_threads == threads
                wers = [f"{100 * wer_of(variant, m):.2f}%" if scored else "" for m in held_out.values()]
                rows.append([label, "stored", str(run_threads), str(batch)]
                            + [f"{t / seconds[n]:.4f}" for t, n in zip(times, speed_sets, strict=True)] + wers)
    greedy = load_onnx_model(models["float"], threads).with_greedy()
    times = [transcribe_seconds(greedy, speed_sets[n], 16, repeats) for n in speed_sets]
    rows.append(["float", "greedy", str(threads), "16"]
                + [f"{t / seconds[n]:.4f}" for t, n in zip(times, speed_sets, strict=True)]
                + [f"{100 * wer_of(greedy, m):.2f}%" for m in held_out.values()])
    print("## (3) End-to-end RTF and held-out WER\n")
    print(f"Stored decoding: {describe_stored(models['float'])}.\n")
    print(markdown_table(["weights", "decoding", "threads", "batch"] + [f"RTF {n}" for n in speed_sets]
                         + [f"WER {n}" for n in held_out], rows))
    print("File sizes: " + ", ".join(f"{label} {path.stat().st_size / 1e6:.1f} MB" for label, path in models.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data", help="folder holding fsdd/, an4/, speechocean762/")
    parser.add_argument("--model", default="digits", help="packaged model name or float .onnx file (default digits)")
    parser.add_argument("--files", type=int, default=88, help="files of each speed set (default 88)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the best counts (default 3)")
    parser.add_argument("--manifest", nargs="+", default=None, metavar="NAME=PATH",
                        help="speed and held-out sets from JSON Lines manifests instead of the digits material "
                             "(the English recipe's held-out speakers: EXP/groups/*.jsonl)")
    args = parser.parse_args()
    data = Path(args.data_dir)
    source = Path(args.model) if args.model.endswith(".onnx") else packaged_model_path(args.model)
    threads = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if args.manifest:
            sets = manifest_sets(args.manifest, args.files)[0]
            speed_sets = {s.name: [u.audio for u in s.utterances] for s in sets}
            held_out = {s.name: [(u.audio, u.text) for u in s.utterances] for s in sets}
        else:
            speed_sets, held_out = digits_material(data, args.files, work)
        seconds = {name: sum(audio_info(p).duration for p in paths) for name, paths in speed_sets.items()}
        models = {"float": source, "int8": export_int8(source, work / "int8.onnx")}
        print(f"# Runtime profile: {source.name}, {threads} cores ({cpu_name()}), {time.strftime('%Y-%m-%d')}\n")
        print("Speed sets: " + ", ".join(f"{n} ({len(p)} files, {seconds[n]:.0f} s of audio)"
                                         for n, p in speed_sets.items())
              + "; held out: " + ", ".join(f"{n} ({len(m)})" for n, m in held_out.items()) + ".\n")
        model = load_onnx_model(source, threads)
        first = next(iter(speed_sets))
        list(model.transcribe_files(speed_sets[first][:8]))  # warm-up
        graph = report_split(model, source, first, speed_sets[first], seconds[first], args.repeats)
        report_floor(model, graph, seconds[first])
        report_variants(models, speed_sets, seconds, held_out, threads, args.repeats)
    return 0


def digits_material(data: Path, files: int, work: Path) -> tuple[dict[str, list[str]],
                                                                 dict[str, list[tuple[str, str]]]]:
    """The digits models' speed sets (3-s FSDD strings, isolated takes) and held-out digit strings."""
    strings = connected_digit_strings(str(data / "fsdd"), files, work / "strings")
    clips = [str(p) for p in random.Random(0).sample(sorted((data / "fsdd" / "recordings").glob("*.wav")), files)]
    speed_sets = {"3-s strings": [u.audio for u in strings], "short clips": clips}
    held_out = {"AN4 held-out digit strings": an4_held_out_digit_strings(data, work),
                "speechocean762 digit strings": [(str(p), t) for p, t in speechocean_strings(data)]}
    return speed_sets, held_out


def describe_stored(path: Path) -> str:
    return load_onnx_model(path, 1).spec.decoding.summary()


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
