"""Replay evaluation: test-period listens replayed through the recommender, hit rates measured."""
