"""Exact token counts for the generators' budgets without transformers: `tokens` (the counter and the
loaders of every tokenizer kind), `tokenizer_json` (a Hugging Face tokenizer folder rebuilt with `tokenizers`
alone) and `loader_agreement` (that rebuild is trusted for a folder only after it agreed with transformers)."""
