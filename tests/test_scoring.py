"""JSON extraction, validation and field scoring on real-looking messy replies."""

from __future__ import annotations

import pytest

from ollama_bench.vision.scenarios.builtin import (
    CCTV_SCORERS,
    CctvReply,
    ProductReply,
    product_scorers,
)
from ollama_bench.vision.scoring import (
    closeness,
    extract_json,
    generic_scorers,
    language_probability,
    score_compact_text,
    score_exact_text,
    score_fields,
    score_instant,
    score_word_recall,
    validate_with_model,
    validate_with_schema,
)

CCTV = {"title": "CAM 04 RONDA SUR", "datetime": "2024-11-20T15:45:12", "traffic_level": 55}


@pytest.mark.parametrize(
    ("reply", "extraction", "expected"),
    [
        ('{"a": 1}', "clean", {"a": 1}),
        ('  \n{"a": 1}\n', "clean", {"a": 1}),
        ('```json\n{"a": 1}\n```', "fenced", {"a": 1}),
        ('Here is the JSON:\n```\n{"a": [1, 2]}\n```\nLet me know!', "fenced", {"a": [1, 2]}),
        ('Sure. The result is {"a": {"b": "x}"}} — hope it helps', "embedded", {"a": {"b": "x}"}}),
        ('I see [a road] and then {"a": 1} and {"b": 2}', "embedded", {"a": 1}),
        ("The image shows a tent.", "none", None),
        ('{"a": 1,', "none", None),
        ("", "none", None),
    ],
)
def test_extract_json(reply: str, extraction: str, expected: object) -> None:
    assert extract_json(reply) == (expected, extraction)


def test_cctv_model_accepts_contract_and_rejects_by_field() -> None:
    assert validate_with_model(CCTV, CctvReply) == []
    errors = validate_with_model(
        {"title": "x", "datetime": "yesterday", "traffic_level": "55", "extra": 1}, CctvReply
    )
    paths = sorted(e.path for e in errors)
    assert paths == ["datetime", "extra", "traffic_level"]
    out_of_range = validate_with_model({**CCTV, "traffic_level": 120}, CctvReply)
    assert [e.path for e in out_of_range] == ["traffic_level"]


def test_product_model_reports_nested_paths() -> None:
    errors = validate_with_model(
        {"name": "Tent", "description": {"en": "A tent.", "fr": 3}}, ProductReply
    )
    assert sorted(e.path for e in errors) == ["description.es", "description.fr"]


def test_schema_sent_is_the_models_schema() -> None:
    schema = CctvReply.model_json_schema()
    assert set(schema["properties"]) == {"title", "datetime", "traffic_level"}
    assert schema["properties"]["traffic_level"]["maximum"] == 100
    assert schema["additionalProperties"] is False


