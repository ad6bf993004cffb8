import numpy as np

from musicrec.pipeline.top_popular import top_popular


def test_top_popular_orders_by_listens_then_listeners_then_index():
    listens = np.array([5, 9, 5, 0, 5, 1])
    listeners = np.array([2, 3, 4, 0, 2, 1])
    # 1 (9 listens); then 2 (5, 4 listeners); then 0 and 4 (5, 2) by index; then 5; 3 never played
    assert top_popular(listens, listeners, 10).tolist() == [1, 2, 0, 4, 5]
    assert top_popular(listens, listeners, 2).tolist() == [1, 2]
