"""HTTP server: ``POST /transcribe`` (an uploaded audio file -> JSON transcript), live transcription over a
WebSocket at ``/stream`` (the Vosk protocol, :mod:`asr.stream_session`), ``GET /health``, and a web page at ``/``
to try a model in the browser, from a file or the microphone.

Built on FastAPI and served by uvicorn. Uploads are limited in bytes (413) and in seconds of audio (413);
audio that cannot be read is answered with 415 and the reason. Requests are handled concurrently (upload,
reading and resampling run in parallel); the network and decoder run one request at a time behind a lock,
so results never mix and the process uses the threads torch is given, not one set per request.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from asr.audio import audio_info
from asr.errors import AsrError
from asr.grammar import client_grammar
from asr.inference import BaseRecognizer
from asr.stream_session import SharedRecognizer, StreamSession
from asr.text import BLANK_TOKEN, WORD_SEPARATOR

_CHUNK = 1 << 20
# A multipart body carries a few hundred bytes of boundaries and headers around the file itself.
_MULTIPART_OVERHEAD = 64 * 1024
#: At most this many of a lexicon's words are named in the one-line description (``/health`` lists them all).
_WORDS_SHOWN = 20


@dataclass
class ServerLimits:
    """What one request may send."""

    max_upload_bytes: int = 50 * 1024 * 1024
    max_audio_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.max_upload_bytes <= 0 or self.max_audio_seconds <= 0:
            raise AsrError("upload limits must be positive")


class Transcriber:
    """The recognizer behind a lock, and the checks a request goes through before it reaches it."""

    def __init__(self, recognizer: BaseRecognizer, limits: ServerLimits, model_name: str) -> None:
        self.recognizer = recognizer
        self.limits = limits
        self.model_name = model_name
        self._lock = threading.Lock()
        self.shared = SharedRecognizer(recognizer, self._lock)  # the streams share the lock with uploads

    def transcribe_file(self, path: str, name: str, phrase_list: str | None = None) -> dict[str, Any]:
        """Transcribe a stored upload, with the grammar ``phrase_list`` if given (a JSON list of phrases or a
        built-in name, see :mod:`asr.grammar`). Raises :class:`RequestError` with the HTTP status for bad input."""
        recognizer = self.recognizer
        if phrase_list:
            try:
                served = recognizer.decoding  # the server's own --rejection / --reject apply to a client's grammar
                recognizer = recognizer.with_grammar(client_grammar(phrase_list), rejection=served.rejection,
                                                     reject=served.reject)
            except AsrError as error:
                raise RequestError(400, f"phrase_list: {error}") from None
        try:
            duration = audio_info(path).duration
        except AsrError as error:
            raise RequestError(415, f"{name}: {_reason(error, path)}") from None
        if duration > self.limits.max_audio_seconds:
            raise RequestError(413, f"{name}: the audio lasts {duration:.1f} s; this server accepts at most "
                                    f"{self.limits.max_audio_seconds:g} s")
        started = time.perf_counter()
        with self._lock:
            _, result = next(recognizer.transcribe_files([path]))
        if isinstance(result, AsrError):
            raise RequestError(415, f"{name}: {_reason(result, path)}")
        return {"file": name, "duration": round(duration, 3), **result.to_dict(),
                "processing_seconds": round(time.perf_counter() - started, 3)}


def _reason(error: AsrError, stored_path: str) -> str:
    """The error's reason without the server's temporary file name (the client knows its own name), and without
    the audio library's "Error opening '...':", which names the server's copy rather than the client's file."""
    reason = re.sub(r"Error opening '[^']*': ?", "", error.reason.replace(stored_path, "the upload"))
    return reason.replace(" (possibly a pipe?)", "").replace("File does not exist or is not a regular file",
                                                               "not a format the audio reader knows")


