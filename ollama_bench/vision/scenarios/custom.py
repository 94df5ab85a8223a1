"""User scenarios from a JSON file, validated with JSON Schema instead of a pydantic model.

    {"name": "receipts",
     "prompt": "Read the receipt ... answer as JSON" | "prompt_file": "prompt.txt",
     "schema": {"type": "object", "properties": {...}, "required": [...]},
     "images": "receipts/",
     "ocr": {"stamp": {"region": "bottom-right", "read": "datetime"}}}    (optional)

Relative paths are taken from the scenario file's folder. Labels come from `<images>/labels.json`
and are scored field by field: text exactly (case and spaces ignored), numbers by closeness.
`ocr` lets the OCR baseline target answer the top-level fields that are overlaid on the images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pydantic

from ollama_bench.errors import UsageError
from ollama_bench.targets.overlay import REGIONS, OverlayField
from ollama_bench.vision.scenarios import Scenario, load_images, read_prompt
from ollama_bench.vision.scoring import generic_scorers, validate_with_schema


def load_custom(path: Path, images_dir: Path | None = None) -> Scenario:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read scenario file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(spec, dict):
        raise UsageError(f"{path}: a scenario file holds one JSON object")
    base = path.parent
    prompt = _prompt(spec, base, path)
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise UsageError(f"{path}: field 'schema' must be a JSON Schema object")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise UsageError(
            f"{path}: field 'schema' is not a valid JSON Schema: {exc.message}"
        ) from None
    folder = images_dir or _images_folder(spec, base, path)
    images, labels = load_images(folder)
    frozen_schema: dict[str, Any] = schema
    return Scenario(
        name=str(spec.get("name") or path.stem),
        prompt=prompt,
        schema=frozen_schema,
        validate=lambda value: validate_with_schema(value, frozen_schema),
        scorers=generic_scorers,
        images=images,
        labels=labels,
        ocr=_overlays(spec, schema, path),
    )


def _overlays(
    spec: dict[str, Any], schema: dict[str, Any], path: Path
) -> dict[str, OverlayField] | None:
    """The optional `ocr` section: top-level field → {"region": corner, "read": text|datetime}."""
    section = spec.get("ocr")
    if section is None:
        return None
    example = '{"ocr": {"stamp": {"region": "bottom-right", "read": "datetime"}}}'
    if not isinstance(section, dict) or not section:
        raise UsageError(f"{path}: 'ocr' must map reply fields to overlays", f"e.g. {example}")
    properties = schema.get("properties")
    known = set(properties) if isinstance(properties, dict) else set()
    overlays: dict[str, OverlayField] = {}
    for name, value in section.items():
        if name not in known:
            raise UsageError(
                f"{path}: ocr.{name} is not a top-level property of the schema",
                f"map one of: {', '.join(sorted(known)) or 'none (the schema has no properties)'}",
            )
        try:
            overlays[name] = OverlayField.model_validate(value)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise UsageError(
                f"{path}: ocr.{name}{'.' + where if where else ''}: {first['msg']}",
                f"region is one of {', '.join(REGIONS)}; read is text or datetime",
            ) from None
    return overlays


def _prompt(spec: dict[str, Any], base: Path, path: Path) -> str:
    if isinstance(spec.get("prompt"), str) and spec["prompt"].strip():
        return str(spec["prompt"]).strip()
    if isinstance(spec.get("prompt_file"), str):
        return read_prompt(base / spec["prompt_file"])
    raise UsageError(f"{path}: needs a 'prompt' text or a 'prompt_file' path")


def _images_folder(spec: dict[str, Any], base: Path, path: Path) -> Path:
    if not isinstance(spec.get("images"), str):
        raise UsageError(f"{path}: needs an 'images' folder, or pass --images DIR")
    return base / str(spec["images"])
