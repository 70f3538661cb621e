"""Fine-tuning on the synthetic data: answer-only loss, parameter policies, Trainer glue, OpenAI jobs.

Importing this package is cheap (no torch); the heavy parts load when a run starts.
"""
from .config import LoraConfig, OpenAIFinetuneConfig, TrainConfig
from .run import run_training

__all__ = ["LoraConfig", "OpenAIFinetuneConfig", "TrainConfig", "run_training"]
