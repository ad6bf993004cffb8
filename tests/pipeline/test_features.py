import numpy as np
import pytest
import scipy.sparse as sp

from musicrec.pipeline.content import ItemContent
from musicrec.pipeline.features import FEATURE_NAMES, FeatureBuilder
from musicrec.pipeline.ids import IdIndex
from musicrec.pipeline.workspace import TrainData


def _builder() -> FeatureBuilder:
    # user 0: item 0 three times, item 1 once; user 1: item 2 twice
    matrix = sp.csr_matrix(np.array([[3, 1, 0], [0, 0, 2]], dtype=np.float32))
    data = TrainData(
        users=IdIndex(np.array([100, 200])),
        items=IdIndex(np.array([10, 11, 12])),
        matrix=matrix,
        item_first_day=np.array([90, 95, 98], dtype=np.int32),
        item_recent_listens=np.array([1, 0, 2], dtype=np.int32),
        user_last_day=np.array([95, 98], dtype=np.int32),
        recent_matrix=sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 0]], dtype=np.float32)),
    )
    content = ItemContent(artist=np.array([7, 7, 8]), album=np.array([1, 2, -1]),
                          genre=np.array([5, 6, 5]))
    return FeatureBuilder(data, content, cutoff_day=100, user_best_score=np.array([0.9, 0.4]))


def test_features_of_hand_made_pairs():
    users, items = np.array([0, 1, 0]), np.array([2, 0, 1])
    features = _builder().build(users, items, np.array([0.5, 0.2, 0.1]), np.array([1, 2, 3]))
    column = {name: features[:, i].tolist() for i, name in enumerate(FEATURE_NAMES)}
    assert features.dtype == np.float32 and features.shape == (3, len(FEATURE_NAMES))
    assert column["als_rank"] == [1, 2, 3]
    assert column["item_listens"] == [2, 3, 1]
    assert column["item_listeners"] == [1, 1, 1]
    assert column["item_recent_share"] == pytest.approx([1.0, 1 / 3, 0.0])
    assert column["item_age_days"] == [2, 10, 5]
    assert column["user_listens"] == [4, 2, 4]
    assert column["user_tracks"] == [2, 1, 2]
    assert column["user_days_since_last"] == [5, 2, 5]
    assert column["user_artist_share"] == [0.0, 0.0, 1.0]
    assert column["user_album_share"] == [0.0, 0.0, 0.25]  # item 2 has no album
    assert column["user_genre_share"] == [0.75, 1.0, 0.25]
    assert column["als_score_gap"] == pytest.approx([0.4, 0.2, 0.8])
    # recent listens: user 0 heard items 0 and 1 once each; user 1 nothing
    assert column["user_recent_artist_share"] == [0.0, 0.0, 1.0]
    assert column["user_recent_genre_share"] == [0.5, 0.0, 0.5]
