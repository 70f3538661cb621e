"""Analyses that run a model to explain it: the token-level loss map of the answer (loss_map.py, drawn by
loss_map_render.py) and the retrieval score of every attention head (retrieval_heads.py, run per model and
drawn by head_maps.py). Each writes its files (JSON, PNG, HTML) into its stage folder; the
report only reads those files. Importing this package is cheap (no torch)."""
