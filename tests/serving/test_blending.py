"""Online merge and blend rules on hand-made lists with exact expected answers."""

from __future__ import annotations

import pytest

from musicrec.serving.blending import (
    BLENDS,
    MERGES,
    AlternateBlend,
    MaxMerge,
    ScoredItems,
    SumMerge,
    WeightedBlend,
    configured_blend,
    configured_merge,
    dedup,
    normalized_scores,
)
from musicrec.settings import ServingSettings


def test_dedup_keeps_first_place() -> None:
    assert dedup([3, 1, 3, 2, 1]) == [3, 1, 2]
    assert dedup([]) == []


def test_merge_orders_by_score_across_listens() -> None:
    similar = [([11, 12], [0.9, 0.5]), ([21, 22], [0.95, 0.4])]
    assert MaxMerge()(similar, heard=[], k=10) == ScoredItems([21, 11, 12, 22], [0.95, 0.9, 0.5, 0.4])


def test_merge_keeps_best_score_of_a_repeated_track() -> None:
    similar = [([11, 12], [0.3, 0.2]), ([12, 13], [0.8, 0.1])]
    assert MaxMerge()(similar, heard=[], k=10) == ScoredItems([12, 11, 13], [0.8, 0.3, 0.1])


def test_merge_drops_tracks_just_heard() -> None:
    similar = [([10, 11], [0.9, 0.8]), ([12, 11], [0.7, 0.6])]
    assert MaxMerge()(similar, heard=[10, 12], k=10).items == [11]


def test_merge_ties_keep_newest_listen_first() -> None:
    similar = [([1], [0.5]), ([2], [0.5]), ([3], [0.5])]
    assert MaxMerge()(similar, heard=[], k=10).items == [1, 2, 3]


def test_merge_honours_k() -> None:
    similar = [([1, 2, 3, 4], [0.4, 0.3, 0.2, 0.1])]
    assert MaxMerge()(similar, heard=[2], k=2).items == [1, 3]
    assert MaxMerge()([], heard=[1], k=3) == ScoredItems([], [])


def _items(items: list[int]) -> ScoredItems:
    return ScoredItems(items, [])


@pytest.mark.parametrize(
    ("offline", "online", "k", "expected"),
    [
        ([1, 2, 3], [7, 8, 9], 10, [1, 7, 2, 8, 3, 9]),  # offline at even positions, online at odd
        ([1, 2, 3, 4, 5], [7, 8], 10, [1, 7, 2, 8, 3, 4, 5]),  # rest of the longer (offline) list
        ([1], [7, 8, 9], 10, [1, 7, 8, 9]),  # rest of the longer (online) list
        ([1, 2, 3], [2, 1, 4], 10, [1, 2, 3, 4]),  # repeats dropped, first place wins
        ([1, 2, 3], [7, 8, 9], 3, [1, 7, 2]),  # top k
        ([1, 2], [], 5, [1, 2]),  # no online history: offline only
        ([], [7, 8], 5, [7, 8]),
        ([], [], 5, []),
    ],
)
def test_blend_alternate(offline: list[int], online: list[int], k: int, expected: list[int]) -> None:
    assert AlternateBlend()(_items(offline), _items(online), k) == expected


def test_configured_blend() -> None:
    assert configured_blend(ServingSettings(blend="alternate", online_weight=0.9)) == AlternateBlend()
    assert set(BLENDS) >= {"alternate"}
    weighted = configured_blend(ServingSettings(blend="weighted", online_weight=0.8))
    assert weighted == WeightedBlend(online_weight=0.8)
    offline, online = ScoredItems([1, 2, 3], [3.0, 2.0, 1.0]), ScoredItems([7, 2, 8], [0.9, 0.5, 0.1])
    assert weighted(offline, online, 10) == [7, 2, 1, 3, 8]


