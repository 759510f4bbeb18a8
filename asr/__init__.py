"""asr: audio -> log-mel/MFCC -> bidirectional RNN + CTC -> greedy or beam-search text.

Python API::

    import asr
    model = asr.load_model("exp/model.pt")
    result = model.transcribe("speech.wav")
    print(result.text, result.words)
"""

from asr.decode import BeamSearchConfig, Transcript, Word
from asr.errors import AsrError
from asr.recognizer import Recognizer, load_model

__all__ = ["AsrError", "BeamSearchConfig", "Recognizer", "Transcript", "Word", "load_model"]
__version__ = "0.1.0"
