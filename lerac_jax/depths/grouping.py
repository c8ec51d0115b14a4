# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""From per-parameter data levels to depth ranks: by layer or by block.

The input is what :func:`lerac_jax.depths.dataflow.propagate` found: each
parameter leaf's level (the output level of the first op where it meets
data), per slice for scanned leaves, and whether it met data in a
contraction (a kernel) or elementwise (a bias, a norm scale).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from lerac_jax.depths import matching
from lerac_jax.depths import types

Raw = Any  # int level, or types.Stacked of levels


def leaf_levels(prop: Any, names: Sequence[str],
                shapes: Sequence[tuple]) -> dict[str, Raw]:
  """The level of every parameter leaf, per slice for stacked leaves.

  A leaf that never meets data (unused, or read only by the loss) takes the
  level of its nearest relative in the parameter tree (a sibling first):
  it gets no gradient from the forward pass, so any depth of its module is
  right.

  Args:
    prop: a :class:`lerac_jax.depths.dataflow.Propagation`.
    names: canonical path of each leaf.
    shapes: shape of each leaf.

  Returns:
    Canonical path -> int level or :class:`Stacked` levels.

  Raises:
    ValueError: if no parameter meets data, or slices of a stacked leaf
      never do.
  """
  raw: dict[str, Raw] = {}
  for i, name in enumerate(names):
    whole = prop.leaf_levels.get(i)
    if i in prop.stacks:
      length, axis = prop.stacks[i]
      slices = prop.slice_levels.get(i, {})
      levels = []
      for s in range(length):
        got = [v for v in (slices.get(s), whole) if v is not None]
        if not got:
          raise ValueError(
              f"Slice {s} of the stacked parameter {name!r} never meets the "
              "data in the forward pass, so it has no depth. Give its depths "
              "with depths_from_rules and lerac_jax.Stacked.")
        levels.append(min(got))
      raw[name] = types.Stacked(tuple(levels), axis)
    elif whole is not None:
      raw[name] = whole
  if not raw:
    raise ValueError(
        "No parameter meets the data in the forward pass: are the data inputs"
        " arrays (Python numbers stay static), and does the function use its"
        " params argument?")
  for i, name in enumerate(names):
    if name not in raw:
      raw[name] = _from_relative(name, shapes[i], raw)
  return raw


def _from_relative(name: str, shape: tuple, raw: Mapping[str, Raw]) -> Raw:
  parts = name.split("/")
  for n in range(len(parts) - 1, -1, -1):
    prefix = parts[:n]
    kin = [v for k, v in raw.items() if k.split("/")[:n] == prefix
           and k != name]
    if kin:
      best = min(kin, key=_lowest)
      if isinstance(best, types.Stacked):
        fits = (best.axis < len(shape)
                and shape[best.axis] == len(best.depths))
        return best if fits else _lowest(best)
      return best
  raise AssertionError("unreachable: raw is not empty")


def _lowest(value: Raw) -> int:
  return min(value.depths) if isinstance(value, types.Stacked) else value


def layer_depths(raw: Mapping[str, Raw]) -> types.Depths:
  """One depth per distinct level: dense ranks of the levels."""
  return types.dense_ranks(raw)


def _block_prefix(name: str, block_level: int) -> tuple[str, ...]:
  """The first ``block_level`` path parts, plus any list index after them."""
  parts = name.split("/")
  n = min(block_level, len(parts))
  while n < len(parts) - 1 and parts[n].isdigit():
    n += 1
  return tuple(parts[:n])


