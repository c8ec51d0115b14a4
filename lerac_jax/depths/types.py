# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Parameter paths and the depth values: :class:`Depths` and :class:`Stacked`.

A :class:`Depths` object maps canonical parameter paths (``'/'``-joined keys,
without NNX's trailing ``.value``) to a depth rank, or to per-slice ranks for
a stacked (scanned) leaf. Depth values are ranks: only their order matters.
Depth 0 is nearest the input and starts at the base learning rate.
"""

from __future__ import annotations

import dataclasses
import operator
import types
from collections.abc import Mapping, Sequence
from typing import Any, Union

import jax
import numpy as np
import optax

PyTree = Any


def _key_str(key: Any) -> str:
  if isinstance(key, jax.tree_util.DictKey):
    return str(key.key)
  if isinstance(key, jax.tree_util.SequenceKey):
    return str(key.idx)
  if isinstance(key, jax.tree_util.GetAttrKey):
    return key.name
  if isinstance(key, jax.tree_util.FlattenedIndexKey):
    return str(key.key)
  return str(key)


def path_to_str(path: Sequence[Any]) -> str:
  """Canonical ``'/'``-joined name of a key path.

  A trailing ``.value`` attribute (NNX ``Variable``, flax partitioning boxes)
  is dropped, so ``nnx.State`` paths with and without it agree.

  Args:
    path: a JAX key path, or a tuple of strings and ints.

  Returns:
    The canonical path string.

  Example:
    >>> import jax
    >>> from lerac_jax.depths import path_to_str
    >>> path_to_str((jax.tree_util.DictKey('layers'), jax.tree_util.DictKey(0),
    ...              jax.tree_util.GetAttrKey('value')))
    'layers/0'
  """
  parts = list(path)
  if parts and isinstance(parts[-1], jax.tree_util.GetAttrKey) and (
      parts[-1].name == "value"
  ):
    parts = parts[:-1]
  return "/".join(_key_str(k) for k in parts)


def is_masked_node(x: Any) -> bool:
  """Whether ``x`` is the placeholder ``optax.masked`` puts for masked leaves."""
  return isinstance(x, optax.MaskedNode)


def flatten_with_names(tree: PyTree) -> list[tuple[str, Any]]:
  """Flattens ``tree`` into ``(canonical path, leaf)`` pairs.

  ``optax.MaskedNode`` placeholders are kept as leaves so that callers can
  exempt them.

  Args:
    tree: any pytree.

  Returns:
    A list of ``(path string, leaf)`` in JAX's flattening order.

  Raises:
    ValueError: if two leaves get the same canonical path, as a flat key
      ``'a/b'`` and a nested ``{'a': {'b': ...}}`` do.
  """
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_masked_node)
  named = [(path_to_str(p), leaf) for p, leaf in leaves]
  if len({name for name, _ in named}) != len(named):
    seen: dict[str, Any] = {}
    for (name, _), (raw, _) in zip(named, leaves):
      if name in seen:
        raise ValueError(
            f"Two entries have the same path {name!r}: "
            f"{jax.tree_util.keystr(seen[name])} and "
            f"{jax.tree_util.keystr(raw)}. A key containing '/' collides with"
            " a nested path; rename one of them or nest the key.")
      seen[name] = raw
  return named


def _check_index(value: Any, what: str) -> int:
  if isinstance(value, (bool, np.bool_)):
    raise TypeError(f"{what} must be an int; got the bool {value!r}.")
  try:
    return operator.index(value)
  except TypeError:
    raise TypeError(
        f"{what} must be an int; got {type(value).__name__} {value!r}."
    ) from None


@dataclasses.dataclass(frozen=True)
class Stacked:
  """Per-slice depths of a stacked leaf (``nn.scan``, NNX ``vmap``).

  Attributes:
    depths: one integer depth per slice along ``axis``.
    axis: the leaf's layer axis, a non-negative int.
  """

  depths: tuple[int, ...]
  axis: int = 0

  def __post_init__(self):
    depths = tuple(self.depths) if isinstance(
        self.depths, (Sequence, np.ndarray)) else None
    if depths is None:
      raise TypeError(
          f"Stacked.depths must be a sequence of ints; got {self.depths!r}.")
    object.__setattr__(self, "depths", tuple(
        _check_index(d, f"Stacked depth {i}") for i, d in enumerate(depths)))
    if not self.depths:
      raise ValueError("Stacked needs at least one depth.")
    axis = _check_index(self.axis, "Stacked.axis")
    if axis < 0:
      raise ValueError(
          f"Stacked.axis must be >= 0 (the layer axis of the leaf); got {axis}.")
    object.__setattr__(self, "axis", axis)


DepthValue = Union[int, Stacked]


def _values_of(value: DepthValue) -> tuple[int, ...]:
  return value.depths if isinstance(value, Stacked) else (value,)


@dataclasses.dataclass(frozen=True)
class Depths:
  r"""Parameter paths mapped to dense depth ranks ``0 .. num_depths - 1``.

  Build it with :func:`depths_from_model`, :func:`depths_from_fn`,
  :func:`depths_from_rules` or :func:`as_depths`. Entries may name leaves
  (``'stem/kernel'``) or whole subtrees (``'stem'``); the longest matching
  entry wins. The object is validated and immutable: ``table`` is a read-only
  copy, and its ranks are exactly :math:`\{0, \dots, n - 1\}`.

  Attributes:
    table: canonical path -> depth rank, or :class:`Stacked` ranks.
    num_depths: number of distinct depths :math:`n`.

  Raises:
    TypeError: for a key that is not a string or a value that is not an int
      or :class:`Stacked`.
    ValueError: if the ranks are not exactly ``0 .. num_depths - 1``.

  Example:
    >>> from lerac_jax.depths import Depths
    >>> Depths({'stem': 0, 'head': 1}, 2).table['head']
    1
    >>> Depths({'stem': 0, 'head': 2}, 2)
    Traceback (most recent call last):
    ...
    ValueError: Depths ranks must be exactly 0..1 (dense); got [0, 2]. Build the object with lerac_jax.as_depths(...), which re-numbers any ordered values densely.

  References:
    Croitoru et al., "Learning Rate Curriculum", IJCV 2024.
  """

  table: Mapping[str, DepthValue]
  num_depths: int

  def __post_init__(self):
    if not isinstance(self.table, Mapping):
      raise TypeError(
          f"Depths.table must be a mapping; got {type(self.table).__name__}.")
    table = {}
    for key, value in self.table.items():
      if not isinstance(key, str):
        raise TypeError(
            f"Depths.table keys must be path strings; got {key!r}.")
      if not isinstance(value, Stacked):
        value = _check_index(value, f"The depth of {key!r}")
      table[key] = value
    num = _check_index(self.num_depths, "Depths.num_depths")
    used = sorted({d for v in table.values() for d in _values_of(v)})
    if used != list(range(num)):
      raise ValueError(
          f"Depths ranks must be exactly 0..{num - 1} (dense); got "
          f"{used[:20]}{' ...' if len(used) > 20 else ''}. Build the object"
          " with lerac_jax.as_depths(...), which re-numbers any ordered "
          "values densely.")
    object.__setattr__(self, "table", types.MappingProxyType(table))
    object.__setattr__(self, "num_depths", num)

  def __reduce__(self):
    return (Depths, (dict(self.table), self.num_depths))

  def __repr__(self) -> str:
    return f"Depths(num_depths={self.num_depths}, entries={len(self.table)})"

  def reversed(self) -> "Depths":
    """The reverse order: the deepest layer becomes depth 0 (a control)."""
    n = self.num_depths - 1
    table = {
        k: (Stacked(tuple(n - d for d in v.depths), v.axis)
            if isinstance(v, Stacked) else n - v)
        for k, v in self.table.items()
    }
    return Depths(table, self.num_depths)

  def depth_of(self, path: str) -> DepthValue | None:
    """The depth entry that applies to a canonical path, or None."""
    return lookup(self.table, path)[1]

  def subset(self, tree: Any) -> "Depths":
    """The depths of the leaves of ``tree`` only, re-numbered densely.

    For an optimizer over some of the parameters (``nnx.Optimizer(model,
    tx, wrt=nnx.LoRAParam)``): the depths found on the whole model, kept
    for the leaves that optimizer updates, in the same order.

    Args:
      tree: a parameter tree whose leaves all have a depth here.

    Returns:
      A :class:`Depths` with one entry per leaf of ``tree``.

    Raises:
      ValueError: naming the leaves of ``tree`` that have no depth.

    Example:
      >>> from lerac_jax.depths import Depths
      >>> d = Depths({'a/kernel': 0, 'a/lora': 1, 'b/lora': 2}, 3)
      >>> dict(d.subset({'a': {'lora': 0.0}, 'b': {'lora': 0.0}}).table)
      {'a/lora': 0, 'b/lora': 1}
    """
    table, missing = {}, []
    for path, leaf in flatten_with_names(tree):
      if is_masked_node(leaf):
        continue
      value = self.depth_of(path)
      if value is None:
        missing.append(path)
      else:
        table[path] = value
    if missing:
      raise ValueError(
          f"{len(missing)} leaves of the tree have no depth: {missing[:8]}. "
          "Depths.subset keeps leaves of the tree the depths were built for.")
    return dense_ranks(table)


def lookup(table: Mapping[str, DepthValue], path: str):
  """Exact match, else the longest entry that is a ``/``-prefix of ``path``."""
  if path in table:
    return path, table[path]
  parts = path.split("/")
  for i in range(len(parts) - 1, 0, -1):
    prefix = "/".join(parts[:i])
    if prefix in table:
      return prefix, table[prefix]
  if "" in table:  # a single depth for the whole tree
    return "", table[""]
  return None, None


def dense_ranks(table: Mapping[str, Any]) -> Depths:
  """Re-numbers ordered raw depth values as dense ranks (only order matters)."""
  values: set[Any] = set()
  for v in table.values():
    values.update(_values_of(v))
  if not values:
    raise ValueError("The depths object is empty: no parameter has a depth.")
  rank = {v: i for i, v in enumerate(sorted(values))}
  out: dict[str, DepthValue] = {}
  for k, v in table.items():
    if isinstance(v, Stacked):
      out[k] = Stacked(tuple(rank[d] for d in v.depths), v.axis)
    else:
      out[k] = rank[v]
  return Depths(out, len(rank))


def _as_depth_value(path: str, leaf: Any) -> DepthValue:
  if isinstance(leaf, Stacked):
    return leaf
  if isinstance(leaf, (bool, np.bool_)):
    raise TypeError(f"Depth for {path!r} is a bool; give an int.")
  if isinstance(leaf, (int, np.integer)):
    return int(leaf)
  arr = np.asarray(leaf)
  if arr.dtype.kind in "iu":
    if arr.ndim == 0:
      return int(arr)
    if arr.ndim == 1:
      return Stacked(tuple(arr.tolist()), 0)
  raise TypeError(
      f"Depth for {path!r} must be an int, a 1-D int array (per-slice depths "
      f"along axis 0) or lerac_jax.Stacked; got {type(leaf).__name__} "
      f"{getattr(leaf, 'shape', '')}."
  )


def _tuple_keys_as_paths(depths: Mapping) -> Mapping:
  """``{('stem', 'kernel'): 0}`` (a flattened dict) -> ``{'stem/kernel': 0}``."""
  kinds = {isinstance(k, tuple) for k in depths}
  if kinds == {True, False}:
    tuples = [k for k in depths if isinstance(k, tuple)][:3]
    others = [k for k in depths if not isinstance(k, tuple)][:3]
    raise TypeError(
        f"A depths mapping mixes tuple keys ({tuples}) with other keys "
        f"({others}). Use one style: path strings like 'stem/kernel', or "
        "tuples like ('stem', 'kernel') for every key.")
  if kinds == {True}:
    return {"/".join(str(p) for p in k): v for k, v in depths.items()}
  return depths


def as_depths(depths: Any, params: PyTree | None = None) -> Depths:
  """Normalises any accepted depth specification to a :class:`Depths`.

  Accepted forms:

  * a :class:`Depths` object;
  * a tree of ints with the params' structure, or a prefix of it
    (``{'stem': 0, 'blocks': {'0': 1, '1': 2}, 'head': 3}``);
  * a mapping from path strings (``{'stem/kernel': 0, 'head': 1}``) or from
    path tuples (``{('stem', 'kernel'): 0}``, as ``flatten_dict`` gives);
  * a callable from params to one of the above. It must depend only on the
    tree structure, like ``optax.masked``'s mask function; ``params`` is needed
    to call it.

  Per-slice depths of a stacked leaf are a 1-D int ``np.ndarray`` (axis 0) or
  :class:`Stacked`.

  Args:
    depths: the specification.
    params: the parameter tree, used only to call a callable ``depths``.

  Returns:
    A :class:`Depths` with dense ranks.

  Raises:
    TypeError: for a value that is not an int, int array or :class:`Stacked`,
      or a mapping that mixes tuple and string keys.
    ValueError: if two entries name the same path (``'a/b'`` and
      ``{'a': {'b': ...}}``), or nothing has a depth.

  Example:
    >>> import lerac_jax
    >>> d = lerac_jax.as_depths({'stem': 0, 'blocks': {'0': 5, '1': 9}})
    >>> d.num_depths, d.table['blocks/1']
    (3, 2)
  """
  if isinstance(depths, Depths):
    return depths
  if callable(depths):
    if params is None:
      raise ValueError("A callable depths specification needs the params.")
    return as_depths(depths(params))
  if isinstance(depths, (bool, np.bool_)):
    raise TypeError("A depths specification cannot be a bool.")
  if isinstance(depths, (int, np.integer)):
    return dense_ranks({"": int(depths)})
  if isinstance(depths, Mapping):
    depths = _tuple_keys_as_paths(depths)
  table = {}
  for path, leaf in flatten_with_names(depths):
    if is_masked_node(leaf) or leaf is None:
      continue
    table[path] = _as_depth_value(path, leaf)
  return dense_ranks(table)
