import numpy as np
import pyarrow as pa

from musicrec.pipeline.content import ItemContent, content_neighbours, first_elements, top_k_per_group


def test_first_elements_handles_empty_and_null_lists():
    lists = pa.chunked_array([pa.array([[3, 4], [], None, [9]], pa.list_(pa.int64()))])
    assert first_elements(lists).tolist() == [3, -1, -1, 9]


def test_top_k_per_group_keeps_the_first_rows_of_each_run():
    groups = np.array([1, 1, 1, 2, 3, 3])
    (kept,) = top_k_per_group(groups, 2, np.arange(6))
    assert kept.tolist() == [0, 1, 3, 4, 5]


def test_content_neighbours_prefer_album_then_artist_then_genre():
    # items:        0   1   2   3   4   5
    artist = np.array([1, 1, 2, 1, 3, 1])
    album = np.array([10, 11, 20, 10, 30, -1])
    genre = np.array([5, 5, 5, 6, 6, 5])
    content = ItemContent(artist, album, genre)
    popularity = np.array([0, 50, 40, 30, 20, 0])
    sources = np.array([1, 2, 3, 4])  # trained items
    first, second, score = content_neighbours(np.array([0, 5]), sources, content, popularity, k=3)
    rows = list(zip(first.tolist(), second.tolist()))
    # item 0: album 10 -> 3 (0.5); artist 1 -> 1 (0.4, rank 0), 3 (already better); genre 5 -> 1, 2
    assert rows[:3] == [(0, 3), (0, 1), (0, 2)]
    assert score[:3].tolist() == np.array([0.5, 0.4, 0.2 - 0.001], dtype=np.float32).tolist()
    # item 5: no album; artist 1 -> 1, 3 ; genre 5 -> 1, 2
    assert rows[3:] == [(5, 1), (5, 3), (5, 2)]
    assert (first != second).all()
