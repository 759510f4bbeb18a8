"""What a model file says about its model, apart from the weights: one :class:`ModelSpec`.

The same spec is written into a ``.pt`` file (beside the weights) and into a ``.onnx`` file (as JSON
metadata), and read back by :func:`asr.load_model`: the front end, the network's shape, the vocabulary, how
the model decodes by default (greedy or beam search, with the lexicon and n-gram LM themselves embedded,
so that a model file needs no companion files), and training metadata. Importing this module does not
import PyTorch.

Files of an older format are migrated on reading (:func:`spec_from_dict`); files of a newer one are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asr.decoding import Decoding
from asr.errors import AsrError

FORMAT_NAME = "asr-model"
#: 1: configs at the top level, greedy decoding only. 2: the spec, with decoding defaults. 3: decoding by
#: :class:`asr.decoding.Decoding` (character LMs, grammars, the unknown-word score).
FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)


@dataclass
class ModelSpec:
    """Everything but the weights. ``features`` and ``model`` are the fields of
    :class:`asr.features.FeatureConfig` and :class:`asr.model.ModelConfig` (plain dicts, so that reading a
    spec needs no PyTorch)."""

    features: dict[str, Any]
    model: dict[str, Any]
    vocabulary: list[str]
    decoding: Decoding = field(default_factory=Decoding)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "features": dict(self.features),
                "model": dict(self.model), "vocabulary": list(self.vocabulary),
                "decoding": self.decoding.to_dict(), "metadata": self.metadata}


def spec_from_dict(values: Any, source: object = None) -> ModelSpec:
    """Read a spec written by any format version up to :data:`FORMAT_VERSION` (older ones migrated)."""
    if not isinstance(values, dict) or values.get("format") != FORMAT_NAME:
        raise AsrError("not a model file of this toolkit", source)
    version = values.get("format_version")
    if version == 1:
        values = _migrate_v1(values)
    elif version not in READABLE_VERSIONS:
        raise AsrError(f"model format version {version!r} is newer than this toolkit reads (up to "
                       f"{FORMAT_VERSION}): update the toolkit", source)
    try:
        return ModelSpec(features=dict(values["features"]), model=dict(values["model"]),
                         vocabulary=[str(t) for t in values["vocabulary"]],
                         decoding=Decoding.from_dict(dict(values.get("decoding") or {}), source),
                         metadata=dict(values.get("metadata", {})))
    except (KeyError, TypeError, ValueError) as error:
        raise AsrError(f"model file is inconsistent ({type(error).__name__}: {str(error)[:200]})", source) from None


def _migrate_v1(values: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept ``feature_config`` and ``model_config`` at the top level and decoded greedily."""
    return {**values, "format_version": FORMAT_VERSION, "features": values.get("feature_config"),
            "model": values.get("model_config"), "decoding": {}}
