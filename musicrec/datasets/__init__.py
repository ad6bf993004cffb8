"""Raw data in the course format: realistic synthetic data at any scale, and reading real files.

- `raw`: read and validate `tracks.parquet`, `catalog_names.parquet`, `interactions.parquet`.
- `synthetic`: `generate(out_dir, scale, seed)`, the entry point of `python -m musicrec data`;
  it combines `catalog` (genres, artists, albums, tracks), `catalog_files` (those as the course's
  files, with their mess) and `listening` (users and sessions), in one of the `shapes` (`course`,
  `playlists`) and sized by `scales`.
- `sampling` and `packed`: the vectorised weighted sampling and sorting they are built on.
"""
