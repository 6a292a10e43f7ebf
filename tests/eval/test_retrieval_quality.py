"""Retrieval quality on the small slice of the real support data, on real Postgres."""

import pytest

from eval.dataset import DEFAULT_DATA_DIR, DEFAULT_SEED, SIZES, build_eval_set
from eval.retrieval import PROJECT_ID, evaluate
from eval.scoring import METHODS, ndcg_at_k, recall_at_k

pytestmark = pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / "support").is_dir(),
    reason=f"the real data folder {DEFAULT_DATA_DIR} is missing",
)


def test_recall_counts_relevant_in_top_k() -> None:
    ranked = ["a", "x", "b", "y"]

    assert recall_at_k(ranked, frozenset({"a", "b"}), k=2) == 0.5
    assert recall_at_k(ranked, frozenset({"a", "b"}), k=3) == 1.0
    assert recall_at_k(ranked, frozenset({"z"}), k=4) == 0.0


def test_ndcg_rewards_earlier_hits() -> None:
    relevant = frozenset({"a"})

    assert ndcg_at_k(["a", "x"], relevant) == 1.0
    assert ndcg_at_k(["x", "a"], relevant) == pytest.approx(1 / 1.584962500721156)
    assert ndcg_at_k(["x", "y"], relevant) == 0.0


def test_slice_is_deterministic() -> None:
    first = build_eval_set(SIZES["slice"], project_id=PROJECT_ID, seed=DEFAULT_SEED)
    second = build_eval_set(SIZES["slice"], project_id=PROJECT_ID, seed=DEFAULT_SEED)

    assert first.questions == second.questions
    assert first.documents == second.documents
    assert len(first.questions) == 30


def test_held_out_message_is_not_indexed() -> None:
    eval_set = build_eval_set(SIZES["slice"], project_id=PROJECT_ID)
    texts = {
        document.external_id: {section.text for section in document.sections}
        for document in eval_set.documents
    }

    for question in eval_set.questions:
        for external_id in question.relevant:
            assert question.text not in texts[external_id], external_id


async def test_slice_metrics_on_real_postgres(database_dsn: str) -> None:
    evaluation = await evaluate(database_dsn, "slice", seed=DEFAULT_SEED)
    overall = evaluation.report.overall

    assert set(overall) == set(METHODS)
    for method in METHODS:
        assert overall[method].questions == 30, method
        assert 0.0 <= overall[method].recall <= 1.0, method
        assert 0.0 <= overall[method].ndcg <= 1.0, method
    pairs = {(overall[m].recall, overall[m].ndcg) for m in METHODS}
    assert len(pairs) > 1, "every method scored the same"
    # NOTE: with BM25 full text, hybrid recall@10 ties vector-only on this
    # slice (0.508 each) and beats it by 3.4 points on the full set (0.467
    # against 0.433). Full text still pulls English conversations into
    # answers to English questions about Russian ones, so hybrid only has to
    # beat the ranking of the replaced system here.
    assert overall["hybrid"].recall > overall["legacy"].recall, (
        f"hybrid recall@10 {overall['hybrid'].recall:.3f} is not above"
        f" the replaced ranking's {overall['legacy'].recall:.3f}"
    )
    assert overall["hybrid"].ndcg > overall["legacy"].ndcg
