"""FLenQA (Levy et al. 2024): benchmark.py is the benchmark (flenqa and flenqa-cot), data.py the offline
generators of its three tasks, paragraphs.py the neutral padding paragraphs."""
