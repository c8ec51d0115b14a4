# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""``describe``: which modules sit at each depth, and what looks wrong."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from lerac_jax import settings as settings_lib
from lerac_jax.depths import types

PyTree = Any


def _ratio_columns(num_depths: int, curriculum: settings_lib.Curriculum
                   ) -> tuple[np.ndarray, np.ndarray]:
  """The initial ratios r_j(0) and the ratios at step floor(k/2)."""
  half_step = np.floor(np.asarray(curriculum.curriculum_steps, np.float64) / 2)
  return (np.asarray(curriculum.multipliers(0, num_depths=num_depths)),
          np.asarray(curriculum.multipliers(half_step, num_depths=num_depths)))


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


def _matching_params(resolved: types.Depths, params: PyTree):
  """``params``, or its ``'params'`` collection, if the depths name its leaves.

  A linen variables dict (``{'params': ..., 'batch_stats': ...}``) is read
  through its ``'params'`` collection, as the depths were built for it.
  Returns None when no leaf has a depth.
  """
  def matches(tree):
    return any(resolved.depth_of(path) is not None
               for path, _ in types.flatten_with_names(tree))
  if matches(params):
    return params
  if isinstance(params, Mapping) and "params" in params and matches(
      params["params"]):
    return params["params"]
  return None


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
    curriculum: settings_lib.Curriculum | None = None,
    **settings: Any,
) -> str:
  r"""A table of the depths: modules, initial ratio and ratio at ``k/2``.

  Check it before training: one row per depth, with the ratio
  :math:`r_j(0) = m_j(0)` its learning rate starts at (multiply by the base
  learning rate for the rate itself), the ratio at step
  :math:`\lfloor k/2 \rfloor`, and the modules at that depth (a scanned
  module's slice as ``layers[3]``). The ratios come from the same validated
  :class:`lerac_jax.Curriculum` that :func:`lerac_jax.scale_by_lerac` builds
  from the same keyword arguments, so they are the ones that train; without
  settings the table lists the depths and modules only. Warnings follow for
  what looks wrong:

  * a single depth for everything: the curriculum does nothing;
  * (when concrete ``params`` are given) an all-zero kernel at the deepest
    depth: a zero-initialised head passes no gradient to the layers below
    while it learns at ``min_scale``, so nothing trains at first.

  Args:
    depths: anything :func:`as_depths` accepts.
    params: the parameters (or a linen variables dict: its ``'params'``);
      needed when ``depths`` is a callable, and used for the all-zero output
      check when concrete.
    curriculum: the settings as a :class:`lerac_jax.Curriculum`.
    **settings: or the keyword arguments given to
      :func:`lerac_jax.scale_by_lerac` (``curriculum_steps``, ``min_scale``,
      ``schedule``, ``initial_ratios``, ...), validated the same way.

  Returns:
    The table as a string.

  Raises:
    ValueError: for invalid settings, or both ``curriculum`` and settings.

  Example:
    >>> import lerac_jax
    >>> print(lerac_jax.describe({'stem': {'kernel': 0, 'bias': 0},
    ...                           'head': {'kernel': 1}},
    ...                          curriculum_steps=100, min_scale=1e-4))
    depth  r_j(0)    r_j(k/2)  modules
        0  1         1         stem
        1  0.0001    0.01      head
    2 depths, 3 entries; schedule 'exponential', k = 100 steps.

  References:
    Croitoru et al., "Learning Rate Curriculum", IJCV 2024 (Eq. 8).
  """
  if curriculum is not None and settings:
    raise ValueError(
        "Give describe either curriculum= or the keyword settings of "
        f"scale_by_lerac, not both; got curriculum and {sorted(settings)}.")
  settings.pop("layer_axis_name", None)  # sharding only: no effect on rates
  if curriculum is None and settings:
    curriculum = settings_lib.Curriculum(**settings)
  resolved = types.as_depths(depths, params)
  modules = _modules_by_depth(resolved)
  if curriculum is None:
    header: tuple[str, ...] = ("depth", "modules")
    body: list[tuple[str, ...]] = [
        (str(d), ", ".join(modules[d])) for d in sorted(modules)]
    w = max(len(r[0]) for r in [header] + body)
    lines = [f"{r[0]:>{w}}  {r[1]}".rstrip() for r in [header] + body]
    lines.append(f"{resolved.num_depths} depths, {len(resolved.table)} "
                 "entries; pass the curriculum settings for the ratios.")
  else:
    start, half = _ratio_columns(resolved.num_depths, curriculum)
    header = ("depth", "r_j(0)", "r_j(k/2)", "modules")
    body = [(str(d), f"{start[d]:.3g}", f"{half[d]:.3g}",
             ", ".join(modules[d])) for d in sorted(modules)]
    width = [max(len(r[i]) for r in [header] + body) for i in range(3)]

    def fmt(r):
      return (f"{r[0]:>{width[0]}}  {r[1]:<{width[1]}}    "
              f"{r[2]:<{width[2]}}  {r[3]}").rstrip()

    lines = [fmt(header)] + [fmt(r) for r in body]
    lines.append(
        f"{resolved.num_depths} depths, {len(resolved.table)} entries; "
        f"schedule {curriculum.schedule!r}, k = "
        f"{curriculum.curriculum_steps} steps.")
  if resolved.num_depths == 1:
    lines.append(
        "WARNING: a single depth for all parameters: the curriculum does "
        "nothing. Check the depths (group=, block_level=, or the rules).")
  checked = None if params is None else _matching_params(resolved, params)
  if params is not None and checked is None:
    lines.append(
        "NOTE: no leaf of params has a depth, so the all-zero head check was "
        "skipped; pass the tree the depths were built for (for linen, "
        "variables['params']).")
  zeros = [] if checked is None else _zero_output_kernels(resolved, checked)
  if zeros and resolved.num_depths > 1:
    lines.append(
        f"WARNING: the deepest depth's kernel(s) {zeros} are all zeros: a "
        "zero-initialised output layer passes no gradient to the layers "
        "below while it learns at min_scale. Initialise it with small "
        "random values.")
  return "\n".join(lines)
