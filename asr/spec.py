"""What a model file says about its model, apart from the weights: one :class:`ModelSpec`.

The same spec is written into a ``.pt`` file (beside the weights) and into a ``.onnx`` file (as JSON
metadata), and read back by :func:`asr.load_model`: the front end, the network's shape, the vocabulary, how
the model decodes by default (greedy or beam search, with the lexicon and n-gram LM themselves embedded,
so that a model file needs no companion files), and training metadata. Importing this module does not
import PyTorch.

Files of an older format are migrated on reading (:func:`spec_from_dict`); files of a newer one are refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from asr.errors import AsrError

FORMAT_NAME = "asr-model"
#: 1: configs at the top level, greedy decoding only. 2: the spec, with decoding defaults.
FORMAT_VERSION = 2


#: Beam-search defaults, shared by :class:`DecodingSpec` and :class:`asr.decode.BeamSearchConfig`.
DEFAULT_BEAM_SIZE = 16
DEFAULT_BEAM_THRESHOLD = 30.0
DEFAULT_LM_WEIGHT = 0.5


@dataclass
class DecodingSpec:
    """How a model decodes unless the caller says otherwise (command-line flags only override it)."""

    method: Literal["greedy", "beam"] = "greedy"
    beam_size: int = DEFAULT_BEAM_SIZE  # hypotheses kept per frame
    beam_threshold: float = DEFAULT_BEAM_THRESHOLD  # prune hypotheses this far (log) below the best
    lm_weight: float = DEFAULT_LM_WEIGHT  # weight of the word n-gram LM
    word_score: float = 0.0  # added per word: the insertion bonus
    lexicon: list[str] | None = None  # the words the output may contain; None: any spelling
    lm_arpa: str | None = None  # the word n-gram LM, as ARPA text; None: no LM

    def __post_init__(self) -> None:
        if self.method not in ("greedy", "beam"):
            raise AsrError(f"decoding method must be 'greedy' or 'beam', got {self.method!r}")
        if self.beam_size < 1:
            raise AsrError(f"beam size must be at least 1, got {self.beam_size}")

    def describe(self) -> str:
        """One line for logs and ``/health``: ``beam 16 + lexicon (10 words) + LM (weight 0.5)``."""
        if self.method == "greedy":
            return "greedy"
        parts = [f"beam {self.beam_size}"]
        if self.lexicon is not None:
            parts.append(f"lexicon ({len(self.lexicon)} words)")
        if self.lm_arpa is not None:
            parts.append(f"LM (weight {self.lm_weight})")
        return " + ".join(parts)


@dataclass
class ModelSpec:
    """Everything but the weights. ``features`` and ``model`` are the fields of
    :class:`asr.features.FeatureConfig` and :class:`asr.model.ModelConfig` (plain dicts, so that reading a
    spec needs no PyTorch)."""

    features: dict[str, Any]
    model: dict[str, Any]
    vocabulary: list[str]
    decoding: DecodingSpec = field(default_factory=DecodingSpec)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def sample_rate(self) -> int:
        return int(self.features["sample_rate"])

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame: the feature hop (as FeatureConfig rounds it) times the subsampling."""
        hop = round(self.sample_rate * float(self.features.get("hop_ms", 10.0)) / 1000)
        return hop / self.sample_rate * int(self.model.get("subsampling", 1))

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "features": dict(self.features),
                "model": dict(self.model), "vocabulary": list(self.vocabulary),
                "decoding": dataclasses.asdict(self.decoding), "metadata": self.metadata}

    def with_decoding(self, decoding: DecodingSpec) -> ModelSpec:
        return dataclasses.replace(self, decoding=decoding)


def spec_from_dict(values: Any, source: object = None) -> ModelSpec:
    """Read a spec written by any format version up to :data:`FORMAT_VERSION` (older ones migrated)."""
    if not isinstance(values, dict) or values.get("format") != FORMAT_NAME:
        raise AsrError("not a model file of this toolkit", source)
    version = values.get("format_version")
    if version == 1:
        values = _migrate_v1(values)
    elif version != FORMAT_VERSION:
        raise AsrError(f"model format version {version!r} is newer than this toolkit reads (up to "
                       f"{FORMAT_VERSION}): update the toolkit", source)
    try:
        return ModelSpec(features=dict(values["features"]), model=dict(values["model"]),
                         vocabulary=[str(t) for t in values["vocabulary"]],
                         decoding=DecodingSpec(**values.get("decoding", {})),
                         metadata=dict(values.get("metadata", {})))
    except (KeyError, TypeError, ValueError) as error:
        raise AsrError(f"model file is inconsistent ({type(error).__name__}: {str(error)[:200]})", source) from None


def _migrate_v1(values: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept ``feature_config`` and ``model_config`` at the top level and decoded greedily."""
    return {**values, "format_version": FORMAT_VERSION, "features": values.get("feature_config"),
            "model": values.get("model_config"), "decoding": {}}
