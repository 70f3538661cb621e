"""The probe curve from a hand-made train_log.jsonl: saturation steps, the reading, the figure's data."""
from __future__ import annotations

from needlework.report import probe_curve


def _rows():
    rows = [{"step": s, "loss": 0.1} for s in range(1, 25)]
    synthetic = {4: 0.25, 8: 0.75, 12: 1.0, 16: 1.0, 20: 0.9375, 24: 1.0}
    probe = {8: 0.10, 16: 0.25, 24: 0.30}
    rows += [{"step": s, "heldout_value_exact": v, "heldout_exact": v / 2,
              **({"transfer_em": probe[s], "transfer_n": 20} if s in probe else {})} for s, v in synthetic.items()]
    return rows


def test_each_signal_saturates_at_its_first_check_within_one_item_of_its_best():
    c = probe_curve.curve(_rows(), held_out=16)
    assert c["synthetic"]["key"] == "heldout_value_exact"
    assert c["synthetic"]["saturated_at"] == 12 and c["synthetic"]["best"] == 1.0
    # best 0.30 of 20 items: 0.25 is one item (0.05) below it, so the probe levelled off at step 16
    assert c["probe"]["saturated_at"] == 16 and c["probe"]["n"] == 20
    assert c["last_step"] == 24
    text = probe_curve.reading(c)
    assert "synthetic held-out exact saturated at step 12 (best 1.00 of 16 items" in text
    assert "MDQA probe (NQ dev EM) saturated at step 16 (best 0.30 of 20 items, last 0.30 at step 24)" in text


def test_a_log_without_checks_has_no_curve_and_no_figure():
    assert probe_curve.curve([{"step": 1, "loss": 1.0}], held_out=None) is None
    assert probe_curve.figure([{"arm": "a", "seed": 0, "curve": None}]) is None


def test_the_figure_draws_both_signals_per_run():
    runs = [{"arm": "ft", "seed": s, "curve": probe_curve.curve(_rows(), 16)} for s in (0, 1)]
    fig = probe_curve.figure(runs)
    synthetic_ax, probe_ax = fig.axes
    lines = [ln for ln in synthetic_ax.get_lines() if len(ln.get_xdata()) > 2]
    assert len(lines) == 2 and list(lines[0].get_xdata()) == [4, 8, 12, 16, 20, 24]
    probe_lines = [ln for ln in probe_ax.get_lines() if len(ln.get_xdata()) > 2]
    assert [list(ln.get_ydata()) for ln in probe_lines] == [[0.10, 0.25, 0.30]] * 2


def test_a_run_without_a_probe_draws_the_synthetic_curve_without_a_warning():
    """cpu-transfer trains with early stopping and no probe: no empty legend (matplotlib's warning reached the
    terminal of a run)."""
    import warnings
    rows = [r for r in _rows() if "transfer_em" not in r]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = probe_curve.figure([{"arm": "mix", "seed": 0, "curve": probe_curve.curve(rows, 16)}])
    assert fig is not None and fig.axes[1].get_legend() is None
