"""The transfer suite's own benchmarks (issue 30): real-text tasks in surface forms unlike the training
dictionaries, each one module ending in a `Benchmark` record, all answering claim 2. `split` is their one
dev/eval hash split, `readers` their answer readers, `passages` the multi-passage layout shared by the
SQuAD and SciQ tasks, `vocab` the real vocabularies the generated tasks draw from."""