class RequestError(Exception):
    """Bad input from a client: an HTTP status and a message for it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ModelInfo:
    """Which model a server runs, as ``/health`` and the page name it."""

    name: str  # a packaged model's name ("digits"), or the file's name
    file: str  # the model file's name (never the server's folders)
    packaged: bool = False  # one of the models inside the package (asr/models/)

    @classmethod
    def of(cls, model: str | os.PathLike[str] | None) -> ModelInfo:
        """The model as ``load_model`` was given it: a path, a packaged model's name (or its file's name, with or
        without the extension), or None for the default."""
        from asr.loading import DEFAULT_MODEL, PACKAGED_MODELS, packaged_model_path

        path = Path(DEFAULT_MODEL if model is None else model)
        for name, file in PACKAGED_MODELS.items():
            packaged = packaged_model_path(name)
            if (not path.exists() and str(path) in (name, file, Path(file).stem)) or (
                    path.exists() and packaged.exists() and path.samefile(packaged)):
                return cls(name, file, packaged=True)
        return cls(path.name, path.name)


def describe_model(recognizer: BaseRecognizer, model: ModelInfo) -> dict[str, Any]:
    """What ``/health`` says about the model: its name and file, and what it recognises: the words it can
    output where its decoding has a lexicon (the packaged digits model: the ten digit words), otherwise the
    characters it spells with, or the phrases of its grammar."""
    words = getattr(recognizer.decoder, "words", None)
    characters = sorted(t for t in recognizer.vocab.tokens if t not in (BLANK_TOKEN, WORD_SEPARATOR))
    phrases = recognizer.decoding.grammar
    if phrases is not None:
        words = sorted({w for phrase in phrases for w in phrase.split() if w != "[unk]"})
        shown = ", ".join(phrases[:_WORDS_SHOWN]) + (f" and {len(phrases) - _WORDS_SHOWN} more"
                                                     if len(phrases) > _WORDS_SHOWN else "")
        recognises = (f"{'a sequence' if recognizer.decoding.grammar_loop else 'one'} of these {len(phrases)} "
                      f"phrases: {shown}")
    elif words is not None:
        shown = ", ".join(words[:_WORDS_SHOWN]) + (f" and {len(words) - _WORDS_SHOWN} more"
                                                   if len(words) > _WORDS_SHOWN else "")
        recognises = (f"only these {len(words)} words: {shown}; any other speech comes out as the nearest of "
                      "them")
    else:
        recognises = f"any spelling in these {len(characters)} characters: {' '.join(characters)} (no lexicon)"
    return {"name": model.name, "file": model.file, "packaged": model.packaged, "recognises": recognises,
            "words": None if words is None else list(words), "characters": characters}


def web_page() -> str:
    """The single-file page served at ``/``."""
    return resources.files("asr").joinpath("web/index.html").read_text(encoding="utf-8")


def create_app(recognizer: BaseRecognizer, limits: ServerLimits | None = None,
               model: ModelInfo | str = "model") -> FastAPI:
    """The FastAPI application (a separate function so tests and other servers can mount it). ``model`` names
    the model for ``/health`` and the page (a plain string: its name)."""
    limits = limits or ServerLimits()
    model = model if isinstance(model, ModelInfo) else ModelInfo(model, model)
    transcriber = Transcriber(recognizer, limits, model.name)
    # No /docs or /redoc: FastAPI's pages load Swagger UI and ReDoc from a CDN, so offline they are blank.
    # The API's description stays at /openapi.json.
    app = FastAPI(title="asr", description="Speech recognition: upload audio, get the transcript with word times.",
                  docs_url=None, redoc_url=None)
    _add_error_answers(app, limits)
    _add_page_and_health(app, transcriber, model)
    _add_transcribe(app, transcriber)
    _add_stream(app, transcriber)
    return app


def _add_error_answers(app: FastAPI, limits: ServerLimits) -> None:
    """Every error is JSON with a one-line ``detail``; a declared oversized body is refused before it is read."""

    @app.middleware("http")
    async def refuse_oversized_bodies(request: Request, call_next):  # noqa: ANN001, ANN202
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limits.max_upload_bytes + _MULTIPART_OVERHEAD:
            return JSONResponse({"detail": f"upload of {int(declared)} bytes is over the limit of "
                                           f"{limits.max_upload_bytes} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def one_line_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer is a JSON list; every other error here is one line in "detail"
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                             for e in error.errors())
        return JSONResponse({"detail": f"bad request ({problems}); POST a multipart form with the audio in the "
                                       "field 'file'"}, status_code=422)

    @app.exception_handler(Exception)
    async def one_line_server_error(request: Request, error: Exception) -> JSONResponse:
        # a bug, not the client's fault: still JSON, so the web page shows it rather than a parse error
        return JSONResponse({"detail": f"internal error ({type(error).__name__}); see the server's log"},
                            status_code=500)


def _add_page_and_health(app: FastAPI, transcriber: Transcriber, model: ModelInfo) -> None:
    page = web_page()
    recognizer, limits = transcriber.recognizer, transcriber.limits
    about = {"status": "ok", "model": describe_model(recognizer, model), "sample_rate": recognizer.sample_rate,
             "decoding": recognizer.decoding.describe(), "max_upload_bytes": limits.max_upload_bytes,
             "max_audio_seconds": limits.max_audio_seconds}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/health")
    def health() -> dict[str, Any]:
        """The model (name, file, what it recognises), its sample rate and decoding, and the upload limits."""
        return about


def _add_transcribe(app: FastAPI, transcriber: Transcriber) -> None:
    limits = transcriber.limits

    @app.post("/transcribe")
    def transcribe(file: Annotated[UploadFile, File(description="audio file: WAV, FLAC, OGG, MP3")],
                   phrase_list: Annotated[str | None, Form(description='optional grammar: a JSON list of phrases '
                                                           '(["yes", "no", "[unk]"]) or digits / yesno')] = None,
                   ) -> JSONResponse:
        # A plain function: FastAPI runs it in its thread pool, so requests proceed concurrently.
        name = os.path.basename(file.filename or "upload")
        suffix = Path(name).suffix if len(Path(name).suffix) <= 8 else ""
        with tempfile.NamedTemporaryFile(suffix=suffix) as stored:
            size = 0
            while chunk := file.file.read(_CHUNK):
                size += len(chunk)
                if size > limits.max_upload_bytes:
                    return JSONResponse({"detail": f"{name}: upload is over the limit of "
                                                   f"{limits.max_upload_bytes} bytes"}, status_code=413)
                stored.write(chunk)
            stored.flush()
            if size == 0:
                return JSONResponse({"detail": f"{name}: the file is empty (0 bytes)"}, status_code=400)
            try:
                return JSONResponse(transcriber.transcribe_file(stored.name, name, phrase_list))
            except RequestError as error:
                return JSONResponse({"detail": error.message}, status_code=error.status)


def _add_stream(app: FastAPI, transcriber: Transcriber) -> None:
    @app.websocket("/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        session = StreamSession(transcriber.shared, transcriber.limits.max_audio_seconds)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                try:  # decoding runs in the thread pool: the event loop keeps serving other streams
                    reply, done = await run_in_threadpool(session.handle, message.get("text"), message.get("bytes"))
                except Exception as error:  # a bug, not the client's fault: this stream ends, the server goes on
                    reply, done = {"error": f"internal error ({type(error).__name__}); see the server's log"}, True
                if reply is not None:  # a config message gets no answer (the Vosk protocol)
                    await websocket.send_json(reply)
                if done:
                    await websocket.close()
                    return
        except WebSocketDisconnect:
            return


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`AsrError` (one line) when ``host:port`` cannot be listened on: uvicorn would otherwise
    start the application, say "startup complete", and only then fail to bind."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as error:
        raise AsrError(f"cannot listen on {host}: {error.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a closed server's port is free
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise AsrError(f"port {port} on {host} is in use (another server?); choose another with --port") \
                    from None
            raise AsrError(f"cannot listen on port {port} on {host}: {error.strerror}") from None


def serve(model: str | os.PathLike[str] | None, host: str = "127.0.0.1", port: int = 8000,
          limits: ServerLimits | None = None, recognizer: BaseRecognizer | None = None) -> None:
    """Load ``model`` (a path, a packaged model's name, or None for the default; unless a configured
    ``recognizer`` is given) and serve it until interrupted. An ONNX model is served without PyTorch.
    Raises :class:`AsrError` before anything starts when the port is taken."""
    import uvicorn

    from asr.loading import load_model

    check_port_free(host, port)
    recognizer = recognizer or load_model(model)
    app = create_app(recognizer, limits, ModelInfo.of(model))
    uvicorn.run(app, host=host, port=port, log_level="info")
