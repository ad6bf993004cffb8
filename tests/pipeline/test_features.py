import numpy as np
import pytest
import scipy.sparse as sp

from musicrec.pipeline.content import ItemContent
from musicrec.pipeline.data import History
from musicrec.pipeline.features import FeatureBuilder, feature_names
from musicrec.pipeline.ids import IdIndex
from musicrec.pipeline.lists import MISSING_RANK, CandidateTable


def _builder() -> FeatureBuilder:
    # user 0: item 0 three times, item 1 once; user 1: item 2 twice
    matrix = sp.csr_matrix(np.array([[3, 1, 0], [0, 0, 2]], dtype=np.float32))
    data = History(
        users=IdIndex(np.array([100, 200])),
        items=IdIndex(np.array([10, 11, 12])),
        matrix=matrix,
        recent_matrix=sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 0]], dtype=np.float32)),
        item_first_day=np.array([90, 95, 98], dtype=np.int32),
        user_last_day=np.array([95, 98], dtype=np.int32),
        cutoff_day=100,
    )
    content = ItemContent(artist=np.array([7, 7, 8]), album=np.array([1, 2, -1]),
                          genre=np.array([5, 6, 5]))
    return FeatureBuilder(data, content)


def test_features_of_hand_made_pairs():
    table = CandidateTable(
        users=np.array([0, 1, 0]), items=np.array([2, 0, 1]),
        scores=np.array([[0.5, np.nan], [0.2, 0.7], [0.1, 0.3]], dtype=np.float32),
        ranks=np.array([[1, MISSING_RANK], [2, 1], [3, 2]], dtype=np.float32), source_names=("als", "ease"))
    features = _builder().build(table)
    names = feature_names(table.source_names)
    column = {name: features[:, i].tolist() for i, name in enumerate(names)}
    assert features.dtype == np.float32 and features.shape == (3, len(names))
    assert column["als_rank"] == [1, 2, 3]
    assert column["ease_rank"] == [MISSING_RANK, 1, 2]
    # user 0's best: als 0.5, ease 0.3 (row 3); user 1's: als 0.2, ease 0.7
    assert column["als_score_gap"] == pytest.approx([0.0, 0.0, -0.4])
    assert column["ease_score_gap"][1:] == pytest.approx([0.0, 0.0]) and np.isnan(column["ease_score_gap"][0])
    assert column["sources_proposing"] == [1, 2, 2]
    assert column["item_listens"] == [2, 3, 1]
    assert column["item_listeners"] == [1, 1, 1]
    assert column["item_recent_share"] == pytest.approx([0.0, 1 / 3, 1.0])  # from the recent matrix
    assert column["item_age_days"] == [2, 10, 5]
    assert column["user_listens"] == [4, 2, 4]
    assert column["user_tracks"] == [2, 1, 2]
    assert column["user_days_since_last"] == [5, 2, 5]
    assert column["user_artist_share"] == [0.0, 0.0, 1.0]
    assert column["user_album_share"] == [0.0, 0.0, 0.25]  # item 2 has no album
    assert column["user_genre_share"] == [0.75, 1.0, 0.25]
    # recent listens: user 0 heard items 0 and 1 once each; user 1 nothing
    assert column["user_recent_artist_share"] == [0.0, 0.0, 1.0]
    assert column["user_recent_genre_share"] == [0.5, 0.0, 0.5]


def test_no_rows_give_an_empty_feature_matrix():
    """The ranker stage may meet users without a single candidate (thin data): no numpy error."""
    empty = CandidateTable(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros((0, 1), np.float32),
                           np.zeros((0, 1), np.float32), ("als",))
    assert _builder().build(empty).shape == (0, len(feature_names(("als",))))
