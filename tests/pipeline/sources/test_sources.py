"""Every candidate source passes the same checks (as implicit tests each of its models)."""

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from pydantic import ValidationError

from musicrec.pipeline.sources import SOURCES, SourceContext, chosen_sources
from musicrec.pipeline.sources.als import confidence
from musicrec.pipeline.sources.base import candidate_pool
from musicrec.pipeline.sources.ease import ease_weights
from musicrec.settings import PipelineSettings, SettingsError, load_settings, source_names
from tests.pipeline.histories import content_of, history_of, two_taste_groups

# Small settings where the defaults are sized for real data (64 factors on 10 tracks).
TEST_VALUES: dict[str, dict[str, Any]] = {"als": {"factors": 4, "iterations": 15, "regularization": 0.01, "alpha": 1.0},
               "itemknn": {"neighbours": 5}, "ease": {"lambda_": 1.0}, "popular": {},
               "artist": {"tracks": 5}}
PERSONAL = ("als", "itemknn", "ease", "artist")


def fitted(name: str, matrix: np.ndarray):
    source = SOURCES[name].from_values(TEST_VALUES[name],
                                       SourceContext(PipelineSettings(), content_of(matrix.shape[1])))
    source.fit(history_of(matrix))
    return source


def test_every_registered_source_is_exercised():
    assert set(TEST_VALUES) == set(SOURCES)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_lists_are_unheard_ranked_and_at_most_n(name):
    matrix = two_taste_groups()
    lists = fitted(name, matrix).recommend(np.arange(20), 2)
    assert np.bincount(lists.users, minlength=20).max() <= 2
    assert (matrix[lists.users, lists.items] == 0).all()
    assert (np.diff(lists.users) >= 0).all()
    first = np.r_[True, lists.users[1:] != lists.users[:-1]]
    assert (lists.ranks[first] == 1).all()
    assert (np.diff(lists.scores)[~first[1:]] <= 1e-6).all()


@pytest.mark.parametrize("name", PERSONAL)
def test_personal_sources_keep_each_user_within_their_taste(name):
    lists = fitted(name, two_taste_groups()).recommend(np.arange(20), 2)
    assert np.unique(lists.users).size == 20
    assert ((lists.users < 10) == (lists.items < 5)).all()


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_user_without_history_gets_no_personal_list(name):
    matrix = two_taste_groups()
    matrix[3] = 0
    lists = fitted(name, matrix).recommend(np.array([3]), 2)
    if name in ("ease", "artist", "itemknn"):
        assert len(lists) == 0
    else:
        assert len(lists) <= 2


def test_pinned_settings_are_not_searched_and_win():
    settings = load_settings(Path("/nonexistent"), {"MUSICREC_PIPELINE__ALS__FACTORS": "16",
                                                    "MUSICREC_PIPELINE__EASE__LAMBDA": "7"}).pipeline
    assert "factors" not in SOURCES["als"].searchable(settings)
    assert "lambda_" not in SOURCES["ease"].searchable(settings)
    source = SOURCES["als"].from_values({"factors": 128, "alpha": 3.0}, SourceContext(settings, content_of(4)))
    assert source.params.factors == 16 and source.params.alpha == 3.0


def test_chosen_sources_always_include_popular_and_reject_unknown_names():
    assert list(chosen_sources(PipelineSettings(sources=("ease",)))) == ["ease", "popular"]
    with pytest.raises(ValidationError, match="unknown nope"):
        PipelineSettings(sources=("als", "nope"))


def test_sources_setting_reads_a_comma_list():
    assert PipelineSettings.model_validate({"sources": "als, ease"}).sources == ("als", "ease")
    assert PipelineSettings.model_validate({"als": {"factors": ""}}).als.factors is None


def test_every_registered_source_has_a_settings_section_naming_its_parameters():
    assert set(SOURCES) == set(source_names())
    for name, source in SOURCES.items():
        section = type(PipelineSettings().source_settings(name)).model_fields
        parameters = {field.name for field in dataclasses.fields(source.Params)}
        assert parameters <= set(section), name  # every parameter can be pinned by its own name
        assert set(source.space()) <= parameters, name


def test_unknown_source_settings_are_refused_when_settings_load(tmp_path):
    config = tmp_path / "config.ini"
    config.write_text("[pipeline.ease]\nlambda_typo = 3\n")
    expected = r"\[pipeline.ease\] lambda_typo \(or MUSICREC_PIPELINE__EASE__LAMBDA_TYPO\)"
    with pytest.raises(SettingsError, match=expected):
        load_settings(config, {})
    config.write_text("[pipeline.nope]\nx = 1\n")
    with pytest.raises(SettingsError, match=r"\[pipeline\] nope"):
        load_settings(config, {})


@pytest.mark.parametrize("users", [30, 5])  # more users than items: direct; fewer: Woodbury
def test_ease_weights_match_the_closed_form(users):
    rng = np.random.default_rng(users)
    x = (rng.random((users, 10)) < 0.4).astype(np.float64)
    inverse = np.linalg.inv(x.T @ x + 3.0 * np.eye(10))
    expected = -inverse / np.diag(inverse)
    np.fill_diagonal(expected, 0.0)
    assert np.allclose(ease_weights(sp.csr_matrix(x), 3.0), expected, atol=1e-5)


def test_candidate_pool_takes_the_most_listened_items_up_to_the_share():
    listens = np.array([10, 0, 5, 85])
    assert candidate_pool(listens, 0.9).tolist() == [0, 3]
    assert candidate_pool(listens, 1.0).tolist() == [0, 2, 3]  # never an unplayed item
    assert candidate_pool(listens, 1.0, max_items=1).tolist() == [3]


def test_confidence_weightings_keep_the_sparsity():
    counts = sp.csr_matrix(np.array([[1, 0, 3], [0, 2, 1]], dtype=np.float32))
    assert np.allclose(confidence(counts, "log").toarray(), np.log1p(counts.toarray()))
    assert np.allclose(confidence(counts, "binary").toarray(), counts.toarray() > 0)
    bm25 = confidence(counts, "bm25")
    assert set(zip(*bm25.nonzero())) <= set(zip(*counts.nonzero()))
    assert (bm25.data >= 0).all() and bm25.dtype == np.float32


def test_als_similar_tracks_exclude_self_and_stay_in_the_group():
    als = fitted("als", two_taste_groups())
    first, second, score = als.similar(np.arange(10), k=3)
    assert first.tolist() == np.repeat(np.arange(10), 3).tolist()
    assert (first != second).all()
    assert ((first < 5) == (second < 5)).all()
    assert (np.diff(score.reshape(10, 3), axis=1) <= 1e-6).all()
