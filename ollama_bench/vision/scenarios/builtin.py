"""The built-in scenarios. Their reply models are a public contract: keep the field names.

- cctv: read a road camera's title and timestamp overlays and estimate traffic 0–100.
- products: name a product and describe it in English, French and Spanish.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ollama_bench.targets.overlay import OverlayField
from ollama_bench.vision.content import describes, facts_problem, label_facts
from ollama_bench.vision.scenarios import Scenario, data_path, load_images, read_prompt
from ollama_bench.vision.scoring import (
    FieldScorer,
    closeness,
    score_compact_text,
    score_instant,
    score_word_recall,
    validate_with_model,
)


def _iso_8601(value: str) -> str:
    datetime.fromisoformat(value)  # raises ValueError, which pydantic reports on the field
    return value


class CctvReply(BaseModel):
    """What a road-camera frame should be turned into."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="camera title, as overlaid at the top left")
    datetime: Annotated[str, AfterValidator(_iso_8601)] = Field(
        description="date and time overlaid at the bottom right, ISO 8601 e.g. 2024-11-20T15:45:12"
    )
    traffic_level: int = Field(ge=0, le=100, description="0 empty road … 100 standstill")


class Descriptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    en: str = Field(description="English")
    fr: str = Field(description="French")
    es: str = Field(description="Spanish")


class ProductReply(BaseModel):
    """A catalogue entry for a product photo, in three languages."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: Descriptions


CCTV_SCORERS: dict[str, FieldScorer] = {
    "title": score_compact_text,
    "datetime": score_instant,
    "traffic_level": closeness(100),
}

LANGUAGES = ("en", "fr", "es")


def product_scorers(label: Mapping[str, Any]) -> dict[str, FieldScorer]:
    """Name by word recall; each description by language, facts and chrF (see content.py)."""
    scorers: dict[str, FieldScorer] = {"name": score_word_recall}
    for language in LANGUAGES:
        scorers[f"description.{language}"] = describes(language, label_facts(label, language))
    return scorers


Scorers = Callable[[Mapping[str, Any]], Mapping[str, FieldScorer]]

#: What an OCR target can read from a cctv frame: traffic_level is not written anywhere.
CCTV_OVERLAYS = {
    "title": OverlayField(region="top-left"),
    "datetime": OverlayField(region="bottom-right", read="datetime"),
}

BUILTINS: dict[str, tuple[type[BaseModel], Scorers]] = {
    "cctv": (CctvReply, lambda label: CCTV_SCORERS),
    "products": (ProductReply, product_scorers),
}


def load_builtin(name: str, images_dir: Path | None = None) -> Scenario:
    model, scorers = BUILTINS[name]
    images, labels = load_images(images_dir or data_path("images") / name)
    return Scenario(
        name=name,
        prompt=read_prompt(data_path("prompts") / f"{name}.txt"),
        schema=model.model_json_schema(),
        validate=lambda value: validate_with_model(value, model),
        scorers=scorers,
        images=images,
        labels=labels,
        ocr=dict(CCTV_OVERLAYS) if name == "cctv" else None,
        label_extras={"facts": lambda v: facts_problem(v, LANGUAGES)} if name == "products" else {},
    )
