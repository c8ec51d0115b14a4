# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Resumable study results: atomic JSON files and packed per-example bits."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np


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


def load_results(path: str) -> dict[str, Any]:
  """The study JSON at ``path``, or an empty study."""
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return {"meta": {}, "runs": {}}


def save_results(path: str, data: dict[str, Any]) -> None:
  """Writes ``data`` to ``path`` atomically: a kill never leaves half a file."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(data, f, indent=1)
  os.replace(tmp, path)


def load_or_run(path: str, report_only: bool,
                run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
  """The study at ``path``: loaded as it is (``--report``), or run/resumed.

  Args:
    path: the study JSON.
    report_only: only load it, run nothing.
    run: runs (or resumes) the study, writing ``path``; returns its data.

  Returns:
    The study's data.
  """
  if report_only:
    return load_results(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  return run()
