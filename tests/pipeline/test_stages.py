"""The done marker: written last, only with every output present; a lost output or a failed write undoes it."""
from __future__ import annotations

import errno

import pytest

from needlework.pipeline.stages import DONE, Stage, StageError, execute, is_done


def _stage(write_outputs=True, fail=None) -> Stage:
    def run(folder):
        if fail:
            raise fail
        (folder / "a.txt").write_text("hello")
        if write_outputs:
            (folder / "b.txt").write_text("world")
    return Stage("demo", "x", {"v": 1}, ["a.txt", "b.txt"], run)


def test_done_after_outputs_and_skip(tmp_path):
    st = _stage()
    folder, ran = execute(st, tmp_path, log=lambda _: None)
    assert ran and (folder / DONE).exists() and is_done(st, folder)
    _, ran = execute(st, tmp_path, log=lambda _: None)
    assert not ran


def test_missing_output_never_marked(tmp_path):
    st = _stage(write_outputs=False)
    with pytest.raises(StageError, match="b.txt"):
        execute(st, tmp_path, log=lambda _: None)
    assert not (st.folder(tmp_path) / DONE).exists()


def test_full_disk_leaves_no_marker(tmp_path):
    st = _stage(fail=OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError):
        execute(st, tmp_path, log=lambda _: None)
    assert not (st.folder(tmp_path) / DONE).exists()


def test_full_disk_while_writing_marker(tmp_path, monkeypatch):
    import needlework.io as io

    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(io, "write_json", no_space)   # what write_done writes the marker with
    st = _stage()
    with pytest.raises(OSError):
        execute(st, tmp_path, log=lambda _: None)
    assert not is_done(st, st.folder(tmp_path))


def test_lost_or_changed_output_reruns(tmp_path):
    st = _stage()
    folder, _ = execute(st, tmp_path, log=lambda _: None)
    (folder / "b.txt").unlink()
    assert not is_done(st, folder)
    _, ran = execute(st, tmp_path, log=lambda _: None)
    assert ran
    (folder / "a.txt").write_text("truncated?")   # size differs from the marker's record
    assert not is_done(st, folder)


def test_other_key_is_not_done(tmp_path):
    st = _stage()
    folder, _ = execute(st, tmp_path, log=lambda _: None)
    other = Stage("demo", "x", {"v": 2}, ["a.txt", "b.txt"], st.run)
    assert not is_done(other, folder)


def test_work_done_elsewhere_starts_for_every_arm_before_any_wait(tmp_path):
    """OpenAI fine-tuning jobs: every train stage whose data exists is started before the run waits on any,
    so all arms and seeds train at once; a second pass (or a re-run) starts nothing twice."""
    from needlework.pipeline.run import _start_waiting_work
    from needlework.pipeline.stages import Stage, execute
    calls = []
    gen = Stage("generate", "g", {"x": 1}, ["a.txt"], lambda f: (f / "a.txt").write_text("x"))
    trains = [Stage("train", f"t{i}", {"i": i}, ["m.txt"], lambda f, i=i: (f / "m.txt").write_text(str(i)),
                    deps=[gen], start=lambda f, i=i: calls.append(i)) for i in range(3)]
    _start_waiting_work([gen, *trains], tmp_path, lambda _: None)
    assert calls == []                                  # no data yet: nothing can be submitted
    execute(gen, tmp_path, lambda _: None)
    _start_waiting_work([gen, *trains], tmp_path, lambda _: None)
    assert calls == [0, 1, 2]
    execute(trains[0], tmp_path, lambda _: None)
    _start_waiting_work([gen, *trains], tmp_path, lambda _: None)
    assert calls == [0, 1, 2]
