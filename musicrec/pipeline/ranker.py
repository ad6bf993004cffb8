"""Stage `ranker`: CatBoost re-ranks each user's ALS candidates -> recommendations.parquet.

The published recommendations leave out tracks the user heard after train (target window and test
period): the service shows only unheard tracks. The evaluation uses the ranker's list before that
filter (`RANKED_FILE`), since the filter knows the test period.

Learning: for a sample of `ranker_users` users who listened to at least one of their candidates in
the target window, every such candidate is a positive and NEGATIVES_PER_USER random other candidates
are negatives (all of them would multiply the rows ~30x and teach little more). Features come from
train only (see features.py). Scoring: every user's candidates, in user batches so memory stays
flat at full size; the best `recommendations_per_user` per user are kept.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from catboost import CatBoostClassifier
from tqdm.auto import tqdm

from musicrec import schema
from musicrec.pipeline.als import CANDIDATES_FILE
from musicrec.pipeline.content import read_item_content
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.features import FEATURE_NAMES, FeatureBuilder
from musicrec.pipeline.metrics import EVALUATION_K
from musicrec.pipeline.split import SPLIT_FILE, TARGET_PAIRS, TEST_PAIRS, day_number
from musicrec.pipeline.workspace import Pairs
from musicrec.settings import PipelineSettings

log = logging.getLogger(__name__)
NEGATIVES_PER_USER = 30
SCORE_BATCH_USERS = 50_000
MODEL_FILE = "ranker.cbm"
RANKED_FILE = "ranker_top.npz"  # the ranker's own top list per user, before serving filters


def load_candidates(work) -> dict[str, np.ndarray]:
    stored = np.load(work.require(CANDIDATES_FILE, "als"))
    return {name: stored[name] for name in ("users", "items", "scores", "ranks")}


def user_runs(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and size of each run of equal values in a sorted user array."""
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if users.size else np.zeros(0, int)
    return starts, np.diff(np.r_[starts, users.size])


def best_scores(candidates: dict[str, np.ndarray], n_users: int) -> np.ndarray:
    """Each user's top ALS score (0 for users without candidates)."""
    best = np.zeros(n_users, dtype=np.float32)
    first = candidates["ranks"] == 1
    best[candidates["users"][first]] = candidates["scores"][first]
    return best


def training_rows(users: np.ndarray, labels: np.ndarray, n_users: int, sample_size: int,
                  negatives_per_user: int, rng: np.random.Generator) -> np.ndarray:
    """Candidate rows to learn from: sampled users' positives plus some random negatives each."""
    positives_per_user = np.bincount(users[labels], minlength=n_users)
    eligible = np.flatnonzero(positives_per_user > 0)
    chosen = np.zeros(n_users, dtype=bool)
    chosen[rng.choice(eligible, size=min(sample_size, eligible.size), replace=False)] = True
    in_sample = chosen[users]
    negatives = np.flatnonzero(in_sample & ~labels)
    negatives = negatives[rng.permutation(negatives.size)]
    negatives = negatives[np.argsort(users[negatives], kind="stable")]
    starts, sizes = user_runs(users[negatives])
    rank = np.arange(negatives.size) - np.repeat(starts, sizes)
    keep = np.concatenate([np.flatnonzero(in_sample & labels), negatives[rank < negatives_per_user]])
    return np.sort(keep)


