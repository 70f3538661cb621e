"""Reading the paper's two dictionary tasks' answers out of free text, and scoring them (Task.read / Task.score
for simple_kv and multi_subkey_kv).

A reader that only understands the template would score a model that follows the template and reject a
free-form answer that is just as right, which understates the base model and overstates every improvement.
So the fair reading (`value_acc`, `value_dict_acc`, `key_acc`) finds the answer wherever a person would:

- markup is ignored (``**4567**``, `` `123` ``, quotes); numbers may carry thousands separators ("4,567") or an
  all-zero decimal part ("4567.0"); any other decimal ("45.67") is not an integer and matches no value;
- a mention of a key is never read as the value, wherever it appears: a number right after the word "key"
  ("value associated with key 123 is ...", "corresponding to key '123'"), the asked key followed by an
  assignment ("123: 4567", "123 -> 4567", "for 123 is ..."), and in the multi-subkey task every asked subkey
  ("value of the key containing 616, ..."); numbers inside key tuples and dictionary names are never values
  either. A model that puts the asked key in the value slot ("the value of key 123 is 123") has answered
  123: that reads as 123 (right only when the value really equals its key); anywhere else a bare asked key
  ("The dictionary is 123") is the question echoed and is not read as a value;
- the value is the first such number after the word "value" (else after "is" / ":" / "=" / an arrow, else
  the first number left); when a model corrects itself ("actually", "wait", "sorry", "I mean", ...) the
  answer after its last correction counts;
- the dictionary is the "Dictionary [d]" (or "dictionary: d", "Dict #d", "dictionary number d", "the d-th
  dictionary") mention nearest the value; a mention naming several ("Dictionaries [3] and [7]") is read as
  that list and is right only if it is exactly the gold one (hedging is not answering);
- the multi-subkey key is the tuple right after "is" (the template's), else the first tuple.

Beside it, `answer_exact` is the strict reading: the completion's first non-empty line is the target sentence
itself, character for character (what the template asks for). Both are reported.
"""
from __future__ import annotations

import re

from . import multi_subkey_kv, simple_kv

_MARKUP = re.compile(r"[*`\"“”‘’]|__|(?<!\w)'|'(?!\w)")   # one "_" is part of a name ("dictionary_3"), not markup
_INT = r"\d{1,3}(?:,\d{3})+(?![\d,]\d)|\d+"
_NUMBER = re.compile(rf"(?<![\w.])-?(?:{_INT})(?:\.(\d+))?(?![\w])")
_TUPLE = re.compile(r"[(\[]\s*\d+(?:\s*,\s*\d+)+\s*,?\s*[)\]]")
# "Dictionary [12]", "dictionary: 12", "Dict #12", "dictionary number 12", "Dictionaries [3] and [7]"
_DICT = re.compile(r"\bdict(?:ionary|ionaries|s)?\b\s*(?:name\s*)?(?:[:#=]\s*)?(?:no\.?\s*|number\s*)?"
                   r"((?:[\[(]\s*\d+\s*[\])]|\d+)(?:\s*(?:,|and|&|or)\s*(?:[\[(]\s*\d+\s*[\])]|\d+)(?![\w]))*)",
                   re.I)
_ORDINAL_DICT = re.compile(r"\b(\d+)(?:st|nd|rd|th)\s+dictionary\b", re.I)
_VALUE = re.compile(r"\bvalues?\b", re.I)
_ASSIGN = re.compile(r"\bis\b|\bhas\b|\bequals\b|[:=]|->|→|=>", re.I)
_CORRECTION = re.compile(r"\b(?:actually|correction|sorry|wait|i mean|i apologi[sz]e|let me correct|my mistake|"
                         r"i made a mistake|rather)\b", re.I)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_IS_BEFORE = re.compile(r"\bis\s*$", re.I)


def _clean(text: str) -> str:
    """Markup and quotes become spaces, so offsets stay comparable and numbers stand alone."""
    return _MARKUP.sub(" ", text)


def _number_value(m: re.Match) -> int | float:
    whole = int(m.group().split(".")[0].replace(",", ""))
    frac = m.group(1)
    return whole if frac is None or set(frac) == {"0"} else float(m.group().replace(",", ""))


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


_KEY_BEFORE = re.compile(r"\bkeys?\b\s*(?:number|no\.?|#)?\s*$", re.I)
_ASSIGN_AFTER = re.compile(r"^\s*(?:[:=]|->|→|=>|\bis\b|\bhas\b|,)", re.I)


class _Reading:
    """The numbers of one (cleaned) text, with dictionary mentions, key tuples and key mentions set apart.
    `asked` are the asked key's numbers; `always` says they are never values (multi-subkey's subkeys)."""

    def __init__(self, text: str, asked: frozenset = frozenset(), always: bool = False):
        self.text, self.asked = text, asked
        self.dicts = []                        # (start, end, [names])
        for m in _DICT.finditer(text):
            self.dicts.append((m.start(), m.end(), [int(x) for x in re.findall(r"\d+", m.group(1))]))
        for m in _ORDINAL_DICT.finditer(text):
            self.dicts.append((m.start(), m.end(), [int(m.group(1))]))
        self.dicts.sort()
        dict_spans = [(a, b) for a, b, _ in self.dicts]
        self.tuples = [m for m in _TUPLE.finditer(text) if not _inside(m.start(), dict_spans)]
        masked = dict_spans + [m.span() for m in self.tuples]
        self.numbers = [(m.start(), _number_value(m)) for m in _NUMBER.finditer(text)
                        if not _inside(m.start(), masked) and not self._key_mention(m, asked, always)]

    def _key_mention(self, m: re.Match, asked: frozenset, always: bool) -> bool:
        if _KEY_BEFORE.search(self.text[max(0, m.start() - 20):m.start()]):
            return True
        value = _number_value(m)
        return value in asked and (always or bool(_ASSIGN_AFTER.match(self.text[m.end():m.end() + 6])))

    def candidates(self, start: int, end: int, asked_ok: bool = True) -> list[tuple[int, int | float]]:
        return [(p, v) for p, v in self.numbers if start <= p < end and (asked_ok or v not in self.asked)]


