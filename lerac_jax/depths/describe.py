# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""``describe``: which modules sit at each depth, and what looks wrong."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from lerac_jax import schedules
from lerac_jax.depths import types

PyTree = Any


def _ratio_columns(num_depths: int, curriculum_steps: Any,
                   kwargs: dict) -> tuple[np.ndarray, np.ndarray]:
  """The initial ratios r_j(0) and the ratios at step floor(k/2)."""
  curve = schedules.make_curve(
      num_depths, curriculum_steps=curriculum_steps, **kwargs)
  half_step = np.floor(np.asarray(curriculum_steps, np.float64) / 2)
  return np.asarray(curve(0)), np.asarray(curve(half_step))


def _modules_by_depth(resolved: types.Depths) -> dict[int, list[str]]:
  """Depth -> the modules (paths without the leaf name) at that depth."""
  out: dict[int, list[str]] = {}

  def add(depth, name):
    names = out.setdefault(depth, [])
    if name not in names:
      names.append(name)

  for path, value in resolved.table.items():
    module = path.rsplit("/", 1)[0] if "/" in path else (path or "<all>")
    if isinstance(value, types.Stacked):
      for i, d in enumerate(value.depths):
        add(d, f"{module}[{i}]")
    else:
      add(value, module)
  return out


def _zero_output_kernels(resolved: types.Depths, params: PyTree) -> list[str]:
  """Kernels (ndim >= 2) at the deepest depth whose values are all zero."""
  deepest = resolved.num_depths - 1
  zeros = []
  for path, leaf in types.flatten_with_names(params):
    if not isinstance(leaf, (jax.Array, np.ndarray)) or np.ndim(leaf) < 2:
      continue
    if isinstance(leaf, jax.core.Tracer):
      continue
    value = resolved.depth_of(path)
    at_deepest = (deepest in value.depths if isinstance(value, types.Stacked)
                  else value == deepest)
    if at_deepest and not np.any(np.asarray(leaf)):
      zeros.append(path)
  return zeros


def describe(
    depths: Any,
    params: PyTree | None = None,
    *,
    curriculum_steps: Any = 1000,
    **kwargs: Any,
) -> str:
  r"""A table of the depths: modules, initial ratio and ratio at ``k/2``.

  Check it before training: one row per depth, with the ratio
  :math:`r_j(0) = m_j(0)` its learning rate starts at (multiply by the base
  learning rate for the rate itself), the ratio at step
  :math:`\lfloor k/2 \rfloor`, and the modules at that depth (a scanned
  module's slice as ``layers[3]``). Warnings follow for what looks wrong:

  * a single depth for everything: the curriculum does nothing;
  * (when concrete ``params`` are given) an all-zero kernel at the deepest
    depth: a zero-initialised head passes no gradient to the layers below
    while it learns at ``min_scale``, so nothing trains at first.

  Args:
    depths: anything :func:`as_depths` accepts.
    params: the parameters; needed when ``depths`` is a callable, and used for
      the all-zero output check when concrete.
    curriculum_steps: ``k``; matters only for the staircase schedule.
    **kwargs: the other keyword arguments of :func:`lerac_jax.scale_by_lerac`
      (``min_scale``, ``schedule``, ``initial_ratios``, ...).

  Returns:
    The table as a string.

  Example:
    >>> import lerac_jax
    >>> print(lerac_jax.describe({'stem': {'kernel': 0, 'bias': 0},
    ...                           'head': {'kernel': 1}}, min_scale=1e-4))
    depth  r_j(0)    r_j(k/2)  modules
        0  1         1         stem
        1  0.0001    0.01      head
    2 depths, 3 entries; schedule 'exponential', k = 1000 steps.

  References:
    Croitoru et al., "Learning Rate Curriculum", IJCV 2024 (Eq. 8).
  """
  resolved = types.as_depths(depths, params)
  start, half = _ratio_columns(resolved.num_depths, curriculum_steps, kwargs)
  modules = _modules_by_depth(resolved)
  header = ("depth", "r_j(0)", "r_j(k/2)", "modules")
  body = [(str(d), f"{start[d]:.3g}", f"{half[d]:.3g}", ", ".join(modules[d]))
          for d in sorted(modules)]
  width = [max(len(r[i]) for r in [header] + body) for i in range(3)]

  def fmt(r):
    return (f"{r[0]:>{width[0]}}  {r[1]:<{width[1]}}    "
            f"{r[2]:<{width[2]}}  {r[3]}").rstrip()

  lines = [fmt(header)] + [fmt(r) for r in body]
  schedule = kwargs.get("schedule", "exponential")
  lines.append(
      f"{resolved.num_depths} depths, {len(resolved.table)} entries; "
      f"schedule {schedule!r}, k = {curriculum_steps} steps.")
  if resolved.num_depths == 1:
    lines.append(
        "WARNING: a single depth for all parameters: the curriculum does "
        "nothing. Check the depths (group=, block_level=, or the rules).")
  zeros = [] if params is None else _zero_output_kernels(resolved, params)
  if zeros and resolved.num_depths > 1:
    lines.append(
        f"WARNING: the deepest depth's kernel(s) {zeros} are all zeros: a "
        "zero-initialised output layer passes no gradient to the layers "
        "below while it learns at min_scale. Initialise it with small "
        "random values.")
  return "\n".join(lines)