def fit_ranker(features: np.ndarray, labels: np.ndarray, params: PipelineSettings) -> CatBoostClassifier:
    model = CatBoostClassifier(
        iterations=params.ranker_iterations,
        depth=6,
        learning_rate=0.1,
        random_seed=params.seed,
        thread_count=-1,
        verbose=max(1, params.ranker_iterations // 5),
        allow_writing_files=False,
    )
    model.fit(features, labels.astype(np.int8))
    return model


def top_by_score(users: np.ndarray, items: np.ndarray, scores: np.ndarray,
                 k: int) -> tuple[np.ndarray, ...]:
    """Per user, the k highest-scored items: (users, items, scores, ranks) sorted by user, rank."""
    order = np.lexsort((items, -scores, users))
    users, items, scores = users[order], items[order], scores[order]
    starts, sizes = user_runs(users)
    rank = np.arange(users.size) - np.repeat(starts, sizes) + 1
    keep = rank <= k
    return users[keep], items[keep], scores[keep], rank[keep].astype(np.int32)


def score_all(model: CatBoostClassifier, builder: FeatureBuilder,
              candidates: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Rank every user's candidates with the model, one batch of users at a time."""
    starts, _ = user_runs(candidates["users"])
    edges = np.r_[starts[::SCORE_BATCH_USERS], candidates["users"].size]
    parts = []
    for low, high in tqdm(list(zip(edges[:-1], edges[1:])), desc="ranker scoring", unit="batch"):
        rows = {name: values[low:high] for name, values in candidates.items()}
        features = builder.build(rows["users"], rows["items"], rows["scores"], rows["ranks"])
        scores = model.predict_proba(features)[:, 1].astype(np.float32)
        parts.append(top_by_score(rows["users"], rows["items"], scores, np.iinfo(np.int32).max))
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(4))


def recommendations_table(data, users, items, scores, ranks) -> pa.Table:
    return pa.table(
        {
            schema.USER_ID: data.users.decode(users).astype(np.int32),
            schema.ITEM_ID: data.items.decode(items).astype(np.int32),
            schema.SCORE: scores.astype(np.float32),
            schema.RANK: ranks.astype(np.int32),
        },
        schema=schema.RECOMMENDATIONS_SCHEMA,
    )


def run(context: StageContext) -> dict[str, Any]:
    work, params = context.work, context.params
    data = work.load_train()
    candidates = load_candidates(work)
    cutoff = day_number(date.fromisoformat(work.load_json(SPLIT_FILE, "split")["target_start"]))
    builder = FeatureBuilder(data, read_item_content(context.raw_dir / schema.TRACKS_FILE, data.items),
                             cutoff, best_scores(candidates, len(data.users)))
    n_items = len(data.items)
    target: Pairs = work.load_pairs(TARGET_PAIRS)
    labels = np.isin(candidates["users"].astype(np.int64) * n_items + candidates["items"],
                     target.keys(n_items))
    rows = training_rows(candidates["users"], labels, len(data.users), params.ranker_users,
                         NEGATIVES_PER_USER, np.random.default_rng(params.seed))
    features = builder.build(*(candidates[name][rows] for name in ("users", "items", "scores", "ranks")))
    log.info("ranker: learning on %d rows (%d positive) of %d users", rows.size, labels[rows].sum(),
             np.unique(candidates["users"][rows]).size)
    model = fit_ranker(features, labels[rows], params)
    model.save_model(str(work.path(MODEL_FILE)))
    importances = dict(zip(FEATURE_NAMES, np.round(model.get_feature_importance(), 2).tolist()))
    log.info("ranker: feature importance %s", importances)
    users, items, scores, ranks = score_all(model, builder, candidates)
    top = ranks <= EVALUATION_K
    np.savez(work.path(RANKED_FILE), users=users[top], items=items[top], ranks=ranks[top])
    heard_later = np.isin(users.astype(np.int64) * n_items + items, np.concatenate(
        [work.load_pairs(name).keys(n_items) for name in (TARGET_PAIRS, TEST_PAIRS)]))
    table = recommendations_table(data, *top_by_score(users[~heard_later], items[~heard_later],
                                                      scores[~heard_later],
                                                      params.recommendations_per_user))
    pq.write_table(table, work.path(schema.RECOMMENDATIONS_FILE))
    return {"train_rows": int(rows.size), "positives": int(labels[rows].sum()),
            "recommendation_rows": table.num_rows, "feature_importance": importances}
