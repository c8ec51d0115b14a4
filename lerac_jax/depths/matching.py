# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Matching a :class:`Depths` object against a parameter tree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lerac_jax.depths import types

PyTree = Any


def summarise(items: Sequence[str], limit: int = 12) -> str:
  shown = ", ".join(repr(s) for s in items[:limit])
  more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
  return f"[{shown}{more}]"


def match(
    depths: types.Depths, tree: PyTree, *, sharded_layers: bool = False
) -> list[types.DepthValue | None]:
  """The depth of every leaf of ``tree``, in flattening order.

  ``optax.MaskedNode`` leaves get ``None`` and are exempt from the check.

  Args:
    depths: a :class:`Depths`.
    tree: a parameter-shaped tree (params, updates, ``jax.ShapeDtypeStruct``).
    sharded_layers: accept a stacked leaf that holds only a block of its
      slices (its size along the layer axis divides the slice count), as
      inside ``jax.shard_map`` with the layer axis sharded.

  Returns:
    One entry per leaf of ``jax.tree.leaves(tree, is_leaf=MaskedNode check)``.

  Raises:
    ValueError: naming the parameters that have no depth and the depth entries
      that match no parameter, or a stacked leaf whose slice count is wrong.

  Example:
    >>> import jax.numpy as jnp, lerac_jax
    >>> from lerac_jax.depths import match
    >>> params = {'stem': {'kernel': jnp.ones(2)}, 'head': {'b': jnp.ones(1)}}
    >>> match(lerac_jax.as_depths({'stem': 0, 'head': 1}), params)
    [1, 0]
  """
  named = types.flatten_with_names(tree)
  used: set[str] = set()
  missing: list[str] = []
  masked: list[str] = []
  out: list[types.DepthValue | None] = []
  for path, leaf in named:
    if types.is_masked_node(leaf):
      masked.append(path)
      out.append(None)
      continue
    key, value = types.lookup(depths.table, path)
    if value is None:
      missing.append(path)
      out.append(None)
      continue
    used.add(key)
    if isinstance(value, types.Stacked):
      shape = getattr(leaf, "shape", None)
      size = (shape[value.axis] if shape is not None
              and -len(shape) <= value.axis < len(shape) else None)
      full = len(value.depths)
      if size != full and not (sharded_layers and size and full % size == 0):
        hint = ("" if sharded_layers else
                " Inside shard_map with the layer axis sharded, pass "
                "layer_axis_name= to scale_by_lerac.")
        raise ValueError(
            f"Parameter {path!r} has shape {shape} but its depth entry "
            f"{key!r} gives {full} per-slice depths along axis "
            f"{value.axis}. Was the depths object built for another model "
            f"(or with another stack axis)?{hint}"
        )
    out.append(value)
  extra = [
      k for k in depths.table
      if k not in used and not any(_related(k, m) for m in masked)
  ]
  if missing or extra:
    lines = ["The parameter tree does not match the depths object."]
    if missing:
      lines.append(
          f"{len(missing)} parameter(s) have no depth: {summarise(missing)}."
      )
    if extra:
      lines.append(
          f"{len(extra)} depth entr(y/ies) match no parameter: "
          f"{summarise(extra)}."
      )
    if extra and not missing:
      lines.append(
          "The tree holds only some of the parameters the depths were built "
          "for: an optimizer over a subset (nnx.Optimizer(model, tx, "
          "wrt=nnx.LoRAParam), optax.masked, optax.partition)? Keep the "
          "depths of that subset: depths.subset(nnx.state(model, "
          "nnx.LoRAParam)) (or of the tree the optimizer sees).")
    else:
      lines.append(
          "Was the depths object built for another model, or for a "
          "different tree (e.g. the whole variables dict instead of "
          "variables['params'])? Rebuild it with depths_from_model(...) on "
          "this model.")
    raise ValueError(" ".join(lines))
  return out


def _related(entry: str, path: str) -> bool:
  return (entry == path or path.startswith(entry + "/")
          or entry.startswith(path + "/") or entry == "")
