"""Turn a reply into a verdict: find its JSON, validate it, score its fields against a label.

Pure functions: no I/O, no clocks. Models often wrap JSON in ```json fences or prose even when
asked not to, so extraction is lenient but records how lenient it had to be; validation is
strict (JSON types must match the schema); scoring is per field, each score in [0, 1].

A reply is untrusted and may be megabytes of brackets: the search for embedded JSON tries at
most MAX_EMBEDDED_ATTEMPTS starting points, only where an object can begin, so judging stays
linear in the reply's length; the reply itself is stored whole.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ValidationError

from ollama_bench import untrusted
from ollama_bench.models import FieldError

Extraction = Literal["clean", "fenced", "embedded", "none", "too_deep"]
FieldScorer = Callable[[Any, Any], float]  # (expected, actual) → [0, 1]

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_OBJECT_START = re.compile(r"\{\s*[\"}]")  # where a JSON object can begin: `{"` or `{}`

#: Starting points tried for JSON embedded in prose. Each failed try costs up to the reply's
#: length (the parser's error message counts lines from the start), so an uncapped search of a
#: reply made of "{" is quadratic: 30 s for 300 KB.
MAX_EMBEDDED_ATTEMPTS = 64
#: Validation messages may quote the offending value; a megabyte of it helps no one.
MAX_MESSAGE_CHARS = 300


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text`, cut to MAX_MESSAGE_CHARS (or `limit`) characters."""
    return untrusted.clip(text, limit)


def extract_json(text: str) -> tuple[Any, Extraction]:
    """The JSON value in a reply and how it was found; (None, "none") when there is none.

    >>> extract_json('{"a": 1}')
    ({'a': 1}, 'clean')
    >>> extract_json('Sure! ```json\\n{"a": 1}\\n``` Hope this helps.')
    ({'a': 1}, 'fenced')
    >>> extract_json('The answer is {"a": {"b": 2}} as requested.')
    ({'a': {'b': 2}}, 'embedded')

    (None, "too_deep") when nothing was found and some candidate was nested too deeply for the
    parser, so the caller can say so instead of "no JSON". Never raises: the text is untrusted.
    """
    too_deep = False
    stripped = text.strip()
    try:
        return json.loads(stripped), "clean"
    except json.JSONDecodeError:
        pass
    except RecursionError:
        too_deep = True
    for block in _FENCE.findall(text):
        try:
            return json.loads(block.strip()), "fenced"
        except json.JSONDecodeError:
            continue
        except RecursionError:
            too_deep = True
    decoder = json.JSONDecoder()
    starts = _OBJECT_START.finditer(text)
    for match in itertools.islice(starts, MAX_EMBEDDED_ATTEMPTS):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        except RecursionError:
            too_deep = True
            continue
        if isinstance(value, dict):
            return value, "embedded"
    return None, "too_deep" if too_deep else "none"


def validate_with_model(value: Any, model: type[BaseModel]) -> list[FieldError]:
    """Strict pydantic validation: a number sent as a string is an error, not a coercion."""
    try:
        model.model_validate(value, strict=True)
    except ValidationError as exc:
        return [
            FieldError(path=".".join(str(p) for p in err["loc"]), message=clip(err["msg"]))
            for err in exc.errors()
        ]
    return []


def validate_with_schema(value: Any, schema: Mapping[str, Any]) -> list[FieldError]:
    """JSON Schema validation for user scenarios; errors sorted by path for stable output."""
    validator_cls = jsonschema.validators.validator_for(schema)
    errors = validator_cls(schema).iter_errors(value)
    found = [
        FieldError(path=".".join(str(p) for p in err.absolute_path), message=clip(err.message))
        for err in errors
    ]
    return sorted(found, key=lambda e: e.path)


def lookup(value: Any, path: str) -> Any:
    """The value at a dotted path, or None when any step is missing."""
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def normalise_text(text: str) -> str:
    """Case-folded, whitespace collapsed: `" Cam  27 "` and `"CAM 27"` are the same title."""
    return " ".join(text.casefold().split())


