"""Gold-position bias as the authors ran it: exact counts by sample index (generate_dataset.py, frac_0=0.05,
frac_top5=0.03, near-first = the first int(0.05 * num_train) dictionaries), shard-safe; the per-sample
draw stays available as 'independent'."""
import pytest

from needlework.config import ConfigError
from needlework.tasks import generate_sample, get_task
from needlework.tasks.files.dataset import GenerateConfig, SampleMaker, generate_file


def _positions(n, bias, seed=0, num_dict=85):
    gen = SampleMaker(GenerateConfig(task="simple_kv", n=n, seed=seed,
                                   params={"num_dict": num_dict, "position_bias": bias}))
    return [gen.sample(i).meta["gold_dict"] for i in range(n)]


def test_exact_counts_as_the_authors_configs():
    """n=350: exactly int(17.5)=17 samples forced first and int(10.5)=10 forced into dictionaries 1..17."""
    from needlework.tasks.position_bias import _assignment, near_first_range
    pos, uniform = _positions(350, "exact"), _positions(350, False)
    first, near = _assignment(0, 350)
    assert len(first) == 17 and len(near) == 10 and not first & near
    assert all(pos[i] == 1 for i in first)
    assert all(1 <= pos[i] <= 17 for i in near) and near_first_range(350, 85) == 17
    assert len({pos[i] for i in near}) > 3                  # drawn within 1..17, not one fixed slot
    assert all(pos[i] == uniform[i] for i in range(350) if i not in first | near)   # the rest: unbiased, unchanged
    assert near_first_range(350, 10) == 10                  # capped at the number of dictionaries
    assert _assignment(1, 350) != (first, near)             # another seed, another assignment


def test_exact_bias_shards_concatenate_to_the_serial_file(tmp_path):
    params = {"num_dict": 8, "position_bias": "exact"}
    serial = generate_file(GenerateConfig(n=40, out=str(tmp_path / "all.jsonl"), params=params), progress=False)
    parts = b""
    for k in range(3):
        out = tmp_path / f"p{k}.jsonl"
        generate_file(GenerateConfig(n=40, out=str(out), params=params), shard=f"{k}/3", progress=False)
        parts += out.read_bytes()
    assert parts == serial.read_bytes()
    assert sum('"gold_dict": 1,' in line for line in serial.read_text().splitlines()) >= 2   # int(40*0.05)


def test_independent_draw_kept_and_modes_validated():
    task = get_task("simple_kv")
    for mode in (True, "independent"):
        biased = task.config_cls(num_dict=85, position_bias=mode)
        firsts = sum(generate_sample(task, biased, 0, i).meta["gold_dict"] == 1 for i in range(1000))
        assert 0.04 < firsts / 1000 < 0.10
    with pytest.raises(ConfigError, match="position_bias"):
        task.config_cls(position_bias="sometimes").validate()
    with pytest.raises(ConfigError, match="SampleMaker"):   # exact counts need the whole dataset's indices
        generate_sample(task, task.config_cls(num_dict=85, position_bias="exact"), 0, 0)
