"""The dictionary key-value retrieval family: the paper's simple_kv and multi_subkey_kv, and formatted_kv, over
one prompt frame (common.py: the "Dictionary [i] {...}" lines, gold placement, token budgets), the key and
value formats beyond integers (key_value_formats.py) and the free-text answer reader (answers.py)."""
