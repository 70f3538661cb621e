"""The paper's baselines (§3.4) as tasks: `niah` (a needle in Paul Graham essays), `mdqa_train` (MDQA
training samples from the NQ train split), `released_qa` (MultidocQA / IN2 records from a file), and
`mdqa_sets`, the MDQA question sets the benchmark (evals.mdqa) and the MDQA probe (train.mdqa_probe) draw from,
and `mdqa_prompts`, the prompts and requests both build from them."""
