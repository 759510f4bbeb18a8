"""Command line: ``asr train | evaluate | transcribe | adapt | serve | export | build-lm`` and the ``transcribe``
shortcut.

The commands' argument parsing (recipes parse their own options through asr.recipe). User errors print one line
on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from asr.errors import AsrError

log = logging.getLogger("asr")


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake said in one ``error:`` line (and where to read more) like every other."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _confidence(text: str) -> float:
    value = _finite_float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to below 1, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 1-65535, got {value}")
    return value


def _check_output(path: str | None, *inputs: str | None) -> None:
    """Refuse, before any work starts, an output file that cannot be written or would overwrite an input."""
    if path is None:
        return
    output = Path(path)
    if output.is_dir():
        raise AsrError("is a folder; the output needs a file name", output)
    if not output.parent.is_dir():  # made when the output is written, as transcribe --output-dir is
        existing = next(folder for folder in output.parents if folder.exists())
        if not existing.is_dir():
            raise AsrError(f"cannot make the folder {output.parent}: {existing} is a file", output)
    for source in inputs:
        if source and output.exists() and Path(source).exists() and output.samefile(source):
            raise AsrError("the output would overwrite an input; choose another name", output)


def _make_parent(path: str | os.PathLike[str]) -> None:
    """Make the folder an output goes into (checked by :func:`_check_output` before the work)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AsrError(f"cannot make the folder {Path(path).parent} ({error.strerror or error})", path) from None


#: The file extension each --format writes into --output-dir.
_EXTENSIONS = {"text": "txt", "json": "json", "srt": "srt", "vtt": "vtt"}


def _output_paths(files: Sequence[str], folder: str, extension: str) -> dict[str, Path]:
    """FILE -> FOLDER/STEM.EXT for each input; refuses two inputs that would write the same file, and a file that
    would overwrite an input."""
    paths: dict[str, Path] = {}
    for name in files:
        target = Path(folder) / f"{Path(name).stem}.{extension}"
        clash = next((other for other, path in paths.items() if path == target), None)
        if clash is not None:
            raise AsrError(f"{clash} and {name} would both write {target}; rename one or run them separately")
        if target.exists() and Path(name).exists() and target.samefile(name):
            raise AsrError(f"the output {target} would overwrite the input; choose another --output-dir", name)
        paths[name] = target
    return paths


def _add_decoding_options(parser: argparse.ArgumentParser, quantize: bool = True) -> None:
    group = parser.add_argument_group(
        "decoding (the model file's own decoding unless these are given; each flag overrides one setting)")
    group.add_argument("--greedy", action="store_true", help="greedy decoding, whatever the model file stores")
    group.add_argument("--beam", type=_positive_int, default=None, metavar="N",
                       help="beam search with N hypotheses (default: the model's beam, else 16)")
    group.add_argument("--lm", metavar="ARPA", help="word n-gram language model in ARPA format (replaces the "
                       "model's own LM)")
    group.add_argument("--lexicon", metavar="FILE", help="allowed words, one per line (replaces the model's own "
                       "lexicon; default with --lm and no lexicon stored: the LM's vocabulary)")
    group.add_argument("--lm-weight", type=_non_negative_float, default=None, help="language model weight, 0 or "
                       "more (default: the model's, else 0.5)")
    group.add_argument("--word-score", type=_finite_float, default=None, help="word insertion bonus, negative for "
                       "a penalty (default: the model's, else 0.0)")
    group.add_argument("--grammar", metavar="PHRASES", default=None,
                       help="say what may be said: a JSON list of phrases as Vosk takes it ('[\"yes\", \"no\", "
                            "\"[unk]\"]'), a file of one phrase per line, or a built-in: 'digits' (any string of "
                            "digit words) or 'yesno'. Each utterance comes out as exactly one phrase; '[unk]' "
                            "stands for anything else")
    group.add_argument("--rejection", type=_finite_float, default=None, metavar="T",
                       help="with --grammar: how much better than 'anything else' a phrase must score to be "
                            "output (higher rejects more; default: the calibrated one, see README)")
    group.add_argument("--reject", action="store_true",
                       help="with a grammar without '[unk]': utterances that fit none of its phrases give an "
                            "empty transcript instead of the nearest phrase")
    group.add_argument("--min-confidence", type=_confidence, default=None, metavar="C",
                       help="leave out words whose confidence is below C (0-1; default: the model's, else keep "
                            "every word); combines with any decoding")
    if quantize:
        group.add_argument("--quantize", action="store_true",
                           help="int8 dynamic quantization of the recurrent and output layers (faster on CPU); "
                                "an .onnx model (the packaged ones too) needs the onnx package (the [onnx] extra)")


