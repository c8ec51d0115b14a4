# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The range rule of each setting, written once.

Every module that takes one of these settings checks it here, so a setting
has one valid range and one message wherever it is given (the curriculum,
the curves of :mod:`lerac_jax.schedules`, :func:`lerac_jax.snr_ratios`, the
multiplier families). The checks apply to concrete values only: a traced
value (under ``jit`` or :func:`optax.inject_hyperparams`) cannot raise and is
clamped where it is used.
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import Any

import jax
import numpy as np

TINY = float(np.finfo(np.float32).tiny)
"""float32's smallest normal: the lowest ratio a float32 multiplier can hold."""

MIN_SCALE_RANGE = f"in [{TINY:.4g}, 1]"
MIN_SCALE_WHY = (
    "it is eta_n(0) / eta0, the lowest initial ratio; below float32's "
    "smallest normal it is flushed to 0 and the deepest layer is frozen for "
    "all of k")


def concrete_or_none(value: Any) -> float | None:
  """Returns ``value`` as a Python float, or None if it is traced."""
  if isinstance(value, jax.core.Tracer):
    return None
  try:
    return float(np.asarray(value))
  except (TypeError, jax.errors.ConcretizationTypeError):
    return None


def check_min_scale(min_scale: Any, name: str = "min_scale") -> None:
  """Refuses a concrete ``min_scale`` outside ``[TINY, 1]``.

  Args:
    min_scale: the lowest initial ratio (a traced value is not checked).
    name: the name to give in the message.

  Raises:
    ValueError: naming the setting, its range and why.

  Example:
    >>> from lerac_jax import validation
    >>> validation.check_min_scale(1e-6)
    >>> validation.check_min_scale(0.0)
    Traceback (most recent call last):
    ...
    ValueError: min_scale must be in [1.175e-38, 1] (it is ...); got 0.0.
  """
  s = concrete_or_none(min_scale)
  if s is not None and not TINY <= s <= 1.0:
    raise ValueError(
        f"{name} must be {MIN_SCALE_RANGE} ({MIN_SCALE_WHY}); got "
        f"{min_scale!r}.")


def _check(value: Any, name: str, ok: Callable[[float], bool],
           rule: str) -> None:
  x = concrete_or_none(value)
  if x is not None and not ok(x):
    raise ValueError(f"{name} must be {rule}; got {value!r}.")


def check_fraction(value: Any, name: str) -> None:
  """Refuses a concrete value outside ``(0, 1]`` (a per-depth factor).

  Args:
    value: the setting (a traced value is not checked).
    name: its name, for the message.

  Raises:
    ValueError: naming the setting and its range.
  """
  _check(value, name, lambda f: 0.0 < f <= 1.0, "in (0, 1]")


def check_positive_steps(value: Any, name: str, symbol: str = "") -> None:
  """Refuses a concrete number of steps that is not finite and > 0.

  Args:
    value: the setting (a traced value is not checked).
    name: its name, for the message.
    symbol: its symbol in the docs (``'k'``), shown in the range.

  Raises:
    ValueError: naming the setting and its range.
  """
  _check(value, name, lambda d: d > 0 and math.isfinite(d),
         f"a finite, positive number of optimizer steps ({symbol or name} "
         "> 0)")


def check_growth_factor(value: Any, name: str = "staircase_factor") -> None:
  """Refuses a concrete growth factor that is not finite and > 1 (see
  :func:`check_fraction` for the arguments)."""
  _check(value, name, lambda c: c > 1.0 and math.isfinite(c),
         "finite and > 1 (the growth per update event; the official code "
         "uses 10)")
