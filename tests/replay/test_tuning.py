"""The tuning grid: every registered merge and blend configuration, and the course rule among them."""

from __future__ import annotations

from musicrec.replay.tuning import COURSE_RULE, HISTORIES, Variant, grid
from musicrec.serving.blending import MERGES, AlternateBlend, MaxMerge, WeightedBlend
from musicrec.settings import load_settings


def test_grid_tries_every_registered_rule_as_its_class_says() -> None:
    variants = grid()
    assert {variant.online_merge for variant in variants} == {merge() for merge in MERGES.values()}
    assert {variant.blend for variant in variants} == {
        AlternateBlend(), *(WeightedBlend(weight) for weight in (0.3, 0.5, 0.7, 0.85))}
    assert len(variants) == len(set(variants)) == len(HISTORIES) * len(MERGES) * 5 * 2
    assert COURSE_RULE in variants


def test_a_variant_applied_to_settings_reads_back_as_itself() -> None:
    settings = load_settings(environ={})
    for variant in (COURSE_RULE, Variant(5, MaxMerge(), WeightedBlend(0.85), True)):
        assert Variant.of(variant.apply(settings)) == variant