def _apply_decoding_options(recognizer, args: argparse.Namespace):  # noqa: ANN001, ANN202
    """The recogniser that decodes as the model file says, each flag given on the command line overriding
    one setting (:meth:`asr.decoding.Decoding.overridden`, the one merge)."""
    if getattr(args, "quantize", False):
        recognizer = recognizer.quantized()
    flags = {"--beam": args.beam, "--lm": args.lm, "--lexicon": args.lexicon, "--lm-weight": args.lm_weight,
             "--word-score": args.word_score, "--grammar": args.grammar, "--rejection": args.rejection,
             "--reject": args.reject or None}
    given = [flag for flag, value in flags.items() if value is not None]
    if args.greedy and given:
        raise AsrError(f"--greedy cannot be combined with {', '.join(given)}")
    if args.grammar is not None and (args.lexicon or args.lm):
        raise AsrError("--grammar decides the words itself: it cannot be combined with --lexicon or --lm")
    if args.lexicon:  # checked here to name the file: the decoder sees only its words
        from asr.decode import check_spellable
        from asr.decoding import read_words

        check_spellable(read_words(args.lexicon), recognizer.vocab, args.lexicon)
    decoding = recognizer.stored_decoding.overridden(
        greedy=args.greedy, grammar=args.grammar, lexicon=args.lexicon, lm=args.lm, beam_size=args.beam,
        lm_weight=args.lm_weight, word_score=args.word_score, rejection=args.rejection,
        reject=True if args.reject else None, min_confidence=args.min_confidence)
    if (args.rejection is not None or args.reject) and decoding.method != "grammar":
        raise AsrError("--rejection and --reject apply to a grammar: give --grammar too (or use a model whose "
                       "stored decoding is one)")
    return recognizer if decoding == recognizer.decoding else recognizer.with_decoding(decoding)


def _model_help() -> str:
    from asr.loading import DEFAULT_MODEL, PACKAGED_MODELS

    names = "; ".join(f"'{name}' (also '{file}' or '{Path(file).stem}')" for name, file in PACKAGED_MODELS.items())
    return (f"model file (model.pt, or model.onnx from asr export) or a packaged model's name: {names}; default: "
            f"'{DEFAULT_MODEL}', the packaged open-vocabulary English model ('digits' knows the words zero to "
            "nine only, and reads them best)")


