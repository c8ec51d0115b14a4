# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Resumable study results: atomic, locked JSON files and packed bits.

* :func:`save_results` writes a unique temporary file in the same folder,
  flushes and ``fsync``\\ s it, then ``os.replace``\\ s it over the study: a
  reader sees the old file or the new one, never half of one, and two
  writers never share a temporary name.
* :func:`lock` takes an advisory ``fcntl.flock`` on ``<file>.lock`` for as
  long as a study runs: a second writer is refused at once, with a message
  naming the file and the process that holds it.
* :func:`load_results` refuses a damaged file (empty, cut short, not a
  study), naming the file and what is wrong, and leaves it as it is.

The errors are :class:`SystemExit` subclasses: the scripts stop with the
message and exit status 1, without a traceback.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

# The keys of the accuracy and proportional studies' files.
STUDY_KEYS = ("meta", "runs")


class StudyFileError(SystemExit):
  """A results file that cannot be read as a study (it is left as it is)."""


class StudyLockedError(SystemExit):
  """Another process is writing the same results file."""


def pack_bools(correct) -> str | None:
  """Per-example booleans as base64 packed bits (None stays None).

  Example:
    >>> unpack_bools(pack_bools([True, False, True]), 3).tolist()
    [True, False, True]
  """
  if correct is None:
    return None
  bits = np.packbits(np.asarray(correct, bool))
  return base64.b64encode(bits.tobytes()).decode("ascii")


def unpack_bools(text: str | None, n: int) -> np.ndarray | None:
  """The inverse of :func:`pack_bools` for ``n`` examples."""
  if text is None:
    return None
  bits = np.frombuffer(base64.b64decode(text), np.uint8)
  return np.unpackbits(bits)[:n].astype(bool)


def load_results(path: str, keys: Sequence[str] = STUDY_KEYS,
                 missing_ok: bool = True) -> dict[str, Any]:
  """The study JSON at ``path``; an empty study if there is none yet.

  Args:
    path: the results file.
    keys: the top-level keys a study file has, each holding an object.
    missing_ok: a missing file is an empty study (``{key: {}}``); False
      raises instead (``--report`` and ``--render`` read an existing file).

  Returns:
    The study's data.

  Raises:
    StudyFileError: naming the file and what is wrong (missing, empty, not
      JSON, cut short, not an object with ``keys``); the file is kept.

  Example:
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'study.json')
    >>> load_results(path)
    {'meta': {}, 'runs': {}}
    >>> with open(path, 'w') as f:
    ...   f.write('{}')
    2
    >>> load_results(path)
    Traceback (most recent call last):
      ...
    benchmarks.study_io.StudyFileError: .../study.json is not a study file: it has no 'meta', 'runs' (its top-level keys: none). The file is left as it is; ...
  """
  keep = ("The file is left as it is; restore it, move it away or pass "
          "another --out to start a new study.")
  if not os.path.exists(path):
    if missing_ok:
      return {key: {} for key in keys}
    raise StudyFileError(f"{path}: no such results file (check the "
                         "spelling; it is read, not written, here).")
  with open(path, "rb") as f:
    raw = f.read()
  if not raw.strip():
    raise StudyFileError(f"{path} is empty ({len(raw)} bytes): an "
                         f"interrupted write? {keep}")
  try:
    data = json.loads(raw)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    # A study is one JSON object: '{' without its closing '}' was cut.
    text = raw.strip()
    cut = (" (it ends inside the JSON: cut short, e.g. by a full disk or a "
           "copy that did not finish)"
           if text.startswith(b"{") and not text.endswith(b"}") else "")
    raise StudyFileError(f"{path} is not valid JSON{cut}: {e} ({len(raw)} "
                         f"bytes). {keep}") from None
  missing = [k for k in keys if not isinstance(data, dict)
             or not isinstance(data.get(k), dict)]
  if missing:
    found = ", ".join(map(repr, data)) if isinstance(data, dict) else (
        type(data).__name__)
    raise StudyFileError(
        f"{path} is not a study file: it has no "
        f"{', '.join(map(repr, missing))} (its top-level keys: "
        f"{found or 'none'}). {keep}")
  return data


def _current_umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


_UMASK = _current_umask()