def _blocks(raw: Mapping[str, Raw], contraction: set[str],
            block_level: int) -> types.Depths:
  prefix = {name: _block_prefix(name, block_level) for name in raw}
  # A block is per slice when every leaf in it is stacked the same way.
  lengths: dict[tuple, set] = {}
  for name, value in raw.items():
    lengths.setdefault(prefix[name], set()).add(
        len(value.depths) if isinstance(value, types.Stacked) else None)
  per_slice = {b for b, ls in lengths.items() if len(ls) == 1 and None not in ls}

  def units(name, value):
    """(unit, level) of each slice of a leaf."""
    b = prefix[name]
    if isinstance(value, types.Stacked):
      if b in per_slice:
        return [((b, s), d) for s, d in enumerate(value.depths)]
      return [((b, None), d) for d in value.depths]
    return [((b, None), value)]

  kernels: dict[tuple, list[int]] = {}
  others: dict[tuple, list[int]] = {}
  for name, value in raw.items():
    for unit, level in units(name, value):
      bucket = kernels if name in contraction else others
      bucket.setdefault(unit, []).append(level)
  # A block is ordered by its deepest contraction: where the main path
  # (the residual stream) leaves it. Its shallowest one may read a side
  # input (a conditioning embedding), which says nothing of where the block
  # sits along the main path; the deepest increases along it.
  key: dict[tuple, int] = {u: max(ls) for u, ls in kernels.items()}
  # A unit with elementwise parameters only (a final norm in a block of its
  # own) joins the unit whose contraction produced the level it touches.
  producer: dict[int, tuple] = {}
  for u, ls in kernels.items():
    for level in ls:
      if level not in producer or key[u] < key[producer[level]]:
        producer[level] = u
  for u, ls in others.items():
    if u not in key:
      level = min(ls)
      key[u] = key[producer[level]] if level in producer else level
  table: dict[str, Any] = {}
  for name, value in raw.items():
    ks = [key[u] for u, _ in units(name, value)]
    table[name] = (types.Stacked(tuple(ks), value.axis)
                   if isinstance(value, types.Stacked) else ks[0])
  return _dense_float_ranks(table)


def _dense_float_ranks(table: Mapping[str, Any]) -> types.Depths:
  values = sorted({d for v in table.values() for d in (
      v.depths if isinstance(v, types.Stacked) else (v,))})
  rank = {v: i for i, v in enumerate(values)}
  return types.dense_ranks({
      k: (types.Stacked(tuple(rank[d] for d in v.depths), v.axis)
          if isinstance(v, types.Stacked) else rank[v])
      for k, v in table.items()})


def block_depths(raw: Mapping[str, Raw], contraction: set[str],
                 block_level: int | None) -> types.Depths:
  """One depth per block: the modules at path length ``block_level``.

  A block's level is the highest level of its contraction parameters (its
  output along the main path), so side inputs such as a conditioning
  embedding read by a FiLM or adaLN projection do not pull it up. A path
  part that is a list index (``layers/3``) belongs to the block name, so
  blocks kept in a list each get a depth; a scanned block gets one depth per
  slice, as the same blocks written as a loop do.

  Args:
    raw: from :func:`leaf_levels`.
    contraction: paths of the leaves that meet data in a contraction.
    block_level: path length of a block; None picks the shallowest one that
      gives more than one depth.

  Returns:
    A :class:`Depths`.

  Raises:
    ValueError: if an explicit ``block_level`` collapses a model with several
      layer depths into a single depth.
  """
  longest = max(len(n.split("/")) for n in raw)
  if block_level is not None:
    got = _blocks(raw, contraction, block_level)
    if got.num_depths == 1 and layer_depths(raw).num_depths > 1:
      auto = block_depths(raw, contraction, None)
      hint = next((n for n in range(1, longest + 1) if _blocks(
          raw, contraction, n).num_depths > 1), None)
      raise ValueError(
          f"group='block' with block_level={block_level} puts every "
          f"parameter in one block ({matching.summarise(sorted(raw))[:80]}"
          "...), which gives no curriculum. Use block_level=None (the "
          f"shallowest level that splits the model, here {hint}, "
          f"{auto.num_depths} depths) or group='layer'.")
    return got
  for n in range(1, longest + 1):
    got = _blocks(raw, contraction, n)
    if got.num_depths > 1:
      return got
  warnings.warn(
      "group='block' gives a single depth: every parameter is at the same "
      "distance from the input, so the curriculum does nothing.",
      stacklevel=3)
  return got