_MODEL_HELP = _model_help()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="asr", description="Speech recognition: train, evaluate, transcribe.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model on a manifest",
                           description="Train a BiRNN + CTC model. Writes model.pt (best), last.pt, "
                                       "train_state.pt, metrics.jsonl and config.json to --exp-dir.")
    train.add_argument("--train-manifest", required=True, help="JSON Lines manifest of training utterances")
    train.add_argument("--valid-manifest", help="manifest for validation WER/CER after each epoch")
    train.add_argument("--exp-dir", required=True, help="experiment folder for models and logs")
    train.add_argument("--config", help="TOML config with [features], [model], [spec_augment], [train] tables")
    train.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                       help="override one config value, e.g. --set train.epochs=5 (repeatable)")
    train.add_argument("--no-resume", action="store_true",
                       help="start afresh even if --exp-dir holds an interrupted run")

    evaluate = sub.add_parser("evaluate", help="score a model on a manifest",
                              description="Transcribe a manifest and print WER and CER.")
    evaluate.add_argument("--model", default=None, help=_MODEL_HELP)
    evaluate.add_argument("--manifest", required=True, help="JSON Lines manifest with reference texts")
    evaluate.add_argument("--output", help="write per-utterance results (JSON Lines) here")
    evaluate.add_argument("--report", help="write a Markdown error report here: totals, frequent confusions, "
                          "aligned utterances worst first (default with --output: OUTPUT stem + .errors.md)")
    _add_decoding_options(evaluate)

    transcribe = sub.add_parser("transcribe", help="transcribe audio files",
                                description="Print FILE<TAB>TRANSCRIPT per file, in order.")
    _add_transcribe_arguments(transcribe)

    adapt = sub.add_parser("adapt", help="adapt a model to new audio without transcripts (self-training)",
                           description="Decode the audio, keep the most confident transcripts as pseudo-labels and "
                           "fine-tune on them; repeat for --rounds. Use audio of one new speaker or domain. The "
                           "decoding options choose how the pseudo-labels are made (beam search with a lexicon "
                           "gives better labels where the vocabulary is closed).")
    adapt.add_argument("--model", required=True, help="model file (model.pt; an ONNX file cannot be trained)")
    adapt.add_argument("--output", required=True, help="adapted model file to write")
    adapt.add_argument("files", nargs="*", metavar="FILE", help="untranscribed audio files")
    adapt.add_argument("--manifest", help="JSON Lines manifest of the audio (its texts are ignored)")
    adapt.add_argument("--rounds", type=_positive_int, default=2, help="decode + fine-tune rounds (default 2)")
    adapt.add_argument("--keep", type=float, default=0.8,
                       help="fraction of the audio kept as pseudo-labels, most confident first (default 0.8)")
    adapt.add_argument("--epochs", type=_positive_int, default=6, help="fine-tuning epochs per round (default 6)")
    adapt.add_argument("--lr", type=_positive_float, default=5e-4, help="fine-tuning learning rate (default 5e-4)")
    _add_decoding_options(adapt, quantize=False)  # the float model is what fine-tuning changes

    serve = sub.add_parser("serve", help="serve a model over HTTP, with a web page at /",
                           description="POST /transcribe (multipart field 'file') returns the JSON transcript; "
                           "GET /health; GET / is a web page to upload or record audio.")
    serve.add_argument("--model", default=None, help=_MODEL_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; "
                       "0.0.0.0 for every interface)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    serve.add_argument("--max-upload-mb", type=_positive_float, default=50.0, help="largest upload in MiB (default 50)")
    serve.add_argument("--max-seconds", type=_positive_float, default=600.0,
                       help="longest audio in seconds (default 600)")
    _add_decoding_options(serve)

    export = sub.add_parser("export", help="export a model to ONNX (run by onnxruntime; load it like a .pt file)",
                            description="Writes the network and all settings into one .onnx file; every command "
                            "and asr.load_model accept it in place of model.pt. With an .onnx model (a packaged "
                            "one among them) and a .pt output, writes its PyTorch model file back, to fine-tune "
                            "(train.init_from) or adapt it.")
    export.add_argument("--model", required=True, help="model file (model.pt; with --int8 or a .pt output an "
                        "exported float model.onnx or a packaged model's name)")
    export.add_argument("--output", required=True, help="ONNX file to write (model.onnx), or model.pt")
    export.add_argument("--int8", action="store_true",
                        help="store the recurrent and output weights as int8 (onnxruntime dynamic quantization): "
                             "a third of the size, about twice as fast on a CPU")

    build_lm = sub.add_parser("build-lm", help="build an ARPA n-gram LM from text",
                              description="Estimate an interpolated Kneser-Ney word n-gram model.")
    build_lm.add_argument("--text", required=True, help="text file, one sentence per line")
    build_lm.add_argument("--output", required=True, help="ARPA file to write")
    build_lm.add_argument("--order", type=_positive_int, default=2, help="n-gram order (default 2)")
    build_lm.add_argument("--discount", type=_finite_float, default=0.7, help="absolute discount in (0, 1)")
    return parser


def _add_transcribe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help=_MODEL_HELP)
    parser.add_argument("files", nargs="*", metavar="FILE", help="audio files (WAV, FLAC, OGG, ...)")
    parser.add_argument("--stream", metavar="SOURCE",
                        help="live transcription: '-' reads raw 16-bit little-endian mono PCM from standard input "
                             "(at --rate), a file is played through the same path; partial text on one refreshed "
                             "line (on a terminal), each final result on its own line")
    parser.add_argument("--rate", type=_positive_int, default=None,
                        help="with --stream - only: the PCM's sample rate (default 16000; a file's own header gives "
                             "its rate)")
    parser.add_argument("--chunk-ms", type=_positive_int, default=None,
                        help="with --stream only: audio per chunk in ms (default 100)")
    parser.add_argument("--realtime", action="store_true",
                        help="with --stream FILE: feed the file at the pace it would be spoken")
    parser.add_argument("--format", choices=["text", "json", "srt", "vtt"], default="text",
                        help="text: FILE<TAB>TRANSCRIPT; json: one object per line with words and times; "
                             "srt/vtt: subtitles (to --output-dir, or to stdout for a single file)")
    parser.add_argument("--output-dir", help="write one file per input here instead of to standard output: "
                        "FILE_STEM.txt (the transcript), .json, .srt or .vtt after --format; made if missing")
    parser.add_argument("--batch-size", type=_positive_int, default=16, help="files decoded together (default 16)")
    _add_decoding_options(parser)


