"""needlework: fine-tune language models on synthetic key-value retrieval and measure the gain.

Implements Xiong et al., "From Artificial Needles to Real Haystacks". The package is laid out as the
pipeline: tasks (data) -> train -> evals -> report, orchestrated by pipeline, driven by cli.
"""
__version__ = "0.1.0"