def _sentence_end(text: str, start: int) -> int:
    m = _SENTENCE_END.search(text, start)
    return m.start() if m else len(text)


def _segments(text: str) -> list[int]:
    """Where to read from: after the model's last self-correction first, then the whole text."""
    marks = [m.end() for m in _CORRECTION.finditer(text)]
    return ([marks[-1]] if marks else []) + [0]


def _find_value(r: _Reading, start: int) -> tuple[int, int | float] | None:
    text = r.text
    # The asked key stands in the value slot only right after the word "value" ("the value of key 123 is 123");
    # elsewhere ("The dictionary is 123") it is the model echoing the question, not a value.
    for anchor, asked_ok in ((_VALUE, True), (_ASSIGN, False)):
        for m in anchor.finditer(text, start):
            found = r.candidates(m.end(), _sentence_end(text, m.end()), asked_ok)
            if found:
                return found[0]
    rest = r.candidates(start, len(text), asked_ok=False)
    return rest[0] if rest else None


def parse_value(text: str, asked: set[int] = frozenset(), always: bool = False) -> int | float | None:
    """The value the model reports (see the module docstring); None when it names none. `asked`: the asked
    key's numbers (never read where they are mentioned as the key; with `always`, never read at all)."""
    r = _Reading(_clean(text), frozenset(asked), always)
    for start in _segments(r.text):
        hit = _find_value(r, start)
        if hit:
            return hit[1]
    return None


def _dict_near(r: _Reading, start: int, anchor: int | None) -> int | list[int] | None:
    mentions = [(a, names) for a, _, names in r.dicts if a >= start]
    if not mentions:
        return None
    if anchor is not None:
        mentions.sort(key=lambda m: (abs(m[0] - anchor), m[0] < anchor))
    names = list(dict.fromkeys(mentions[0][1]))
    return names[0] if len(names) == 1 else names


def parse_dict(text: str, asked: set[int] = frozenset(), always: bool = False) -> int | list[int] | None:
    """The dictionary named nearest the reported value (after the last self-correction when there is one):
    an int, or the list of names when a mention names several."""
    r = _Reading(_clean(text), frozenset(asked), always)
    for start in _segments(r.text):
        hit = _find_value(r, start)
        found = _dict_near(r, start, hit[0] if hit else None)
        if found is not None:
            return found
    return None


def dict_names(text: str) -> list[list[int]]:
    """Every dictionary mention in order, each as the names it gives (one, or several)."""
    return [names for _, _, names in _Reading(_clean(text)).dicts]


def first_dict(text: str) -> int | list[int] | None:
    """The first dictionary mention: an int, or the list of names when it names several."""
    mentions = dict_names(text)
    if not mentions:
        return None
    names = list(dict.fromkeys(mentions[0]))
    return names[0] if len(names) == 1 else names


def parse_key(text: str) -> tuple[int, ...] | None:
    """The key tuple: the first tuple right after "is" (the template's "... is (a, b, c)"), else the first one;
    after the last self-correction when there is one."""
    r = _Reading(_clean(text))
    for start in _segments(r.text):
        tuples = [t for t in r.tuples if t.start() >= start]
        if tuples:
            after_is = [t for t in tuples if _IS_BEFORE.search(r.text[max(0, t.start() - 8):t.start()])]
            return tuple(int(x) for x in re.findall(r"\d+", (after_is or tuples)[0].group()))
    return None


def target(meta: dict) -> str:
    """The answer sentence the template asks for (the training target)."""
    if "question_subkeys" in meta:
        return multi_subkey_kv.ANSWER.format(subkeys=", ".join(map(str, meta["question_subkeys"])),
                                             key=multi_subkey_kv.key_repr(tuple(meta["gold_key"])),
                                             value=meta["gold_value"], dict=meta["gold_dict"])
    return simple_kv.ANSWER.format(key=meta["gold_key"], value=meta["gold_value"], dict=meta["gold_dict"])


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def read(meta: dict, text: str) -> dict:
    """What the completion reports: value, dictionary name and (multi-subkey) key."""
    multi = "question_subkeys" in meta
    asked = set(meta["question_subkeys"]) | set(meta["gold_key"]) if multi else {meta["gold_key"]}
    parsed = {"value": parse_value(text, asked, multi), "dict": parse_dict(text, asked, multi)}
    if multi:
        key = parse_key(text)
        parsed["key"] = list(key) if key else None
    return parsed


def score(meta: dict, text: str) -> dict[str, float]:
    parsed = read(meta, text)
    value_ok = parsed["value"] == meta["gold_value"]
    scores = {"value_acc": float(value_ok), "value_dict_acc": float(value_ok and parsed["dict"] == meta["gold_dict"])}
    if "question_subkeys" in meta:
        scores["key_acc"] = float(parsed["key"] is not None and parsed["key"] == list(meta["gold_key"]))
    scores["answer_exact"] = float(_first_line(text) == target(meta))
    return scores


SIMPLE_METRICS = ("value_acc", "value_dict_acc", "answer_exact")
MULTI_METRICS = ("value_acc", "value_dict_acc", "key_acc", "answer_exact")