def run_train(args: argparse.Namespace) -> int:
    from asr.config import load_config
    from asr.distributed import start_distributed, stop_distributed
    from asr.manifest import read_manifest
    from asr.train import train

    config = load_config(args.config, args.set)
    train_utts = read_manifest(args.train_manifest)
    valid_utts = read_manifest(args.valid_manifest) if args.valid_manifest else None
    dist = start_distributed(config.train.device)
    try:
        result = train(config, train_utts, valid_utts, args.exp_dir, resume=not args.no_resume, dist=dist)
    finally:
        stop_distributed(dist)
    if dist.is_main:
        print(f"best model: {result.best_model}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from asr.evaluate import NothingDecoded, evaluate
    from asr.loading import load_model
    from asr.manifest import read_manifest

    report = args.report or (str(Path(args.output).with_suffix(".errors.md")) if args.output else None)
    _check_output(args.output, args.manifest, args.model)
    _check_output(report, args.manifest, args.model)
    recognizer = load_model(args.model)
    recognizer = _apply_decoding_options(recognizer, args)
    prog = getattr(args, "prog", "asr")
    # an unreadable file is reported once and left out of the score, whether or not the manifest gives durations
    utterances = read_manifest(args.manifest, require_audio=False)
    for path in (args.output, report):
        if path:
            _make_parent(path)
    try:
        result = evaluate(recognizer, utterances, args.output, report=report, log_failures=False)
    except NothingDecoded as error:
        for _, reason in error.failed:
            print(f"{prog}: error: {reason}", file=sys.stderr)
        raise
    for _, reason in result.failed:
        print(f"{prog}: error: {reason}", file=sys.stderr)
    print(result.summary())
    if report:
        print(f"error report: {report}")
    return 1 if result.failed else 0


def _check_stream_options(args: argparse.Namespace) -> None:
    """Refuse a streaming option that the chosen input would ignore."""
    if args.stream is None:
        given = [flag for flag, value in (("--rate", args.rate), ("--chunk-ms", args.chunk_ms),
                                          ("--realtime", args.realtime or None)) if value is not None]
        if given:
            raise AsrError(f"{', '.join(given)} only with --stream (files are read whole, at their own sample rate)")
        return
    if args.files:
        raise AsrError("give either files or --stream, not both")
    if args.format not in ("text", "json"):
        raise AsrError(f"--stream prints text or json, not {args.format}")
    if args.output_dir:
        raise AsrError("--stream prints to standard output; --output-dir is for files")
    if args.stream != "-" and args.rate is not None:
        raise AsrError("--rate is for raw PCM on standard input (--stream -); a file's header gives its rate")
    if args.stream == "-" and args.realtime:
        raise AsrError("--realtime paces a file (--stream FILE); standard input arrives at its own pace")


def run_transcribe(args: argparse.Namespace) -> int:
    # No PyTorch import here: with a model.onnx, greedy decoding runs on onnxruntime alone (fast start-up).
    from asr.loading import load_model
    from asr.subtitles import to_srt, to_vtt

    prog = getattr(args, "prog", "transcribe")
    _check_stream_options(args)
    if args.stream is not None:
        from asr.stream_source import run_stream

        return run_stream(_apply_decoding_options(load_model(args.model), args), args.stream,
                          16000 if args.rate is None else args.rate, 100 if args.chunk_ms is None else args.chunk_ms,
                          args.realtime, args.format == "json")
    if not args.files:
        raise AsrError("give audio files to transcribe, or --stream - (PCM on standard input)")
    if args.format in ("srt", "vtt") and len(args.files) > 1 and not args.output_dir:
        raise AsrError(f"--format {args.format} with several files needs --output-dir")
    if args.output_dir and Path(args.output_dir).exists() and not Path(args.output_dir).is_dir():
        raise AsrError("--output-dir is not a folder", args.output_dir)
    output_paths = _output_paths(args.files, args.output_dir, _EXTENSIONS[args.format]) if args.output_dir else {}
    recognizer = load_model(args.model)
    recognizer = _apply_decoding_options(recognizer, args)
    status = 0
    for name, result in recognizer.transcribe_files(args.files, args.batch_size):
        if isinstance(result, AsrError):
            print(f"{prog}: error: {result}", file=sys.stderr)
            status = 1
            continue
        if args.format == "json":
            text = json.dumps({"file": name, **result.to_dict()}, ensure_ascii=False) + "\n"
        elif args.format in ("srt", "vtt"):
            text = (to_srt if args.format == "srt" else to_vtt)(result.words)
        else:
            text = f"{result.text}\n" if args.output_dir else f"{name}\t{result.text}\n"
        if args.output_dir:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            output_paths[name].write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        sys.stdout.flush()
    return status


def run_adapt(args: argparse.Namespace) -> int:
    from asr.adapt import AdaptConfig, adapt
    from asr.audio import audio_info
    from asr.manifest import Utterance, read_manifest
    from asr.recognizer import load_torch_model

    if Path(args.model).suffix.lower() == ".onnx":
        raise AsrError("an ONNX model cannot be fine-tuned: adapt the .pt model, then export it", args.model)
    if not args.files and not args.manifest:
        raise AsrError("give audio files or --manifest to adapt on")
    _check_output(args.output, args.model, args.manifest, *args.files)
    config = AdaptConfig(rounds=args.rounds, keep=args.keep, epochs=args.epochs, lr=args.lr)
    recognizer = load_torch_model(args.model)  # a bad model file is the one error, before any audio is looked at
    utterances = read_manifest(args.manifest, require_text=False) if args.manifest else []
    for name in args.files:
        try:
            utterances.append(Utterance(str(Path(name).resolve()), "", audio_info(name).duration))
        except AsrError as error:
            print(f"{getattr(args, 'prog', 'asr')}: error: {error} (skipped)", file=sys.stderr)
    recognizer = _apply_decoding_options(recognizer, args)
    # the rounds' summaries are printed below, once: asr.adapt's log of each (for recipes) would repeat them
    adapt_log = logging.getLogger("asr.adapt")
    level = adapt_log.level
    adapt_log.setLevel(logging.WARNING)
    try:
        reports = adapt(recognizer, utterances, config)
    finally:
        adapt_log.setLevel(level)
    recognizer.metadata = {**recognizer.metadata, "adapted": {"files": len(utterances), "rounds": args.rounds,
                                                              "keep": args.keep, "epochs": args.epochs,
                                                              "lr": args.lr}}
    _make_parent(args.output)
    recognizer.save(args.output)
    for number, report in enumerate(reports, 1):
        print(f"round {number}: {report.summary()}")
    print(f"wrote {args.output}")
    return 0


def run_build_lm(args: argparse.Namespace) -> int:
    from asr.lm import build_arpa, write_arpa
    from asr.text import normalize_text

    path = Path(args.text)
    if not path.is_file():
        raise AsrError("text file not found", path)
    _check_output(args.output, args.text)
    sentences = [normalize_text(line) for line in path.read_text(encoding="utf-8").splitlines()]
    model = build_arpa([s for s in sentences if s], order=args.order, discount=args.discount)
    _make_parent(args.output)
    write_arpa(model, args.output)
    print(f"wrote {args.output}: order {model.order}, {len(model.vocabulary)} words")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from asr.loading import load_model
    from asr.server import ServerLimits, serve

    limits = ServerLimits(max_upload_bytes=int(args.max_upload_mb * 1024 * 1024), max_audio_seconds=args.max_seconds)
    recognizer = load_model(args.model)
    recognizer = _apply_decoding_options(recognizer, args)
    serve(args.model, args.host, args.port, limits, recognizer)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from asr.loading import load_model, model_file

    _check_output(args.output, args.model)
    source = str(model_file(args.model))  # a packaged model's name means its .onnx file, as everywhere else
    if args.int8 and Path(source).suffix.lower() == ".onnx":  # an exported float model: int8, no PyTorch
        from asr.onnx_int8 import export_int8

        _make_parent(args.output)
        print(f"wrote {export_int8(source, args.output)} (int8 weights)")
        return 0
    from asr.onnx_export import export_onnx

    if Path(args.output).suffix.lower() == ".pt":  # an .onnx model back as a PyTorch model file, to fine-tune
        if args.int8 or Path(source).suffix.lower() != ".onnx":
            raise AsrError("a .pt output is an .onnx model's PyTorch model file: give a float .onnx model "
                           "(or a packaged model's name) and no --int8", args.output)
        from asr.checkpoint import atomic_save
        from asr.onnx_import import package_from_onnx

        _make_parent(args.output)
        atomic_save(package_from_onnx(source), args.output)
        print(f"wrote {args.output} (the PyTorch model of {source})")
        return 0
    recognizer = load_model(args.model)
    _make_parent(args.output)
    path = export_onnx(recognizer, args.output, int8=args.int8)
    print(f"wrote {path}{' (int8 weights)' if args.int8 else ''}")
    return 0


_COMMANDS = {"train": run_train, "evaluate": run_evaluate, "transcribe": run_transcribe, "adapt": run_adapt,
             "build-lm": run_build_lm, "serve": run_serve, "export": run_export}


#: What ``pip install -e ".[train]"`` adds to the runtime install, by the name people know each package by: training,
#: adaptation, export, ``.pt`` models and ``--quantize`` need them; transcribing with an ``.onnx`` model does not.
TRAIN_PACKAGES = {"torch": "PyTorch", "torchaudio": "torchaudio", "librosa": "librosa", "matplotlib": "matplotlib",
                  "onnx": "onnx"}
TRAIN_INSTALL = 'pip install -e ".[train]"'


def _needs_train_extra(error: ModuleNotFoundError, args: argparse.Namespace, prog: str) -> str | None:
    """The one line for a command that needs a package of the ``[train]`` extra that is not installed (``None``
    for any other missing module): the command, what it needs and the install."""
    package = TRAIN_PACKAGES.get((error.name or "").partition(".")[0])
    if package is None:
        return None
    name = getattr(args, "command", None)  # None for the transcribe shortcut
    command = f"{prog} {name}" if name else prog
    model = getattr(args, "model", None)
    if model and name != "export" and Path(model).suffix.lower() != ".onnx":
        command += f" --model {model}"  # a .pt model is what needs PyTorch here
    return f"{command} needs {package}, which the runtime install leaves out: {TRAIN_INSTALL}"


def _run(function, args: argparse.Namespace, prog: str) -> int:  # noqa: ANN001
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.prog = prog  # per-file errors say "PROG: error: ..." like the one-line errors below
    try:
        return function(args)
    except AsrError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:  # asr train, adapt, export, a .pt model without PyTorch installed
        line = _needs_train_extra(error, args, prog)
        if line is None:
            raise
        print(f"{prog}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _run(_COMMANDS[args.command], args, "asr")


def transcribe_main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="transcribe", description="Transcribe audio files with a trained model. "
                                     "Prints FILE<TAB>TRANSCRIPT per file, in order.")
    _add_transcribe_arguments(parser)
    return _run(run_transcribe, parser.parse_args(argv), "transcribe")


if __name__ == "__main__":
    sys.exit(main())
