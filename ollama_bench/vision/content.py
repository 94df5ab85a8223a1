"""What a product description says: the label's facts it states and its chrF to the reference.

A description is scored in its own language: P(language) × mean(fact recall, chrF). The language
probability (langdetect) gates the rest, so a French slot answered in Spanish scores near 0 however
many words it shares with the reference. Facts are short phrases from the label ("green",
"two-person"); chrF (Popović 2015, sacrebleu's reference implementation, character 6-grams,
β = 2) rewards wording close to the reference, which a correct paraphrase only partly shares.
Pure functions: no I/O.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from ollama_bench.vision.scoring import FieldScorer, language_probability

if TYPE_CHECKING:
    from sacrebleu.metrics.chrf import CHRF

#: Separates accepted wordings of one fact: "zip|zipper".
ALTERNATIVES = "|"


def fold(text: str) -> str:
    """Case- and accent-insensitive form: `"Dôme Légère"` → `"dome legere"`."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@cache
def _fact_pattern(wording: str) -> re.Pattern[str] | None:
    words = re.findall(r"\w+", fold(wording))
    if not words:
        return None
    # any run of non-word characters between the words: "two-person" matches "two person"
    return re.compile(r"(?<!\w)" + r"\W+".join(map(re.escape, words)) + r"(?!\w)")


def states(text: str, fact: str) -> bool:
    """Does `text` state `fact` (any of its `|` wordings) as whole words, case and accents aside?

    >>> states("Une tente dôme légère", "dome"), states("A green tent", "greenish|teal")
    (True, False)
    >>> states("a two person tent", "two-person"), states("tentes", "tente")
    (True, False)
    """
    folded = fold(text)
    patterns = (_fact_pattern(w) for w in fact.split(ALTERNATIVES))
    return any(p is not None and p.search(folded) for p in patterns)


def fact_recall(text: str, facts: Sequence[str]) -> float:
    """Share of `facts` that `text` states; 0 without facts."""
    if not facts:
        return 0.0
    return sum(states(text, fact) for fact in facts) / len(facts)


@cache
def _chrf() -> CHRF:
    from sacrebleu.metrics.chrf import CHRF

    return CHRF()  # chrF: character 6-grams, β = 2, whitespace ignored (sacrebleu's defaults)


def chrf(text: str, reference: str) -> float:
    """Sentence chrF of `text` against `reference`, in [0, 1] (sacrebleu reports 0–100)."""
    return float(_chrf().sentence_score(text, [reference]).score) / 100


def description_score(
    text: str, language: str, reference: str | None, facts: Sequence[str]
) -> float:
    """P(language) × the mean of what can be checked: fact recall (facts), chrF (reference)."""
    if not text.strip():
        return 0.0
    parts = []
    if facts:
        parts.append(fact_recall(text, facts))
    if reference and reference.strip():
        parts.append(chrf(text, reference))
    content = statistics.fmean(parts) if parts else 1.0
    return language_probability(text, language) * content


def describes(language: str, facts: Sequence[str]) -> FieldScorer:
    """Scorer of one description: `expected` is the label's reference text in that language."""

    def score(expected: Any, actual: Any) -> float:
        if not isinstance(actual, str):
            return 0.0
        reference = expected if isinstance(expected, str) else None
        return description_score(actual, language, reference, facts)

    return score


def label_facts(label: Mapping[str, Any], language: str) -> list[str]:
    """The label's facts for `language` (`{"facts": {"fr": ["vert", ...]}}`); [] when none."""
    facts = label.get("facts")
    found = facts.get(language) if isinstance(facts, Mapping) else None
    if not isinstance(found, list):
        return []
    return [f for f in found if isinstance(f, str)]


def facts_problem(value: Any, languages: Sequence[str]) -> str | None:
    """What is wrong with a label's `facts` (language → list of phrases), or None."""
    shape = f"map each of {', '.join(languages)} to a list of short phrases"
    if not isinstance(value, Mapping):
        return f"facts must {shape}"
    for language, facts in value.items():
        if language not in languages:
            return f"facts has {language!r}, not one of the description's languages; {shape}"
        if not isinstance(facts, list) or not all(isinstance(f, str) and f.strip() for f in facts):
            return f"facts.{language} must be a list of non-empty phrases"
    return None
