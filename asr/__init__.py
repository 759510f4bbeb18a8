"""asr: audio -> log-mel/MFCC -> bidirectional RNN + CTC -> greedy or beam-search text.

Python API::

    import asr
    model = asr.load_model("exp/model.pt")
    result = model.transcribe("speech.wav")
    print(result.text, result.words)
"""

from typing import Any

from asr.decode import BeamSearchConfig, Transcript, Word
from asr.errors import AsrError
from asr.inference import BaseRecognizer
from asr.loading import load_model

__all__ = ["AsrError", "BaseRecognizer", "BeamSearchConfig", "Recognizer", "Transcript", "Word", "load_model"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Recognizer needs PyTorch; importing asr alone does not, so an ONNX model starts fast.
    if name == "Recognizer":
        from asr.recognizer import Recognizer

        return Recognizer
    raise AttributeError(f"module 'asr' has no attribute {name!r}")
