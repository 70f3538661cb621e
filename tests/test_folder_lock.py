"""One writer per output folder: a second process is refused with a message naming the first; a lock left by a
process that no longer runs is taken over; the lock goes when its holder finishes."""
from __future__ import annotations

import json
import os
import socket
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
        with pytest.raises(FolderBusy, match=rf"pid {holder.pid} on .* waited 0.2 s: wait for it to finish"):
            with folder_lock(tmp_path, wait_s=0.2):
                pass
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path):          # its process is gone: the stale lock is taken over
        assert (tmp_path / ".lock").exists()
    assert not (tmp_path / ".lock").exists()


def test_a_concurrent_eval_into_the_same_folder_is_refused(tmp_path, capsys, monkeypatch):
    from needlework.cli import main
    monkeypatch.setattr("needlework.io.LOCK_WAIT_S", 0.5)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "e")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t = time.monotonic()
        assert main(["eval", "--model", "m", "--benchmarks", "kv-retrieval", "--out", str(tmp_path / "e")]) == 2
        assert time.monotonic() - t < 30
        err = capsys.readouterr().err.splitlines()
        assert err[0].endswith("waiting up to 0.5 s") and len(err) == 2     # the wait is said, then one error
        assert err[1].startswith("needlework: error:") and f"pid {holder.pid}" in err[1] and "waited 0.5 s" in err[1]
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "e" / "results.json").exists()


@pytest.mark.parametrize("content", ["", "{\"pid\": 12", "\x00\x01 not json", "[1, 2]"])
def test_an_empty_or_unreadable_lock_is_taken_over_with_a_notice(tmp_path, content):
    """Left by a process that died while writing it, or by a full disk: it used to make the next command loop
    forever, printing nothing."""
    (tmp_path / ".lock").write_text(content)
    said = []
    with folder_lock(tmp_path, wait_s=0, log=said.append):
        owner = json.loads((tmp_path / ".lock").read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname() and owner["started"]
    assert len(said) == 1 and "empty or unreadable" in said[0] and "taking it over" in said[0]
    assert not (tmp_path / ".lock").exists()


def test_a_lock_of_a_dead_process_is_taken_over_with_a_notice(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x"}))
    said = []
    with folder_lock(tmp_path, wait_s=0, log=said.append):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    assert len(said) == 1 and f"pid {dead.pid}, which no longer runs" in said[0]


def test_a_live_holder_is_waited_for_then_the_lock_is_taken(tmp_path):
    """A holder that finishes within the wait: the second writer gets the lock instead of an error."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD.replace("time.sleep(60)", "time.sleep(0.5)"),
                               str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        said = []
        with folder_lock(tmp_path, wait_s=30, log=said.append):
            assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
        assert len(said) == 1 and f"in use by pid {holder.pid}" in said[0] and "waiting up to 30 s" in said[0]
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_written_whole_before_it_appears(tmp_path, monkeypatch):
    """The lock file is a hard link of a finished temp file: no reader ever sees it empty."""
    seen = []
    real_link = os.link

    def link(src, dst):
        seen.append(json.loads(open(src).read()))
        return real_link(src, dst)
    monkeypatch.setattr(os, "link", link)
    with folder_lock(tmp_path):
        pass
    assert seen and seen[0]["pid"] == os.getpid()
    assert [p.name for p in tmp_path.iterdir()] == []      # no temp file left behind