def score_exact_text(expected: Any, actual: Any) -> float:
    if not isinstance(expected, str) or not isinstance(actual, str):
        return 0.0
    return 1.0 if normalise_text(expected) == normalise_text(actual) else 0.0


def score_compact_text(expected: Any, actual: Any) -> float:
    """1 when the texts have the same characters once case and every space are ignored.

    An overlay read by OCR loses its spaces (`CAM08-15AP-7`); a title is its characters.

    >>> score_compact_text("CAM 08-15 AP-7", "cam08-15ap-7"), score_compact_text("A-7", "A-1")
    (1.0, 0.0)
    """
    if not isinstance(expected, str) or not isinstance(actual, str):
        return 0.0
    return (
        1.0 if "".join(expected.casefold().split()) == "".join(actual.casefold().split()) else 0.0
    )


def _parse_instant(text: Any) -> tuple[datetime, bool] | None:
    """A datetime and whether it carried seconds; None when the text is not ISO 8601."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    has_seconds = bool(re.search(r"T?\d{2}:\d{2}:\d{2}", text))
    return parsed, has_seconds


def score_instant(expected: Any, actual: Any) -> float:
    """1 when both name the same instant, at the coarser precision of the two (minute or second).

    Zone-aware and naive values are compared by wall-clock time, since a camera overlay has no zone.
    """
    want, got = _parse_instant(expected), _parse_instant(actual)
    if want is None or got is None:
        return 0.0
    a, b = want[0], got[0]
    if (a.tzinfo is None) != (b.tzinfo is None):
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    if not (want[1] and got[1]):
        a, b = a.replace(second=0, microsecond=0), b.replace(second=0, microsecond=0)
    return 1.0 if a == b else 0.0


def closeness(scale: float) -> FieldScorer:
    """Score 1 − |error| / scale, floored at 0; a bool or non-number scores 0."""

    def score(expected: Any, actual: Any) -> float:
        numbers = (int, float)
        if isinstance(actual, bool) or not isinstance(actual, numbers):
            return 0.0
        if isinstance(expected, bool) or not isinstance(expected, numbers):
            return 0.0
        return max(0.0, 1.0 - abs(actual - expected) / scale)

    return score


def score_word_recall(expected: Any, actual: Any) -> float:
    """Share of the expected name's words found in the reply's name, case and punctuation aside."""
    if not isinstance(expected, str) or not isinstance(actual, str):
        return 0.0
    want = set(re.findall(r"\w+", expected.casefold()))
    got = set(re.findall(r"\w+", actual.casefold()))
    return len(want & got) / len(want) if want else 0.0


_langdetect_lock = threading.Lock()


def language_probability(text: str, language: str) -> float:
    """Probability that `text` is in `language` (ISO 639-1), by langdetect's offline profiles.

    langdetect is seeded once so that the same text always gets the same probability.
    """
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    with _langdetect_lock:
        DetectorFactory.seed = 0
        try:
            found = detect_langs(text)
        except LangDetectException:  # no letters at all
            return 0.0
    return next((float(f.prob) for f in found if f.lang == language), 0.0)


def score_fields(
    reply: Any, label: Mapping[str, Any], scorers: Mapping[str, FieldScorer]
) -> dict[str, float]:
    """Each field's score and their mean as "overall"; a missing field scores 0."""
    scores = {
        path: scorer(lookup(label, path), lookup(reply, path)) for path, scorer in scorers.items()
    }
    scores["overall"] = sum(scores.values()) / len(scores) if scores else 0.0
    return scores


def generic_scorers(label: Mapping[str, Any], prefix: str = "") -> dict[str, FieldScorer]:
    """Scorers for a user scenario's label: exact text, numeric closeness, equality otherwise."""
    scorers: dict[str, FieldScorer] = {}
    for key, expected in label.items():
        path = f"{prefix}{key}"
        if isinstance(expected, dict):
            scorers.update(generic_scorers(expected, prefix=f"{path}."))
        elif isinstance(expected, str):
            scorers[path] = score_exact_text
        elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
            scorers[path] = closeness(max(abs(float(expected)), 1.0))
        else:
            scorers[path] = lambda want, got: 1.0 if want == got else 0.0
    return scorers
