"""Serialisation: plain-data conversion, atomic file writes and JSONL helpers (an interrupted job never leaves
a half-written file behind)."""
from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, paths and tuples as plain JSON/YAML data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _umask() -> int:
    mask = os.umask(0)   # the only portable way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path next to `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600; the file gets what open() would have given it
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temp file for writing; on success fsync and rename it to `path`."""
    with atomic_path(path) as tmp:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": "\n"}
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def dumps(obj: Any) -> str:
    """One canonical JSON line: stable key order, no ASCII escaping, so equal data gives equal bytes."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_open(path) as f:
        f.write(json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            f.write(dumps(row) + "\n")
            n += 1
    return n


def append_jsonl(path: str | os.PathLike, row: Any) -> None:
    """Append one complete line and flush it: used for caches that must survive a crash mid-run."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8", newline="\n") as f:
        f.write(dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


class JSONLError(ValueError):
    def __init__(self, path, line_no: int, message: str):   # line 0: the file as a whole
        super().__init__(f"{path}:{line_no}: {message}" if line_no else f"{path}: {message}")
        self.path, self.line_no, self.message = path, line_no, message


def read_jsonl(path: str | os.PathLike, *, skip_truncated_tail: bool = False) -> Iterator[dict]:
    """Yield rows; a malformed line raises JSONLError naming its line number.

    skip_truncated_tail tolerates a last line cut short by a crash (append-only caches)."""
    for _, row in read_jsonl_numbered(path, skip_truncated_tail=skip_truncated_tail):
        yield row


def read_jsonl_numbered(path: str | os.PathLike, *, skip_truncated_tail: bool = False) -> Iterator[tuple[int, dict]]:
    """(1-based line number, row) for every non-blank line; a `.gz` file is read through gzip."""
    path = Path(path)
    if path.is_dir():
        raise JSONLError(path, 0, "is a folder, not a JSONL file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            lines = f.readlines()
    except UnicodeDecodeError as e:   # a binary file, or text in another encoding
        raise JSONLError(path, 0, f"is not UTF-8 text (byte {e.start}); needlework reads UTF-8 JSONL") from None
    except (OSError, EOFError) as e:   # unreadable, or a .gz file cut short
        raise JSONLError(path, 0, f"cannot be read ({e.strerror or e})") from None
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if skip_truncated_tail and i == len(lines) and not line.endswith("\n"):
                return
            raise JSONLError(path, i, f"not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise JSONLError(path, i, "each line must be a JSON object")
        yield i, row


# The one finished-marker convention: a folder is finished when DONE is there and its "key" is the identity
# hash of what should have produced it. The marker is written last and atomically, so it never outlives a
# half-written output (pipeline stage folders and training folders alike).
DONE = "done.json"


def write_done(folder: str | os.PathLike, key: str, **record: Any) -> None:
    """Mark `folder` finished by the settings whose identity hash is `key` (call after every output exists)."""
    write_json(Path(folder) / DONE, {"key": key, **record})


def read_done(folder: str | os.PathLike) -> dict | None:
    """The folder's finished marker (its "key" says by what), or None when it has none or it is unreadable."""
    try:
        mark = json.loads((Path(folder) / DONE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return mark if isinstance(mark, dict) else None


class HashMemo:
    """Full sha256 of files, remembered in a JSON file by (path, size, mtime_ns, inode, ctime_ns): a 7B model is
    hashed once, not on every eval. Size and mtime alone are not enough: `cp -p`, `rsync -a` and `tar` give a
    replaced file the old size and mtime, but not the old inode or ctime (a ctime cannot be set back).
    `with HashMemo(path) as m: m.sha256(file)`; new entries are saved on the way out (a read-only place only
    costs hashing again), and entries of files since replaced drop out."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            memo = json.loads(self.path.read_text())
        except (OSError, ValueError):
            memo = {}
        self.memo, self.added = (memo if isinstance(memo, dict) else {}), False

    def __enter__(self) -> "HashMemo":
        return self

    def __exit__(self, *exc) -> None:
        if self.added:
            try:
                write_json(self.path, {k: v for k, v in self.memo.items() if _still_there(k)})
            except OSError:
                pass

    def sha256(self, path: Path) -> str:
        key = _stat_key(path)
        if key not in self.memo:
            import hashlib
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
            self.memo[key], self.added = h.hexdigest(), True
        return self.memo[key]


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_ctime_ns}"


def _still_there(key: str) -> bool:
    try:
        return _stat_key(Path(key.split("|", 1)[0])) == key
    except OSError:
        return False


class FolderBusy(RuntimeError):
    """Another live process is writing to the same output folder."""


LOCK_WAIT_S = 10.0   # how long a second writer waits for a live lock's holder before it is refused


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, wait_s: float | None = None, log=None):
    """One writer per output folder: `<folder>/.lock` holds the owner's pid, host and start time, written whole
    before it appears (a hard link of a finished temp file), so a lock is never seen half-written. A lock that
    is empty or unreadable (left by a crash or a full disk) or whose process is gone (same host) is taken over
    with a one-line notice; a live holder is waited for at most `wait_s` seconds (LOCK_WAIT_S), said, then
    refused with a message naming it. Under a multi-process launch only rank 0 locks (its ranks write one
    folder together by design)."""
    import socket
    import sys
    import time as _time
    if int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    wait_s = LOCK_WAIT_S if wait_s is None else wait_s
    path = Path(folder) / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _time.strftime("%Y-%m-%d %H:%M:%S")}
    deadline, waiting = None, False
    while not _create_lock(path, me):
        owner = _read_lock(path)
        if owner is None or (owner.get("host") == me["host"] and not _alive(owner.get("pid"))):
            with _takeover_guard(path):   # two newcomers must not both remove it (one would remove the other's)
                if path.exists() and _read_lock(path) == owner:
                    say(f"needlework: {path} was " + ("empty or unreadable (left by an interrupted process)"
                                                      if owner is None else
                                                      f"left by pid {owner.get('pid')}, which no longer runs")
                        + "; taking it over")
                    path.unlink(missing_ok=True)
            continue
        if deadline is None:
            deadline = _time.monotonic() + wait_s
        if _time.monotonic() >= deadline:
            raise FolderBusy(f"{folder} is being written by another needlework process (pid {owner.get('pid')} on "
                             f"{owner.get('host')}, since {owner.get('started')}); waited {wait_s:g} s: wait for it to "
                             f"finish or choose another output folder (remove {path} only if that process is gone)")
        if not waiting and wait_s > 0:
            say(f"needlework: {folder} is in use by pid {owner.get('pid')} on {owner.get('host')}; waiting up to "
                f"{wait_s:g} s")
            waiting = True
        _time.sleep(min(0.2, max(0.0, deadline - _time.monotonic())))
    try:
        yield
    finally:
        if _read_lock(path) == me:   # never remove a lock someone took over from us
            path.unlink(missing_ok=True)


def _create_lock(path: Path, me: dict) -> bool:
    """Make `path` hold `me` if it does not exist yet, atomically and whole: False when it exists."""
    fd, tmp = tempfile.mkstemp(prefix=".lock.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(me))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError:   # a file system without hard links: exclusive create, written at once
            try:
                fd2 = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd2, "w") as f:
                f.write(json.dumps(me))
            return True
    finally:
        os.unlink(tmp)


@contextlib.contextmanager
def _takeover_guard(path: Path):
    """An exclusive flock on `<lock>.guard` while a stale lock is checked again and removed."""
    try:
        import fcntl
    except ImportError:   # no flock here: the re-check alone
        yield
        return
    with open(path.with_name(path.name + ".guard"), "a") as g:
        fcntl.flock(g, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(g, fcntl.LOCK_UN)


def _read_lock(path: Path) -> dict | None:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) and "pid" in owner else None


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError, OverflowError):
        return False
    except PermissionError:   # alive, someone else's
        return True
    return True
