"""Data files: `dataset` writes them (config -> samples -> rows -> JSONL or Parquet, atomically), `formats`
holds the row shapes (to_row / parse_row), `file_check` reads any such file back for `show` and `validate`."""
