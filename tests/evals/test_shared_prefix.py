"""needlework-hf's shared-prefix log-likelihoods equal the one-sequence computation lm-eval's hf model does."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def _one_sequence(model, ctx, cont):
    """lm-eval's hf computation: (ctx + cont)[:-1] in one pass, the continuation's positions read."""
    ids = torch.tensor([ctx + cont[:-1]])
    with torch.inference_mode():
        lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)[len(ctx) - 1:]
    tok = torch.tensor(cont)
    return float(lp.gather(1, tok[:, None]).sum()), bool((lp.argmax(-1) == tok).all())


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


def test_shared_contexts_give_the_one_sequence_loglikelihoods(model):
    from needlework.evals.general.shared_prefix import loglikelihoods
    g = torch.Generator().manual_seed(0)
    tok = lambda n: torch.randint(5, 500, (n,), generator=g).tolist()   # noqa: E731
    reqs = []
    for lc, conts in [(7, [1, 3, 5, 2]), (2, [4, 1]), (12, [6, 6, 2]), (1, [3])]:   # ragged contexts and choices
        ctx = tok(lc)
        reqs += [((f"c{lc}", str(k)), ctx, tok(k)) for k in conts]
    reqs.append((None, reqs[0][1], [reqs[0][2][0]]))   # a one-token choice sharing the first context
    want = [_one_sequence(model, c, k) for _, c, k in reqs]
    for rows in (1, 3, 64):                            # a context alone, groups split over batches, all at once
        got = loglikelihoods(model, reqs, rows=rows, pad_id=0)
        assert [g[1] for g in got] == [w[1] for w in want]
        assert [g[0] for g in got] == pytest.approx([w[0] for w in want], abs=1e-4)


def test_the_greedy_flag_is_set_when_the_continuation_is_the_argmax(model):
    from needlework.evals.general.shared_prefix import loglikelihoods
    ctx = [11, 12, 13, 14]
    greedy = []
    for _ in range(3):   # the model's own greedy continuation, token by token
        with torch.inference_mode():
            greedy.append(int(model(input_ids=torch.tensor([ctx + greedy])).logits[0, -1].argmax()))
    other = greedy[:2] + [(greedy[2] + 1) % 400 + 5]
    got = loglikelihoods(model, [("a", ctx, greedy), ("b", ctx, other)], rows=8, pad_id=0)
    assert got[0][1] is True and got[1][1] is False
    assert got[0][0] > got[1][0]


def test_needlework_hf_scores_a_harness_task_as_lm_evals_hf_does(tmp_path, tiny_model_dir):
    """Through lm-eval end to end: every choice's log-likelihood and every chosen answer equal lm-eval's own
    `hf` model's on a task whose choices run to several tokens (fp32)."""
    pytest.importorskip("lm_eval")
    import json

    from lm_eval_tasks import MC, write_task
    from needlework.config import load_config
    from needlework.evals.runner import EvalConfig, run_eval
    docs = [{"question": "Which is a colour of the evening sky over the sea?",
             "choices": ["a deep orange red", "seven", "the quick brown fox jumps", "blue"], "label": 0},
            {"question": "2 + 2 =", "choices": ["4", "five or six, perhaps more"], "label": 0},
            {"question": "Water at sea level boils at", "choices": ["100 degrees Celsius", "0 degrees", "x"],
             "label": 0}]
    tasks = write_task(tmp_path / "tasks", "needlework_shared_mc", docs, **MC)
    rows = {}
    for kind in ("hf", "needlework-hf"):
        cfg = load_config(EvalConfig, None, [f"out={tmp_path / kind}", f"model={tiny_model_dir}",
                                             "benchmarks=[general]", "general.tasks=[needlework_shared_mc]",
                                             f"general.include_path={tasks}", "general.include_defaults=false",
                                             "general.model_args=dtype=float32", f"general.harness_model={kind}",
                                             "general.batch_size=2"])
        run = run_eval(cfg)
        rows[kind] = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
        res = json.loads((run / "results.json").read_text())["benchmarks"]["general"]
        assert res["describe"]["tasks"]["needlework_shared_mc"]["model"] == kind
    for a, b in zip(rows["hf"], rows["needlework-hf"], strict=True):
        assert a["chosen"] == b["chosen"] and a["scores"]["score"] == b["scores"]["score"]
        assert [c["logprob"] for c in b["choices"]] == pytest.approx([c["logprob"] for c in a["choices"]], abs=1e-3)


def test_sharing_is_used_only_where_it_saves_tokens():
    """Four long choices of one long context share most tokens; two long choices of a short context share
    almost none, so lm-eval's own path (sorted by length, no cache) computes as few and runs faster."""
    from needlework.evals.general.shared_prefix import padded_tokens, worth_sharing
    hellaswag_like = [(None, list(range(70)), [1] * (20 + i)) for i in range(4)] * 8
    piqa_like = [(None, [g] * 8, [2] * (30 + 13 * i)) for g in range(16) for i in range(2)]
    assert worth_sharing(hellaswag_like, rows=16)
    assert not worth_sharing(piqa_like, rows=16)
    shared, single = padded_tokens([(None, [5] * 10, [1, 2, 3])] * 4, rows=4)
    assert (shared, single) == (10 + 2 * 4, 12 * 4)   # one context of 10, four choices fed 2 tokens each
