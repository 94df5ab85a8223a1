"""Product descriptions scored for content: facts stated, chrF to the reference, language gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ollama_bench.vision.content import (
    chrf,
    description_score,
    fact_recall,
    label_facts,
    states,
)
from ollama_bench.vision.scenarios import load_scenario
from ollama_bench.vision.scenarios.builtin import product_scorers
from ollama_bench.vision.scoring import language_probability, score_fields

ROOT = Path(__file__).resolve().parent.parent
LABELS = json.loads((ROOT / "images/products/labels.json").read_text(encoding="utf-8"))
TENT = LABELS["tent.png"]


def test_chrf_by_hand() -> None:
    # "ab" vs "abc": 1-grams P 2/2, R 2/3; 2-grams P 1/1, R 1/2; higher orders empty, so left
    # out (sacrebleu's effective order). Mean P 1, mean R 7/12; F2 = 5PR / (4P + R) = 7/11
    assert chrf("ab", "abc") == pytest.approx(7 / 11)
    assert chrf("a b", "abc") == pytest.approx(7 / 11)  # whitespace is not a character here
    # "abcd" vs "abce": matches 3/4, 2/3, 1/2, 0/1 for orders 1–4; P = R = mean = 0.4791666…
    assert chrf("abcd", "abce") == pytest.approx((3 / 4 + 2 / 3 + 1 / 2 + 0) / 4)
    assert chrf(TENT["description"]["fr"], TENT["description"]["fr"]) == pytest.approx(1.0)
    assert chrf("xyz", "abc") == 0.0


@pytest.mark.parametrize(
    ("text", "fact", "stated"),
    [
        ("Une tente DÔME légère", "dome", True),  # case and accents aside
        ("un double toit vert", "vert|verte", True),
        ("une toile verte", "vert|verte", True),  # either wording
        ("verdâtre", "vert", False),  # whole words only
        ("two-person tent", "two person", True),  # any separator between the words
        ("two persons", "two-person", False),
        ("sac à dos", "sac a dos", True),
        ("", "green", False),
        ("green", "", False),  # a fact without words states nothing
    ],
)
def test_states_a_fact(text: str, fact: str, stated: bool) -> None:
    assert states(text, fact) is stated


FR_FACTS = ["deux personnes", "dôme", "vert|verte", "imperméable", "arceaux", "porte"]
FR_WITH = (
    "Tente dôme pour deux personnes, double toit VERT et impermeable, deux arceaux et une porte "
    "zippée."
)
FR_WITHOUT = "Un abri de randonnée léger, facile à monter, idéal pour les week-ends en montagne."
ES_IN_FR = (
    "Tienda iglú para dos personas con doble techo verde impermeable y una puerta con cremallera."
)


def test_bundled_tent_label_carries_these_facts() -> None:
    assert label_facts(TENT, "fr") == FR_FACTS
    assert all(label_facts(label, lang) for label in LABELS.values() for lang in ("en", "fr", "es"))
    # every bundled fact is stated by its own reference description
    for label in LABELS.values():
        for lang in ("en", "fr", "es"):
            assert fact_recall(label["description"][lang], label_facts(label, lang)) == 1.0


def test_french_descriptions_with_without_facts_and_in_spanish() -> None:
    reference = TENT["description"]["fr"]
    # all six facts, in other words than the reference
    assert fact_recall(FR_WITH, FR_FACTS) == 1.0
    with_score = description_score(FR_WITH, "fr", reference, FR_FACTS)
    assert language_probability(FR_WITH, "fr") > 0.99
    assert with_score == pytest.approx(
        language_probability(FR_WITH, "fr") * (1.0 + chrf(FR_WITH, reference)) / 2
    )
    assert 0.6 < with_score < 0.75  # chrF of a paraphrase stays well below 1 (0.358 here)
    # French, on topic, but none of the facts: chrF alone, halved
    assert fact_recall(FR_WITHOUT, FR_FACTS) == 0.0
    without = description_score(FR_WITHOUT, "fr", reference, FR_FACTS)
    assert without == pytest.approx(
        language_probability(FR_WITHOUT, "fr") * chrf(FR_WITHOUT, reference) / 2
    )
    assert without < 0.15
    # Spanish in the French slot: "impermeable" is one fact in both languages, but the gate holds
    assert fact_recall(ES_IN_FR, FR_FACTS) == pytest.approx(1 / 6)
    assert description_score(ES_IN_FR, "fr", reference, FR_FACTS) < 0.01
    # the same Spanish text in its own slot, against the Spanish facts and reference
    es = description_score(ES_IN_FR, "es", TENT["description"]["es"], label_facts(TENT, "es"))
    assert es > 0.5


@pytest.mark.parametrize(
    ("language", "text", "stated"),
    [
        ("en", "A green two person dome tent with waterproof fabric, two poles and a zip door.", 6),
        ("en", "A small shelter for hiking trips.", 0),
        ("es", "Tienda iglú verde para dos personas, impermeable, con varillas y puerta.", 6),
        ("es", "Tienda verde para dos personas.", 2),
    ],
)
def test_english_and_spanish_by_hand(language: str, text: str, stated: int) -> None:
    facts = label_facts(TENT, language)
    assert len(facts) == 6 and fact_recall(text, facts) == pytest.approx(stated / 6)
    reference = TENT["description"][language]
    score = description_score(text, language, reference, facts)
    expected = language_probability(text, language) * (stated / 6 + chrf(text, reference)) / 2
    assert score == pytest.approx(expected)
    # its own reference scores 1 in every language: all facts, chrF 1, the language certain
    assert description_score(reference, language, reference, facts) == pytest.approx(1, abs=1e-4)


def test_without_facts_or_reference_the_language_alone_scores() -> None:
    text = "Une lanterne rechargeable et lumineuse pour le camping et les pannes."
    assert description_score(text, "fr", None, []) == language_probability(text, "fr")
    assert description_score("  ", "fr", "x", ["y"]) == 0.0


def test_product_scenario_scores_descriptions_by_content() -> None:
    scenario = load_scenario("products")
    label = scenario.labels["tent.png"]
    exact = {"name": label["name"], "description": dict(label["description"])}
    scores = score_fields(exact, label, scenario.scorers(label))
    assert scores["description.fr"] == pytest.approx(1.0, abs=1e-3)  # the reference itself
    paraphrase = {**exact, "description": {**exact["description"], "fr": FR_WITH}}
    assert score_fields(paraphrase, label, product_scorers(label))["description.fr"] < 0.75


def test_labels_with_facts_pass_the_checks_and_bad_facts_are_named(tmp_path: Path) -> None:
    from ollama_bench.errors import UsageError
    from ollama_bench.vision.preflight import check

    check(load_scenario("products"))  # the bundled labels: facts are not part of the reply
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "tent.png").write_bytes((ROOT / "images/products/tent.png").read_bytes())
    for facts, says in (
        (["green"], "facts must map each of en, fr, es"),
        ({"de": ["grün"]}, "facts has 'de'"),
        ({"fr": "vert"}, "facts.fr must be a list"),
    ):
        (folder / "labels.json").write_text(json.dumps({"tent.png": {**TENT, "facts": facts}}))
        with pytest.raises(UsageError, match=f"labels.json: tent.png: field facts: {says}"):
            check(load_scenario("products", folder))
