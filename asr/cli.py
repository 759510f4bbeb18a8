"""Command line: ``asr train | evaluate | transcribe | adapt | serve | export | build-lm`` and the ``transcribe``
shortcut.

The commands' argument parsing (recipes parse their own options through asr.recipe). User errors print one line
on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
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
    if not output.parent.is_dir():
        raise AsrError(f"cannot write here: the folder {output.parent} does not exist", output)
    for source in inputs:
        if source and output.exists() and Path(source).exists() and output.samefile(source):
            raise AsrError("the output would overwrite an input; choose another name", output)


def _subtitle_paths(files: Sequence[str], folder: str, extension: str) -> dict[str, Path]:
    """FILE -> FOLDER/STEM.EXT for each input; refuses two inputs that would write the same file."""
    paths: dict[str, Path] = {}
    for name in files:
        target = Path(folder) / f"{Path(name).stem}.{extension}"
        clash = next((other for other, path in paths.items() if path == target), None)
        if clash is not None:
            raise AsrError(f"{clash} and {name} would both write {target}; rename one or run them separately")
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
    group.add_argument("--lm-weight", type=float, default=None, help="language model weight (default: the "
                       "model's, else 0.5)")
    group.add_argument("--word-score", type=float, default=None, help="word insertion bonus (default: the "
                       "model's, else 0.0)")
    if quantize:
        group.add_argument("--quantize", action="store_true",
                           help="int8 dynamic quantization of the recurrent and output layers (faster on CPU)")


def _apply_decoding_options(recognizer, args: argparse.Namespace):  # noqa: ANN001, ANN202
    """The recogniser that decodes as the model file says, each flag given on the command line overriding
    one setting."""
    from asr.decode import BeamSearchConfig

    if getattr(args, "quantize", False):
        recognizer.quantize()
    overrides = {"--beam": args.beam, "--lm": args.lm, "--lexicon": args.lexicon, "--lm-weight": args.lm_weight,
                 "--word-score": args.word_score}
    given = [flag for flag, value in overrides.items() if value is not None]
    if args.greedy:
        if given:
            raise AsrError(f"--greedy cannot be combined with {', '.join(given)}")
        return recognizer.with_greedy()
    if not given:
        return recognizer  # the model file's decoding, set when it was loaded
    stored = recognizer.decoding
    config = BeamSearchConfig(
        beam_size=stored.beam_size if args.beam is None else args.beam, beam_threshold=stored.beam_threshold,
        lm_weight=stored.lm_weight if args.lm_weight is None else args.lm_weight,
        word_score=stored.word_score if args.word_score is None else args.word_score)
    return recognizer.with_beam_search(config, lexicon=args.lexicon or stored.lexicon, lm=args.lm,
                                       lm_text=None if args.lm else stored.lm_arpa)


_MODEL_HELP = ("model file (model.pt, or model.onnx from asr export) or a packaged model's name; default: the "
               "packaged English digits model")


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
    adapt.add_argument("--lr", type=float, default=5e-4, help="fine-tuning learning rate (default 5e-4)")
    _add_decoding_options(adapt, quantize=False)  # the float model is what fine-tuning changes

    serve = sub.add_parser("serve", help="serve a model over HTTP, with a web page at /",
                           description="POST /transcribe (multipart field 'file') returns the JSON transcript; "
                           "GET /health; GET / is a web page to upload or record audio.")
    serve.add_argument("--model", default=None, help=_MODEL_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; "
                       "0.0.0.0 for every interface)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    serve.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload in MiB (default 50)")
    serve.add_argument("--max-seconds", type=float, default=600.0,
                       help="longest audio in seconds (default 600)")
    _add_decoding_options(serve)

    export = sub.add_parser("export", help="export a model to ONNX (run by onnxruntime; load it like a .pt file)",
                            description="Writes the network and all settings into one .onnx file; every command "
                            "and asr.load_model accept it in place of model.pt.")
    export.add_argument("--model", required=True, help="model file (model.pt)")
    export.add_argument("--output", required=True, help="ONNX file to write (model.onnx)")

    build_lm = sub.add_parser("build-lm", help="build an ARPA n-gram LM from text",
                              description="Estimate an interpolated Kneser-Ney word n-gram model.")
    build_lm.add_argument("--text", required=True, help="text file, one sentence per line")
    build_lm.add_argument("--output", required=True, help="ARPA file to write")
    build_lm.add_argument("--order", type=_positive_int, default=2, help="n-gram order (default 2)")
    build_lm.add_argument("--discount", type=float, default=0.7, help="absolute discount in (0, 1)")
    return parser


def _add_transcribe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help=_MODEL_HELP)
    parser.add_argument("files", nargs="*", metavar="FILE", help="audio files (WAV, FLAC, OGG, ...)")
    parser.add_argument("--stream", metavar="SOURCE",
                        help="live transcription: '-' reads raw 16-bit little-endian mono PCM from standard input "
                             "(at --rate), a file is played through the same path; partial text on one refreshed "
                             "line (on a terminal), each final result on its own line")
    parser.add_argument("--rate", type=_positive_int, default=16000, help="with --stream -: the PCM's sample rate")
    parser.add_argument("--chunk-ms", type=_positive_int, default=100, help="with --stream: audio per chunk")
    parser.add_argument("--realtime", action="store_true",
                        help="with --stream FILE: feed the file at the pace it would be spoken")
    parser.add_argument("--format", choices=["text", "json", "srt", "vtt"], default="text",
                        help="text: FILE<TAB>TRANSCRIPT; json: one object per line with words and times; "
                             "srt/vtt: subtitles (to --output-dir, or to stdout for a single file)")
    parser.add_argument("--output-dir", help="with srt/vtt: write FILE_STEM.srt/.vtt here, one per input")
    parser.add_argument("--batch-size", type=_positive_int, default=16, help="files decoded together (default 16)")
    _add_decoding_options(parser)


def run_train(args: argparse.Namespace) -> int:
    from asr.config import load_config
    from asr.manifest import read_manifest
    from asr.train import train

    config = load_config(args.config, args.set)
    train_utts = read_manifest(args.train_manifest)
    valid_utts = read_manifest(args.valid_manifest) if args.valid_manifest else None
    dist = start_distributed(config)
    try:
        result = train(config, train_utts, valid_utts, args.exp_dir, resume=not args.no_resume, dist=dist)
    finally:
        if dist.world_size > 1:
            import torch.distributed

            torch.distributed.destroy_process_group()
    if dist.is_main:
        print(f"best model: {result.best_model}")
    return 0


def start_distributed(config):  # noqa: ANN001, ANN201
    """Join a torchrun job when started by torchrun (WORLD_SIZE > 1): NCCL on CUDA, gloo on CPU."""
    import os

    from asr.train import Distributed

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    import torch
    import torch.distributed

    use_cuda = config.train.device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        config.train.device = f"cuda:{local_rank}"
    elif config.train.threads == 0:
        config.train.threads = max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world_size)))
    torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(rank=torch.distributed.get_rank(), world_size=world_size)


def run_evaluate(args: argparse.Namespace) -> int:
    from asr.evaluate import evaluate
    from asr.loading import load_model
    from asr.manifest import read_manifest

    report = args.report or (str(Path(args.output).with_suffix(".errors.md")) if args.output else None)
    _check_output(args.output, args.manifest, args.model)
    _check_output(report, args.manifest, args.model)
    recognizer = load_model(args.model)
    recognizer = _apply_decoding_options(recognizer, args)
    result = evaluate(recognizer, read_manifest(args.manifest), args.output, report=report)
    print(result.score.summary())
    if report:
        print(f"error report: {report}")
    for utt_id, reason in result.failed:
        print(f"failed: {utt_id}: {reason}", file=sys.stderr)
    return 1 if result.failed else 0


def run_transcribe(args: argparse.Namespace) -> int:
    # No PyTorch import here: with a model.onnx, greedy decoding runs on onnxruntime alone (fast start-up).
    from asr.loading import load_model
    from asr.subtitles import to_srt, to_vtt

    if args.stream is not None:
        if args.files:
            raise AsrError("give either files or --stream, not both")
        if args.format not in ("text", "json"):
            raise AsrError(f"--stream prints text or json, not {args.format}")
        from asr.stream_source import run_stream

        return run_stream(_apply_decoding_options(load_model(args.model), args), args.stream, args.rate,
                          args.chunk_ms, args.realtime, args.format == "json")
    if not args.files:
        raise AsrError("give audio files to transcribe, or --stream - (PCM on standard input)")
    if args.format in ("srt", "vtt") and len(args.files) > 1 and not args.output_dir:
        raise AsrError(f"--format {args.format} with several files needs --output-dir")
    if args.output_dir and Path(args.output_dir).exists() and not Path(args.output_dir).is_dir():
        raise AsrError("--output-dir is not a folder", args.output_dir)
    subtitle_paths = _subtitle_paths(args.files, args.output_dir, args.format) if args.output_dir else {}
    recognizer = load_model(args.model)
    recognizer = _apply_decoding_options(recognizer, args)
    status = 0
    for name, result in recognizer.transcribe_files(args.files, args.batch_size):
        if isinstance(result, AsrError):
            print(f"transcribe: {result}", file=sys.stderr)
            status = 1
            continue
        if args.format == "json":
            print(json.dumps({"file": name, **result.to_dict()}, ensure_ascii=False))
        elif args.format in ("srt", "vtt"):
            subtitles = (to_srt if args.format == "srt" else to_vtt)(result.words)
            if args.output_dir:
                Path(args.output_dir).mkdir(parents=True, exist_ok=True)
                subtitle_paths[name].write_text(subtitles)
            else:
                print(subtitles, end="")
        else:
            print(f"{name}\t{result.text}")
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
    utterances = read_manifest(args.manifest, require_text=False) if args.manifest else []
    for name in args.files:
        try:
            utterances.append(Utterance(str(Path(name).resolve()), "", audio_info(name).duration))
        except AsrError as error:
            print(f"adapt: skipped: {error}", file=sys.stderr)
    config = AdaptConfig(rounds=args.rounds, keep=args.keep, epochs=args.epochs, lr=args.lr)
    recognizer = load_torch_model(args.model)
    recognizer = _apply_decoding_options(recognizer, args)
    reports = adapt(recognizer, utterances, config)
    recognizer.metadata = {**recognizer.metadata, "adapted": {"files": len(utterances), "rounds": args.rounds,
                                                              "keep": args.keep, "epochs": args.epochs,
                                                              "lr": args.lr}}
    recognizer.save(args.output)
    for number, report in enumerate(reports, 1):
        print(f"round {number}: {report.kept} of {report.decoded} kept (confidence >= {report.min_confidence:.3f}), "
              f"loss {report.losses[0]:.3f} -> {report.losses[-1]:.3f}")
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
    from asr.loading import load_model
    from asr.onnx_export import export_onnx

    _check_output(args.output, args.model)
    path = export_onnx(load_model(args.model), args.output)
    print(f"wrote {path}")
    return 0


_COMMANDS = {"train": run_train, "evaluate": run_evaluate, "transcribe": run_transcribe, "adapt": run_adapt,
             "build-lm": run_build_lm, "serve": run_serve, "export": run_export}


def _run(function, args: argparse.Namespace, prog: str) -> int:  # noqa: ANN001
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return function(args)
    except AsrError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
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