def save_results(path: str, data: dict[str, Any]) -> None:
  """Writes ``data`` to ``path`` atomically and durably, under the lock.

  A unique temporary file in the same folder, ``fsync``, ``os.replace``,
  then an ``fsync`` of the folder: a kill never leaves half a file, and a
  concurrent reader sees the old or the new one.

  Raises:
    StudyLockedError: another process holds the file's lock.
  """
  folder = os.path.dirname(os.path.abspath(path))
  with lock(path):
    fd, tmp = tempfile.mkstemp(dir=folder,
                               prefix=os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
      # mkstemp makes the file private (0600); a results file gets the
      # mode a plain open() would give it.
      os.fchmod(fd, 0o666 & ~_UMASK)
      with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
      os.replace(tmp, path)
    except BaseException:
      with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)
      raise
  dir_fd = os.open(folder, os.O_RDONLY)
  try:
    os.fsync(dir_fd)
  finally:
    os.close(dir_fd)


# path -> (lock file descriptor, how many holders in this process)
_HELD: dict[str, list[int]] = {}


def _lock_path(path: str) -> str:
  return os.path.abspath(path) + ".lock"


def acquire(path: str) -> None:
  """Takes the writer's lock of ``path`` (re-entrant within a process).

  The lock is ``fcntl.flock`` on ``<path>.lock``, which holds the owner's
  pid; it is released by :func:`release` or when the process ends.

  Raises:
    StudyLockedError: naming the file and the process that holds it.
  """
  key = _lock_path(path)
  if key in _HELD:
    _HELD[key][1] += 1
    return
  while True:
    fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
      os.close(fd)
      raise StudyLockedError(
          f"{path} is being written by another process (pid "
          f"{holder or 'unknown'}, holding {key}). Wait for it to finish, "
          "or pass another --out.") from None
    # The holder before us may have removed the lock file after we opened
    # it: then we hold a lock on a file nobody else can see. Retry.
    try:
      same = os.path.samestat(os.fstat(fd), os.stat(key))
    except FileNotFoundError:
      same = False
    if same:
      break
    os.close(fd)
  os.ftruncate(fd, 0)
  os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
  _HELD[key] = [fd, 1]


def release(path: str) -> None:
  """Releases one hold of :func:`acquire`; the last removes the lock file."""
  key = _lock_path(path)
  held = _HELD.get(key)
  if held is None:
    return
  held[1] -= 1
  if held[1] == 0:
    del _HELD[key]
    with contextlib.suppress(FileNotFoundError):
      os.remove(key)  # while still locked, so nobody else holds it now
    os.close(held[0])


@contextlib.contextmanager
def lock(path: str) -> Iterator[None]:
  """Holds the writer's lock of ``path`` for a ``with`` block."""
  acquire(path)
  try:
    yield
  finally:
    release(path)


@atexit.register
def _release_all() -> None:
  for key in list(_HELD):
    _HELD[key][1] = 1
    release(key[:-len(".lock")])


def load_or_run(path: str, report_only: bool,
                run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
  """The study at ``path``: loaded as it is (``--report``), or run/resumed.

  A run holds the file's lock from before it reads the file until after its
  last save, so a second process on the same file is refused at once
  instead of overwriting the first one's runs.

  Args:
    path: the study JSON.
    report_only: only load it, run nothing; a missing file is an error.
    run: runs (or resumes) the study, writing ``path``; returns its data.

  Returns:
    The study's data.

  Raises:
    StudyFileError: ``report_only`` and no (or a damaged) file at ``path``.
    StudyLockedError: another process is running a study on ``path``.
  """
  if report_only:
    return load_results(path, missing_ok=False)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with lock(path):
    return run()


def render_block(path: str, begin: str, end: str, text: str) -> None:
  """Replaces the block between the markers ``begin`` and ``end`` in ``path``.

  A study's report is rendered into its README between two HTML comments,
  so the page always quotes the committed results.

  Raises:
    SystemExit: ``path`` has no such block (it names the markers).
  """
  with open(path) as f:
    page = f.read()
  start, stop = page.find(begin), page.find(end)
  if start < 0 or stop < start:
    raise SystemExit(f"{path} has no {begin} ... {end} block.")
  with open(path, "w") as f:
    f.write(page[:start] + f"{begin}\n{text}\n" + page[stop:])