# --- options added for the replay tuning (issue 5) ------------------------------------------------
def test_merge_sum_adds_scores_across_listens() -> None:
    similar = [([11, 12], [0.5, 0.4]), ([12, 13], [0.3, 0.6]), ([10], [0.9])]
    merged = SumMerge()(similar, heard=[10], k=10)
    assert merged.items == [12, 13, 11]
    assert merged.scores == pytest.approx([0.7, 0.6, 0.5])
    assert SumMerge()(similar, heard=[], k=2).items == [10, 12]


def test_configured_merge() -> None:
    assert configured_merge(ServingSettings(online_merge="max")) == MaxMerge()
    assert configured_merge(ServingSettings(online_merge="sum")) == SumMerge()


def test_normalized_scores() -> None:
    assert normalized_scores(ScoredItems([1, 2, 3], [4.0, 2.0, 0.0])) == [1.0, 0.5, 0.0]
    assert normalized_scores(ScoredItems([1, 2, 3, 4], [])) == [1.0, 0.75, 0.5, 0.25]  # by rank
    assert normalized_scores(ScoredItems([1], [0.3])) == [1.0]
    assert normalized_scores(ScoredItems([], [])) == []


def test_normalized_scores_count_only_the_first_places() -> None:
    assert normalized_scores(ScoredItems([1, 2, 3, 4], [4.0, 2.0, 1.0, 0.5]), depth=2) == [1.0, 0.0, 0.0, 0.0]
    assert normalized_scores(ScoredItems([1, 2, 3], [4.0, 3.0, 2.0]), depth=3) == [1.0, 0.5, 0.0]
    assert normalized_scores(ScoredItems([1, 2, 3, 4], []), depth=2) == [1.0, 0.5, 0.0, 0.0]


def test_a_deeper_list_leaves_the_weighted_blends_first_places_alone() -> None:
    offline = ScoredItems(list(range(100, 160)), [1.0 - n / 100 for n in range(60)])
    online = ScoredItems(list(range(200, 300)), [0.9 - n / 200 for n in range(100)])
    blend = WeightedBlend(0.7)
    deep = blend(offline, online, 160)
    shallow = blend(offline, ScoredItems(online.items[:25], online.scores[:25]), 85)
    assert deep[:40] == shallow[:40]


def test_blend_weighted() -> None:
    offline = ScoredItems([1, 2, 3], [3.0, 2.0, 1.0])  # normalized 1, 0.5, 0
    online = ScoredItems([7, 2, 8], [0.9, 0.5, 0.1])  # normalized 1, 0.5, 0
    # equal weights: 1, 2 (0.25 + 0.25) and 7 tie at 0.5, 3 and 8 at 0; ties keep offline's order first
    assert WeightedBlend()(offline, online, 10) == [1, 2, 7, 3, 8]
    assert WeightedBlend(0.8)(offline, online, 10) == [7, 2, 1, 3, 8]
    assert WeightedBlend(0.2)(offline, online, 2) == [1, 2]
    assert WeightedBlend()(offline, ScoredItems([], []), 5) == [1, 2, 3]


def test_every_registered_rule_is_named_by_settings_and_tuned_as_it_says() -> None:
    for registry in (MERGES, BLENDS):
        for name, rule in registry.items():
            assert rule.name == name
            for configuration in rule.tuning_grid():
                serving = ServingSettings.model_validate(configuration.serving_values())
                assert rule.from_settings(serving) == configuration  # the settings choose it back
    assert [blend.label for blend in WeightedBlend.tuning_grid()] == [
        "weighted 0.3", "weighted 0.5", "weighted 0.7", "weighted 0.85"]


def test_the_settings_name_exactly_the_registered_blends_and_merges() -> None:
    """settings.py names them itself (it imports nothing above it); the registries must agree."""
    from musicrec.serving.blending import BLENDS, MERGES
    from musicrec.settings import BLEND_NAMES, MERGE_NAMES

    assert set(BLENDS) == set(BLEND_NAMES) and set(MERGES) == set(MERGE_NAMES)
