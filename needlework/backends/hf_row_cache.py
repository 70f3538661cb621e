"""Keys/values and attention for the continuous engine (hf_continuous.py): one buffer per row, one SDPA per row.

Why per row (issue 18, item 4): a batch-wide buffer holds every slot at the longest prompt's length (~3.2 GiB
per row at 24K tokens for Mistral-7B), and attending rows of different lengths in one call needs an explicit
boolean mask, which keeps SDPA off its flash kernel on GPU. Here each row's buffer is sized to that row
(prompt + max_new_tokens), and each row attends over exactly its own positions, so:

- a decode step (one query per row) needs no mask at all: the keys are sliced to what the query sees;
- a prefill from position 0 uses `is_causal` (right padding of shorter rows never reaches a real query);
- only a prefill after a reused prefix (queries start past 0) or longer than a sliding window builds a
  boolean mask, for that row alone;
- grouped-query attention runs through `enable_gqa`: keys/values are never repeated per query head;
- a sliding-window layer (Mistral v0.1; or the sliding layers of models mixing them with full ones, as
  `layer_types` says) attends to its last `sliding_window` positions, the rule transformers' own masks follow
  (masking_utils.sliding_window_overlay: key j is seen by query i when i - window < j <= i).

The model's own attention modules call `RowCache.update` (their past_key_values) and then the attention
function registered here (the engine switches the config's `_attn_implementation` to it for its forwards only),
so rotary embeddings, norms and projections stay the model's own code.
"""
from __future__ import annotations

from contextlib import contextmanager

ATTENTION = "needlework_rows"


def text_config(model):
    cfg = model.config
    return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg


def layer_windows(cfg) -> list[int | None] | None:
    """Each layer's sliding window (None: full attention), or None when a layer type is one this module cannot
    attend exactly (chunked attention, linear attention, ...)."""
    n = cfg.num_hidden_layers
    window = getattr(cfg, "sliding_window", None)
    if getattr(cfg, "use_sliding_window", True) is False:
        window = None
    types = getattr(cfg, "layer_types", None)
    if types is None:
        return [window] * n
    if len(types) != n or any(t not in ("full_attention", "sliding_attention") for t in types):
        return None
    if "sliding_attention" in types and not window:
        return None
    return [window if t == "sliding_attention" else None for t in types]


def _row_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, sliding_window=None,
                   softcap=None, needlework_rows=None, **kwargs):
    """An attention function in transformers' AttentionInterface: the rows' own buffers, not `key`/`value`
    (which are only this forward's new positions)."""
    if needlework_rows is None:
        raise RuntimeError(f"{ATTENTION} attention runs only inside needlework's continuous engine")
    if softcap is not None or kwargs.get("s_aux") is not None:   # what RowCache.attend does not compute
        raise RuntimeError("attention logit soft-capping and attention sinks are not supported by the "
                           "continuous engine: use backend.hf.engine=static for this model")
    return needlework_rows.attend(module.layer_idx, query, scaling, sliding_window), None


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION, _row_attention)


@contextmanager
def row_attention(model):
    """Run the model's forwards through `_row_attention` (no mask is then built by transformers either: the
    mask functions early-exit for an implementation they do not know). The previous setting comes back after."""
    _register()
    cfgs = {id(c): c for c in (model.config, text_config(model))}.values()
    saved = [(c, c._attn_implementation_internal) for c in cfgs]
    try:
        for c, _ in saved:
            c._attn_implementation_internal = ATTENTION
        yield
    finally:
        for c, value in saved:
            c._attn_implementation_internal = value


class RowCache:
    """The model's past_key_values during the continuous engine's forwards.

    `begin` names the rows of the next forward (objects with `kv`: a per-layer list of (k, v) buffers [H_kv,
    capacity, D] filled lazily, `capacity`, and `prefix`: (n, another row's kv list) to copy the first n
    positions from), where each row's queries start and how many are real (the rest is right padding)."""

    def __init__(self, windows: list[int | None]):
        self.windows = windows
        self.rows: list = []
        self.starts: list[int] = []
        self.lens: list[int] = []

    def begin(self, rows: list, starts: list[int], lens: list[int]) -> None:
        self.rows, self.starts, self.lens = rows, starts, lens

    def _buffers(self, row, layer: int, key, value):
        kv = row.kv
        while len(kv) <= layer:
            kv.append(None)
        if kv[layer] is None:
            import torch

            shape = (key.shape[1], row.capacity, key.shape[3])
            k = torch.empty(shape, dtype=key.dtype, device=key.device)
            v = torch.empty(shape, dtype=value.dtype, device=value.device)
            if row.prefix is not None:
                n, src = row.prefix
                k[:, :n], v[:, :n] = src[layer][0][:, :n], src[layer][1][:, :n]
            kv[layer] = (k, v)
        return kv[layer]

    def update(self, key_states, value_states, layer_idx: int, *args, **kwargs):
        """Write each row's real new positions into its buffer (in place); attention reads the buffers."""
        for r, (row, s, n) in enumerate(zip(self.rows, self.starts, self.lens)):
            k, v = self._buffers(row, layer_idx, key_states, value_states)
            k[:, s:s + n] = key_states[r, :, :n].to(k.dtype)
            v[:, s:s + n] = value_states[r, :, :n].to(v.dtype)
        return key_states, value_states

    def attend(self, layer: int, query, scaling, model_window=None):
        """[m, q, H, D] attention output: row r's real queries over its own positions, padding queries zero."""
        import torch
        import torch.nn.functional as F

        window = self.windows[layer]
        if model_window is not None and model_window != window:
            # The model's attention module names its window: a disagreement means the config was misread.
            raise RuntimeError(f"layer {layer}: the model attends with sliding window {model_window}, "
                               f"the continuous engine read {window} from its config")
        m, heads, q, d = query.shape
        out = query.new_zeros((m, heads, q, d))
        for r, (row, s, n) in enumerate(zip(self.rows, self.starts, self.lens)):
            k, v = row.kv[layer]
            end = s + n                                   # the row's positions after this forward
            lo = 0 if window is None else max(0, s - window + 1)   # the first key the first query sees
            keys, values = k[None, :, lo:end], v[None, :, lo:end]
            if keys.dtype != query.dtype:
                keys, values = keys.to(query.dtype), values.to(query.dtype)
            mask, causal = None, False
            if n > 1 and s == 0 and (window is None or n <= window):
                causal = True                             # top-left causal is exact when queries start at 0
            elif n > 1:
                qpos = torch.arange(s, end, device=query.device)[:, None]
                kpos = torch.arange(lo, end, device=query.device)[None, :]
                mask = kpos <= qpos
                if window is not None:
                    mask &= kpos > qpos - window
            out[r, :, :n] = F.scaled_dot_product_attention(
                query[r:r + 1, :, :n], keys, values, attn_mask=mask, is_causal=causal, scale=scaling,
                enable_gqa=heads != keys.shape[1])[0]
        return out.transpose(1, 2).contiguous()
