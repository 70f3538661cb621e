"""The rendered prompts must match REFERENCE.md §1-2 byte for byte (strings typed here from the reference)."""
import re

import numpy as np

from needlework.tasks import generate_sample, get_task
from needlework.tasks.files.formats import OPENAI_SYSTEM

SIMPLE_Q = ("Above is a list of dictionaries such that each key and value is an integer. "
            "Report the value of key {k} and the dictionary it is in.")
SIMPLE_T = (" Answer in the following template:\n"
            "The value of key {k} is <fill-in-value> and it is in Dictionary [<fill-in-dictionary-name>].")
MULTI_Q = ("Above is a list of dictionaries such that each key is a tuple of integers and each value is an integer. "
           "Report the key that contains the integers {s} (not necessarily in order), its value, and the dictionary it is in.")
MULTI_T = (" Answer in the following template:\nThe key that contains the integers {s} is <fill-in-key>. "
           "Its value is <fill-in-value> and it is in Dictionary [<fill-in-dictionary-name>].")


def _dict_lines(prompt):
    return prompt.split("\n\n")[1].split("\n")


def test_simple_prompt_matches_reference_exactly():
    task = get_task("simple_kv")
    for template in (False, True):
        s = generate_sample(task, task.config_cls(num_dict=6, template=template), 7, 3)
        k, v, d = s.meta["gold_key"], s.meta["gold_value"], s.meta["gold_dict"]
        lines = _dict_lines(s.prompt)
        expected = ("Do a task using the list of dictionaries below.\n\n" + "\n".join(lines) + "\n\n"
                    + SIMPLE_Q.format(k=k) + (SIMPLE_T.format(k=k) if template else ""))
        assert s.prompt == expected
        assert s.answer == f"The value of key {k} is {v} and it is in Dictionary [{d}]."
        for i, line in enumerate(lines, 1):
            name, body = re.fullmatch(r"Dictionary \[(\d+)\] (.*)", line).groups()
            assert int(name) == i
            pairs = [tuple(map(int, p.split(": "))) for p in body[1:-1].split(", ")]
            assert body == repr(dict(pairs))   # Python dict repr with int keys


def test_multi_prompt_matches_reference_exactly():
    task = get_task("multi_subkey_kv")
    for template in (False, True):
        s = generate_sample(task, task.config_cls(num_dict=6, template=template), 7, 3)
        sub = ", ".join(map(str, s.meta["question_subkeys"]))
        lines = _dict_lines(s.prompt)
        expected = ("Do a task using the list of dictionaries below.\n\n" + "\n".join(lines) + "\n\n"
                    + MULTI_Q.format(s=sub) + (MULTI_T.format(s=sub) if template else ""))
        assert s.prompt == expected
        key = tuple(s.meta["gold_key"])
        assert s.answer == (f"The key that contains the integers {sub} is {key}. Its value is "
                            f"{s.meta['gold_value']} and it is in Dictionary [{s.meta['gold_dict']}].")
        assert re.fullmatch(r"Dictionary \[1\] \{\(\d+, \d+, \d+\): \d+(, \(\d+, \d+, \d+\): \d+)*\}", lines[0])


def test_paper_figure_line_format():
    from needlework.tasks.kv.multi_subkey_kv import body as multi_body
    from needlework.tasks.kv.simple_kv import body as simple_body
    assert simple_body([122, 4548, 4818], [765, 1475, 4782]) == "{122: 765, 4548: 1475, 4818: 4782}"
    assert multi_body([(645, 417, 847), (141, 623, 616)], [6409, 5617]) == "{(645, 417, 847): 6409, (141, 623, 616): 5617}"


def test_openai_system_message():
    assert OPENAI_SYSTEM == "Write a response that appropriately completes the request."


def test_digit_distribution_is_uniform_over_digit_counts():
    """Digit count uniform in [r_min, r_max], then uniform within the class (REFERENCE §1)."""
    from needlework.tasks.numbers import draw
    x = draw(np.random.default_rng(0), 40000, 3, 4)
    three = ((x >= 100) & (x <= 999)).mean()
    assert 0.48 < three < 0.52 and x.min() >= 100 and x.max() <= 9999
