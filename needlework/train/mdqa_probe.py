"""The MDQA probe: a real-task signal measured while training, beside the synthetic held-out score.

The paper's claim is that a skill learned on artificial needles carries over to real haystacks; a run that
watches only the synthetic score can stop (or be tuned) where the synthetic score saturates while that skill is
still forming on real text, or already fading. So every `mdqa_probe.every` optimizer steps the model being
trained answers `n` multi-document QA questions greedily, exactly as the MDQA benchmark asks them with
`layout: rotate` (tasks.baselines.mdqa_prompts, shared with evals.mdqa: Liu et al.'s prompt, `k` documents, the
gold one at each of `positions` in turn, the evaluation backend's chat rendering), scored by best-subspan exact
match on line one. The questions and every distractor come from the NQ `dev` split (needlework.real_data): never
the benchmark's `eval` questions, never mdqa_train's `train` questions, so a recipe or a stopping step chosen by
the probe has not seen what it is judged on. Its scores are logged as `transfer_em` (its curve: the probe curve,
report/probe_curve.py).

Generation goes through the evaluation engine (backends.hf.HFBackend wrapping the model in training: the
same greedy decoding, stop rules and bf16 autocast as `needlework eval`), then the model is put back into
training mode. Every process runs it (FSDP shards need all ranks); rank 0 logs it.
"""
from __future__ import annotations

import time

from ..tasks.baselines.mdqa_prompts import build_prompts
from ..tasks.baselines.mdqa_sets import question_sets
from ..text import best_subspan_em, first_line
from .config import MdqaProbeConfig

SPLIT = "dev"
LAYOUT = "rotate"   # each question once: the most independent evidence per prompt


def probe_items(s: MdqaProbeConfig) -> list[dict]:
    """{id, question, answers, position, request}: question i with its gold document at positions[i % len], as
    evals.mdqa asks NQ dev questions with layout rotate (n / len(positions) prompts per position)."""
    s = s.resolved()
    sets = question_sets(SPLIT, s.n, s.k, s.seed)
    return [{"id": p.id, "question": p.question[0]["question"], "answers": list(p.question[0]["answers"]),
             "position": p.position, "request": p.request}
            for p in build_prompts(sets, s.positions, LAYOUT, s.max_new_tokens, chat=True, stop_at_newline=True)]


class MdqaProbe:
    """Runs the probe on a model in training: `measure(model)` -> {transfer_em, transfer_n, transfer_s}."""

    def __init__(self, settings: MdqaProbeConfig, tokenizer, context):
        self.s, self.tokenizer, self.context = settings, tokenizer, context   # the training's precision.RunContext
        self.items = probe_items(settings)

    def measure(self, model) -> dict[str, float]:
        from ..backends.hf import HFBackend
        was_training = model.training
        t0 = time.perf_counter()
        try:
            engine = HFBackend(model_obj=model, tokenizer=self.tokenizer, chat_template=self.s.chat_template,
                               system_prompt=self.s.system_prompt, batch_size=self.s.batch_size,
                               context=self.context, progress=False)
            outs = engine.generate([it["request"] for it in self.items])
        finally:
            model.train(was_training)
        hits = [best_subspan_em(o.text, it["answers"]) for o, it in zip(outs, self.items)]
        self.last_outputs = [first_line(o.text) for o in outs]
        return {"transfer_em": round(sum(hits) / len(hits), 5), "transfer_n": len(hits),
                "transfer_s": round(time.perf_counter() - t0, 1)}
