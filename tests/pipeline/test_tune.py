import numpy as np
import pytest

from musicrec.pipeline.data import Pairs
from musicrec.pipeline.sources import SOURCES, SourceContext
from musicrec.pipeline.tune import Validation, search, trial_budget
from musicrec.settings import PipelineSettings
from tests.pipeline.histories import content_of, history_of, two_taste_groups


def _validation(settings: PipelineSettings) -> Validation:
    """Every user will play the one track of their half they have not heard yet."""
    matrix = two_taste_groups(users=20, items=10, heard=4)
    users, items = np.nonzero(matrix == 0)
    own_half = (users < 10) == (items < 5)
    target = Pairs(users[own_half].astype(np.int32), items[own_half].astype(np.int32))
    return Validation(history_of(matrix), target, settings.tune_users, settings.seed)


def test_trial_budget_covers_small_choice_spaces_exactly():
    assert trial_budget(SOURCES["popular"], SOURCES["popular"].SPACE) == 2
    assert trial_budget(SOURCES["ease"], {}) == 1
    assert trial_budget(SOURCES["als"], SOURCES["als"].SPACE) > 10


def test_search_starts_from_the_defaults_and_never_ends_below_them():
    settings = PipelineSettings(tune_users=100)
    context = SourceContext(settings, content_of(10))
    validation = _validation(settings)
    report = search(SOURCES["itemknn"], context, validation, seconds=5)
    assert report["trials"][0]["params"] == {"neighbours": 100, "weighting": "cosine"}
    default_score = report["trials"][0]["ndcg@10"]
    assert report["validation_ndcg@10"] >= default_score
    assert report["validation_ndcg@10"] == max(t["ndcg@10"] for t in report["trials"] if t["ndcg@10"] is not None)


def test_pinned_values_are_reported_and_kept():
    settings = PipelineSettings(tune_users=100, itemknn_weighting="bm25")
    report = search(SOURCES["itemknn"], SourceContext(settings, content_of(10)), _validation(settings), seconds=3)
    assert report["pinned"] == {"weighting": "bm25"}
    assert report["values"]["weighting"] == "bm25"
    assert all("weighting" not in trial["params"] for trial in report["trials"])


def test_validation_on_a_user_sample_keeps_only_their_rows():
    settings = PipelineSettings(tune_users=100)
    matrix = two_taste_groups(users=200, items=10, heard=4)
    users, items = np.nonzero(matrix == 0)
    validation = Validation(history_of(matrix), Pairs(users.astype(np.int32), items.astype(np.int32)),
                            sample_size=100, seed=0)
    assert validation.history.active_users.size == 100
    assert np.isin(validation.users, validation.history.active_users).all()
    assert np.isin(validation.relevant.users, validation.history.active_users).all()


@pytest.mark.parametrize("name", ["ease", "popular"])
def test_search_runs_for_every_kind_of_space(name):
    settings = PipelineSettings(tune_users=100)
    report = search(SOURCES[name], SourceContext(settings, content_of(10)), _validation(settings), seconds=3)
    assert report["trials"] and set(report["values"]) == {f.name for f in
                                                           SOURCES[name].Params.__dataclass_fields__.values()}
