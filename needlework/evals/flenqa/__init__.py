"""FLenQA (Levy et al. 2024): flenqa.py is the benchmark (flenqa and flenqa-cot), flenqa_data.py the offline
generators of its three tasks, flenqa_paragraphs.py the neutral padding paragraphs."""