def test_jsonschema_validation_paths() -> None:
    schema = {
        "type": "object",
        "properties": {
            "total": {"type": "number"},
            "items": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["total"],
    }
    assert validate_with_schema({"total": 3.5, "items": ["a"]}, schema) == []
    errors = validate_with_schema({"items": ["a", 2]}, schema)
    assert [(e.path, "required" in e.message or "string" in e.message) for e in errors] == [
        ("", True),
        ("items.1", True),
    ]


@pytest.mark.parametrize(
    ("expected", "actual", "score"),
    [
        ("CAM 04 RONDA SUR", "cam 04  ronda sur ", 1.0),
        ("CAM 04 RONDA SUR", "CAM 04 RONDA NORTE", 0.0),
        ("CAM 04", 4, 0.0),
    ],
)
def test_exact_text(expected: str, actual: object, score: float) -> None:
    assert score_exact_text(expected, actual) == score


@pytest.mark.parametrize(
    ("expected", "actual", "score"),
    [
        ("CAM 08-15 AP-7", "CAM08-15AP-7", 1.0),  # OCR drops the spaces of an overlay
        ("CAM 08-15 AP-7 KM 342.1 CASTELLON", "cam 08-15 ap-7 km 342.1\tcastellon", 1.0),
        ("CAM 08-15 AP-7", "CAM 08-15 AP-1", 0.0),  # every character counts
        ("CAM 08-15 AP-7", "CAM 08-15 AP-7 KM", 0.0),
        ("CAM 08-15 AP-7", "CAM 08.15 AP-7", 0.0),  # punctuation is not space
        ("CAM 08-15", None, 0.0),
    ],
)
def test_title_ignores_whitespace_only(expected: str, actual: object, score: float) -> None:
    assert score_compact_text(expected, actual) == score
    assert CCTV_SCORERS["title"](expected, actual) == score


@pytest.mark.parametrize(
    ("actual", "score"),
    [
        ("2024-11-20T15:45:12", 1.0),
        ("2024-11-20 15:45:12", 1.0),  # space separator is ISO 8601 too
        ("2024-11-20T15:45", 1.0),  # minute precision compared at minutes
        ("2024-11-20T15:45:12Z", 1.0),  # zone-aware vs naive: wall clock
        ("2024-11-20T15:46:12", 0.0),
        ("2024-11-20T15:45:13", 0.0),
        ("20/11/2024 15:45:12", 0.0),  # not ISO 8601
        (None, 0.0),
    ],
)
def test_instant(actual: object, score: float) -> None:
    assert score_instant("2024-11-20T15:45:12", actual) == score


def test_closeness_and_word_recall() -> None:
    traffic = closeness(100)
    assert traffic(55, 55) == 1.0
    assert traffic(55, 45) == pytest.approx(0.9)
    assert traffic(10, 100) == pytest.approx(0.1)
    assert traffic(55, "55") == 0.0 and traffic(55, True) == 0.0
    # words of the label: two, person, dome, tent; the reply lacks "person"
    assert score_word_recall("Two-person dome tent", "Dome Tent for two") == pytest.approx(3 / 4)
    assert score_word_recall("LED lantern", "LED Lantern") == 1.0


def test_language_identification_is_offline_and_deterministic() -> None:
    fr = "Une tente légère pour deux personnes, idéale pour la randonnée en montagne."
    es = "Una tienda ligera para dos personas, ideal para el senderismo en la montaña."
    en = "A light two-person tent, ideal for hiking in the mountains."
    assert language_probability(fr, "fr") > 0.9
    assert language_probability(es, "es") > 0.9
    assert language_probability(en, "en") > 0.9
    assert language_probability(fr, "es") < 0.1
    assert language_probability(fr, "fr") == language_probability(fr, "fr")
    assert language_probability("1234 !!", "en") == 0.0


def test_cctv_scores_per_field() -> None:
    reply = {"title": "cam 04 ronda sur", "datetime": "2024-11-20T15:45:12", "traffic_level": 45}
    scores = score_fields(reply, CCTV, CCTV_SCORERS)
    assert scores == {
        "title": 1.0,
        "datetime": 1.0,
        "traffic_level": pytest.approx(0.9),
        "overall": pytest.approx(2.9 / 3),
    }
    assert score_fields(None, CCTV, CCTV_SCORERS)["overall"] == 0.0


def test_product_scores_swap_of_languages_is_caught() -> None:
    label = {"name": "LED lantern", "description": {"en": "", "fr": "", "es": ""}}
    good = {
        "name": "LED Lantern",
        "description": {
            "en": "A bright rechargeable lantern for camping trips and power cuts.",
            "fr": "Une lanterne rechargeable et lumineuse pour le camping et les pannes.",
            "es": "Una linterna recargable y brillante para acampar y para los cortes de luz.",
        },
    }
    swapped = {
        **good,
        "description": {
            **good["description"],
            "fr": good["description"]["es"],
            "es": good["description"]["fr"],
        },
    }
    assert score_fields(good, label, product_scorers(label))["overall"] > 0.95
    bad = score_fields(swapped, label, product_scorers(label))
    assert (
        bad["description.fr"] < 0.1 and bad["description.es"] < 0.1 and bad["description.en"] > 0.9
    )


def test_generic_scorers_walk_the_label() -> None:
    label = {"shop": "Café Sol", "total": 20.0, "paid": True, "address": {"city": "Madrid"}}
    scorers = generic_scorers(label)
    assert sorted(scorers) == ["address.city", "paid", "shop", "total"]
    scores = score_fields(
        {"shop": "café  sol", "total": 18.0, "paid": True, "address": {}}, label, scorers
    )
    assert scores["shop"] == 1.0 and scores["paid"] == 1.0 and scores["address.city"] == 0.0
    assert scores["total"] == pytest.approx(0.9)
