"""One writer per output folder: a second process is refused with a message naming the first; a lock left by a
process that no longer runs is taken over; the lock goes when its holder finishes."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from needlework.io import FolderBusy, folder_lock

HOLD = "import sys, time; from needlework.io import folder_lock\nwith folder_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)"


def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=rf"pid {holder.pid} on .* wait for it to finish"):
            with folder_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path):          # its process is gone: the stale lock is taken over
        assert (tmp_path / ".lock").exists()
    assert not (tmp_path / ".lock").exists()


def test_a_concurrent_eval_into_the_same_folder_is_refused(tmp_path, capsys):
    from needlework.cli import main
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "e")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t = time.monotonic()
        assert main(["eval", "--model", "m", "--benchmarks", "kv-retrieval", "--out", str(tmp_path / "e")]) == 2
        assert time.monotonic() - t < 30
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and err.count("\n") == 1
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "e" / "results.json").exists()
