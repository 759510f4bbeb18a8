"""HTTP server: ``POST /transcribe`` (an uploaded audio file -> JSON transcript), live transcription over a
WebSocket at ``/stream`` (the Vosk protocol, :mod:`asr.stream_session`), ``GET /health``, and a web page at ``/``
to try a model in the browser, from a file or the microphone.

Built on FastAPI and served by uvicorn. Uploads are limited in bytes (413) and in seconds of audio (413);
audio that cannot be read is answered with 415 and the reason. Requests are handled concurrently (upload,
reading and resampling run in parallel); the network and decoder run one request at a time behind a lock,
so results never mix and the process uses the threads torch is given, not one set per request.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from asr.audio import audio_info
from asr.errors import AsrError
from asr.inference import BaseRecognizer
from asr.stream_session import SharedRecognizer, StreamSession

_CHUNK = 1 << 20
# A multipart body carries a few hundred bytes of boundaries and headers around the file itself.
_MULTIPART_OVERHEAD = 64 * 1024


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

    def transcribe_file(self, path: str, name: str) -> dict[str, Any]:
        """Transcribe a stored upload. Raises :class:`RequestError` with the HTTP status for bad input."""
        try:
            duration = audio_info(path).duration
        except AsrError as error:
            raise RequestError(415, f"{name}: {_reason(error, path)}") from None
        if duration > self.limits.max_audio_seconds:
            raise RequestError(413, f"{name}: the audio lasts {duration:.1f} s; this server accepts at most "
                                    f"{self.limits.max_audio_seconds:g} s")
        started = time.perf_counter()
        with self._lock:
            _, result = next(self.recognizer.transcribe_files([path]))
        if isinstance(result, AsrError):
            raise RequestError(415, f"{name}: {_reason(result, path)}")
        return {"file": name, "duration": round(duration, 3), **result.to_dict(),
                "processing_seconds": round(time.perf_counter() - started, 3)}


def _reason(error: AsrError, stored_path: str) -> str:
    """The error's reason without the server's temporary file name (the client knows its own name)."""
    return error.reason.replace(stored_path, "the upload")


class RequestError(Exception):
    """Bad input from a client: an HTTP status and a message for it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def web_page() -> str:
    """The single-file page served at ``/``."""
    return resources.files("asr").joinpath("web/index.html").read_text(encoding="utf-8")


def create_app(recognizer: BaseRecognizer, limits: ServerLimits | None = None, model_name: str = "model") -> FastAPI:
    """The FastAPI application (a separate function so tests and other servers can mount it)."""
    limits = limits or ServerLimits()
    transcriber = Transcriber(recognizer, limits, model_name)
    app = FastAPI(title="asr", description="Speech recognition: upload audio, get the transcript with word times.")
    page = web_page()

    @app.middleware("http")
    async def refuse_oversized_bodies(request: Request, call_next):  # noqa: ANN001, ANN202
        # Refuse before the body is read when the client declares its size.
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

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_name, "sample_rate": recognizer.sample_rate,
                "decoding": describe_decoder(recognizer),
                "max_upload_bytes": limits.max_upload_bytes, "max_audio_seconds": limits.max_audio_seconds}

    @app.post("/transcribe")
    def transcribe(file: Annotated[UploadFile, File(description="audio file: WAV, FLAC, OGG, MP3")]) -> JSONResponse:
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
                return JSONResponse({"detail": f"{name}: the upload is empty"}, status_code=400)
            try:
                return JSONResponse(transcriber.transcribe_file(stored.name, name))
            except RequestError as error:
                return JSONResponse({"detail": error.message}, status_code=error.status)

    @app.websocket("/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        session = StreamSession(transcriber.shared, limits.max_audio_seconds)
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

    return app


def describe_decoder(recognizer: BaseRecognizer) -> str:
    decoder = recognizer.decoder
    if getattr(decoder, "config", None) is None:
        return "greedy"
    words = getattr(decoder, "words", None)
    return f"beam {decoder.config.beam_size}" + ("" if words is None else f" + lexicon ({len(words)} words)")


def serve(model: str | os.PathLike[str] | None, host: str = "127.0.0.1", port: int = 8000,
          limits: ServerLimits | None = None, recognizer: BaseRecognizer | None = None) -> None:
    """Load ``model`` (a path, a packaged model's name, or None for the default; unless a configured
    ``recognizer`` is given) and serve it until interrupted. An ONNX model is served without PyTorch."""
    import uvicorn

    from asr.loading import load_model

    recognizer = recognizer or load_model(model)
    app = create_app(recognizer, limits, "default" if model is None else Path(model).name)
    uvicorn.run(app, host=host, port=port, log_level="info")
