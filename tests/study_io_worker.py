# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Child processes of the results-file tests (started with 'spawn')."""

import json

from benchmarks import study_io


def hold_lock(path, held, done):
  """Holds ``path``'s writer lock until ``done`` is set (at most 60 s)."""
  with study_io.lock(path):
    held.set()
    done.wait(60)


def save_many(path, name, count, results):
  """Saves ``count`` versions; counts saves made and refused, and errors."""
  made = refused = 0
  errors = []
  for i in range(count):
    try:
      study_io.save_results(path, {"meta": {"writer": name},
                                   "runs": {str(j): j for j in range(i)}})
      made += 1
    except study_io.StudyLockedError:
      refused += 1
    except Exception as e:  # pylint: disable=broad-except
      errors.append(f"{type(e).__name__}: {e}")
  results.put((name, made, refused, errors[:3]))


def read_many(path, count, results):
  """Reads ``count`` times while others write; counts unreadable reads."""
  bad = []
  for _ in range(count):
    try:
      with open(path) as f:
        json.load(f)
    except (ValueError, OSError) as e:
      bad.append(f"{type(e).__name__}: {e}")
  results.put(("reader", count - len(bad), 0, bad[:3]))
