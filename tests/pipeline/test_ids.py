import numpy as np
import pytest

from musicrec.pipeline import ids
from musicrec.pipeline.ids import MISSING, IdIndex


@pytest.mark.parametrize("max_table_id", [400_000_000, 10])  # lookup table and binary search paths
def test_encode_decode_round_trip(monkeypatch, max_table_id):
    monkeypatch.setattr(ids, "_MAX_TABLE_ID", max_table_id)
    index = IdIndex.from_ids(np.array([50, 7, 50, 1000, 7]))
    assert index.ids.tolist() == [7, 50, 1000]
    encoded = index.encode(np.array([1000, 7, 8, 50, 2000]))
    assert encoded.tolist() == [2, 0, MISSING, 1, MISSING]
    assert encoded.dtype == np.int32
    assert index.decode(np.array([2, 0])).tolist() == [1000, 7]


def test_negative_ids_are_rejected():
    with pytest.raises(ValueError):
        IdIndex.from_ids(np.array([3, -1]))


def test_empty_index_encodes_everything_missing():
    assert IdIndex.from_ids(np.array([], dtype=np.int64)).encode(np.array([1, 2])).tolist() == [-1, -1]
