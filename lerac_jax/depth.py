# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Which depth each parameter has: automatic, by rules, or by hand.

A :class:`Depths` object maps canonical parameter paths (``'/'``-joined keys,
without NNX's trailing ``.value``) to a depth rank, or to per-slice ranks for
a stacked (scanned) leaf. It matches linen ``params`` dicts, ``nnx.State``
with or without ``.value``, and any prefix-compatible tree.

Depth values are ranks: only their order matters. Depth 0 is nearest the input
and starts at the base learning rate.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

import jax
import numpy as np

from lerac_jax import schedules

PyTree = Any

# ---------------------------------------------------------------------------
# Canonical paths.
# ---------------------------------------------------------------------------


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
    >>> from lerac_jax.depth import path_to_str
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
  # optax.masked replaces masked-out leaves by MaskedNode(), an empty pytree.
  return type(x).__name__ == "MaskedNode"


def flatten_with_names(tree: PyTree) -> list[tuple[str, Any]]:
  """Flattens ``tree`` into ``(canonical path, leaf)`` pairs.

  ``optax.MaskedNode`` placeholders are kept as leaves so that callers can
  exempt them.

  Args:
    tree: any pytree.

  Returns:
    A list of ``(path string, leaf)`` in JAX's flattening order.
  """
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_masked_node)
  return [(path_to_str(p), leaf) for p, leaf in leaves]


# ---------------------------------------------------------------------------
# The depths object.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Stacked:
  """Per-slice depths of a stacked leaf (``nn.scan``, NNX ``vmap``).

  Attributes:
    depths: one depth per slice along ``axis``.
    axis: the leaf's layer axis.
  """

  depths: tuple[int, ...]
  axis: int = 0

  def __post_init__(self):
    object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
    if not self.depths:
      raise ValueError("Stacked needs at least one depth.")


DepthValue = Union[int, Stacked]


@dataclasses.dataclass(frozen=True)
class Depths:
  """Parameter paths mapped to dense depth ranks ``0 .. num_depths - 1``.

  Build it with :func:`depths_from_model`, :func:`depths_from_rules` or
  :func:`as_depths`. Entries may name leaves (``'stem/kernel'``) or whole
  subtrees (``'stem'``); the longest matching entry wins.

  Attributes:
    table: canonical path -> depth rank, or :class:`Stacked` ranks.
    num_depths: number of distinct depths.
  """

  table: Mapping[str, DepthValue]
  num_depths: int

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
    return _lookup(self.table, path)[1]


def _lookup(table: Mapping[str, DepthValue], path: str):
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


def _dense_ranks(table: Mapping[str, Any]) -> Depths:
  """Re-numbers raw depth values as dense ranks (only order matters)."""
  values = set()
  for v in table.values():
    values.update(v.depths if isinstance(v, Stacked) else (v,))
  if not values:
    raise ValueError("The depths object is empty: no parameter has a depth.")
  rank = {v: i for i, v in enumerate(sorted(values))}
  out = {}
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


def as_depths(depths: Any, params: PyTree | None = None) -> Depths:
  """Normalises any accepted depth specification to a :class:`Depths`.

  Accepted forms:

  * a :class:`Depths` object;
  * a tree of ints with the params' structure, or a prefix of it
    (``{'stem': 0, 'blocks': {'0': 1, '1': 2}, 'head': 3}``);
  * a mapping from path strings (``{'stem/kernel': 0, 'head': 1}``);
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
  if isinstance(depths, (int, np.integer)):
    return _dense_ranks({"": int(depths)})
  table = {}
  for path, leaf in flatten_with_names(depths):
    if is_masked_node(leaf) or leaf is None:
      continue
    table[path] = _as_depth_value(path, leaf)
  return _dense_ranks(table)


# ---------------------------------------------------------------------------
# Matching a depths object against a parameter tree.
# ---------------------------------------------------------------------------


def _summarise(items: Sequence[str], limit: int = 12) -> str:
  shown = ", ".join(repr(s) for s in items[:limit])
  more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
  return f"[{shown}{more}]"


def match(
    depths: Depths, tree: PyTree, *, sharded_layers: bool = False
) -> list[DepthValue | None]:
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
  """
  named = flatten_with_names(tree)
  used: set[str] = set()
  missing: list[str] = []
  masked: list[str] = []
  out: list[DepthValue | None] = []
  for path, leaf in named:
    if is_masked_node(leaf):
      masked.append(path)
      out.append(None)
      continue
    key, value = _lookup(depths.table, path)
    if value is None:
      missing.append(path)
      out.append(None)
      continue
    used.add(key)
    if isinstance(value, Stacked):
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
          f"{len(missing)} parameter(s) have no depth: {_summarise(missing)}."
      )
    if extra:
      lines.append(
          f"{len(extra)} depth entr(y/ies) match no parameter: "
          f"{_summarise(extra)}."
      )
    lines.append(
        "Was the depths object built for another model, or for a different "
        "tree (e.g. the whole variables dict instead of variables['params'])?"
        " Rebuild it with depths_from_model(...) on this model."
    )
    raise ValueError(" ".join(lines))
  return out


def _related(entry: str, path: str) -> bool:
  return (entry == path or path.startswith(entry + "/")
          or entry.startswith(path + "/") or entry == "")


# ---------------------------------------------------------------------------
# Rules.
# ---------------------------------------------------------------------------

Rule = tuple[str, Union[int, float, Callable[..., Any]]]


def depths_from_rules(
    params: PyTree,
    rules: Sequence[Rule],
    *,
    default: Any = None,
) -> Depths:
  r"""Depths from an ordered list of ``(regex, depth)`` rules over paths.

  Each parameter's canonical path (``'Block_3/Conv_0/kernel'``) is tested
  against the rules in order with ``re.search``; the first match wins. The
  depth may be

  * a number: that depth;
  * a callable, called with the match's groups converted to numbers where they
    look like numbers, returning a number or a tuple;
  * for a pattern with capture groups and a number ``g``, the key
    ``(g, *numeric captures)``: so ``(r'Block_(\d+)', 1)`` orders
    ``Block_2`` before ``Block_10``, after group 0 and before group 2.

  Keys are sorted and re-numbered densely, as timm's ``group_matcher`` does.

  Args:
    params: the parameter tree (arrays or ``jax.ShapeDtypeStruct``).
    rules: ordered ``(pattern, depth)`` pairs.
    default: depth for parameters no rule matches. None (the default) makes
      unmatched parameters an error.

  Returns:
    A :class:`Depths`.

  Raises:
    ValueError: naming the parameters no rule matches.

  Example:
    >>> import jax.numpy as jnp, lerac_jax
    >>> params = {'stem': {'kernel': jnp.ones(1)},
    ...           'Block_10': {'kernel': jnp.ones(1)},
    ...           'Block_2': {'kernel': jnp.ones(1)},
    ...           'head': {'kernel': jnp.ones(1)}}
    >>> d = lerac_jax.depths_from_rules(
    ...     params, [(r'^stem', 0), (r'^Block_(\d+)', 1), (r'^head', 2)])
    >>> [d.table[p] for p in ('stem/kernel', 'Block_2/kernel',
    ...                       'Block_10/kernel', 'head/kernel')]
    [0, 1, 2, 3]
  """
  compiled = [(re.compile(p), d) for p, d in rules]
  keys: dict[str, tuple] = {}
  unmatched = []
  for path, leaf in flatten_with_names(params):
    if is_masked_node(leaf):
      continue
    for pattern, depth in compiled:
      m = pattern.search(path)
      if m is None:
        continue
      groups = tuple(_to_number(g) for g in m.groups())
      if callable(depth):
        value = depth(*groups)
        keys[path] = value if isinstance(value, tuple) else (value,)
      else:
        numeric = tuple(g for g in groups if isinstance(g, (int, float)))
        keys[path] = (depth,) + numeric
      break
    else:
      if default is None:
        unmatched.append(path)
      else:
        keys[path] = (default,)
  if unmatched:
    raise ValueError(
        f"{len(unmatched)} parameter(s) match no depth rule: "
        f"{_summarise(unmatched)}. Add a rule for them or pass default=."
    )
  width = max(len(k) for k in keys.values()) if keys else 0
  # Pad so that (1,) sorts before (1, 0): a group's plain entry comes first.
  padded = {p: k + (-float("inf"),) * (width - len(k)) for p, k in keys.items()}
  order = {k: i for i, k in enumerate(sorted(set(padded.values())))}
  return _dense_ranks({p: order[k] for p, k in padded.items()})


def _to_number(text: str | None) -> Any:
  if text is None:
    return None
  try:
    return int(text)
  except ValueError:
    try:
      return float(text)
    except ValueError:
      return text


# ---------------------------------------------------------------------------
# Automatic depths from the forward pass.
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Module:
  """A parameter-owning module, as first seen in the forward pass."""

  path: tuple[str, ...]
  is_norm: bool
  leaves: list[str] = dataclasses.field(default_factory=list)
  stack: tuple[int, int] | None = None  # (length, axis)
  stack_root: tuple[str, ...] | None = None


def _norm_types_linen() -> tuple[type, ...]:
  import flax.linen as nn  # pylint: disable=g-import-not-at-top

  names = ("BatchNorm", "LayerNorm", "GroupNorm", "RMSNorm", "InstanceNorm")
  return tuple(getattr(nn, n) for n in names if hasattr(nn, n))


def _norm_types_nnx() -> tuple[type, ...]:
  from flax import nnx  # pylint: disable=g-import-not-at-top

  names = ("BatchNorm", "LayerNorm", "GroupNorm", "RMSNorm", "InstanceNorm")
  return tuple(getattr(nnx, n) for n in names if hasattr(nnx, n))


def _owner(path: tuple, module_paths: set) -> tuple:
  for i in range(len(path) - 1, -1, -1):
    if path[:i] in module_paths:
      return path[:i]
  return ()


def _stack_axis_candidates(inner: tuple, outer: tuple) -> list[int]:
  if len(outer) != len(inner) + 1:
    return []
  return [a for a in range(len(outer)) if outer[:a] + outer[a + 1:] == inner]


def _assign(
    modules: list[_Module], group: str, block_level: int
) -> Depths:
  """Turns modules in call order into depths (norm merge, stacks, blocks)."""
  # Expand stacked groups into the loop they stand for: slice 0 of every
  # module in the group, then slice 1, ... (as a Python-loop model calls them).
  stacks: dict[tuple, list[_Module]] = {}
  for m in modules:
    if m.stack is not None:
      stacks.setdefault(m.stack_root, []).append(m)
  events: list[tuple[_Module, int | None]] = []
  done_stacks = set()
  for m in modules:
    if m.stack is None:
      events.append((m, None))
    elif m.stack_root not in done_stacks:
      done_stacks.add(m.stack_root)
      members = stacks[m.stack_root]
      for s in range(m.stack[0]):
        events.extend((member, s) for member in members)

  def unit_of(m: _Module, s: int | None):
    if group == "layer":
      return (m.path, s)
    key = m.path[:block_level]
    if s is not None and len(m.stack_root) > block_level:
      s = None  # the stack sits inside one block: all slices share its depth
    return (key, s)

  unit_order: list = []
  unit_norm: dict = {}
  for m, s in events:
    u = unit_of(m, s)
    if u not in unit_norm:
      unit_order.append(u)
      unit_norm[u] = m.is_norm
    else:
      unit_norm[u] = unit_norm[u] and m.is_norm
  depth_of_unit = {}
  counter = -1
  for u in unit_order:
    if not (unit_norm[u] and counter >= 0):
      counter += 1
    depth_of_unit[u] = counter

  table: dict[str, DepthValue] = {}
  per_slice: dict[str, dict[int, int]] = {}
  for m, s in events:
    d = depth_of_unit[unit_of(m, s)]
    for leaf in m.leaves:
      if s is None:
        table[leaf] = d
      else:
        per_slice.setdefault(leaf, {})[s] = d
  by_leaf = {leaf: m for m in modules for leaf in m.leaves}
  for leaf, slices in per_slice.items():
    axis = by_leaf[leaf].stack[1]
    table[leaf] = Stacked(tuple(slices[i] for i in sorted(slices)), axis)
  return _dense_ranks(table)


def _check_group(group: str, block_level: int) -> None:
  if group not in ("layer", "block"):
    raise ValueError(f"group must be 'layer' or 'block'; got {group!r}.")
  if not isinstance(block_level, int) or block_level < 1:
    raise ValueError(f"block_level must be an int >= 1; got {block_level!r}.")


def depths_from_model(
    model: Any,
    *sample_args: Any,
    group: str = "layer",
    block_level: int = 1,
    stack_axis: int = 0,
    norm_types: Iterable[type] = (),
    method: str | Callable[..., Any] | None = None,
    rngs: Any = None,
    **sample_kwargs: Any,
) -> Depths:
  """Depths from the order in which the forward pass calls each layer.

  Runs the model's forward pass abstractly (``jax.eval_shape``: no FLOPs, no
  parameter memory) and records the first call of every module. Each module
  that owns parameters gets the next depth in call order, so the result does
  not depend on parameter names (JAX sorts ``Dense_10`` before ``Dense_2`` and
  ``head`` before ``stem``). Further rules:

  * norm layers (BatchNorm, LayerNorm, GroupNorm, RMSNorm, InstanceNorm, plus
    ``norm_types``) join the depth of the layer called just before them;
  * a module called several times keeps the depth of its first call;
  * a stacked leaf (linen ``nn.scan``; NNX layers made with ``nnx.vmap`` and
    run with ``nnx.scan``) gets per-slice depths, exactly those of the same
    model written as a Python loop. The layer axis is found by comparing the
    shapes seen inside and outside the transform; ``stack_axis`` settles ties;
  * parameters of a module that is never called (e.g. read directly by its
    parent) join the nearest called ancestor;
  * ``group='block'`` gives one depth per module at path length
    ``block_level`` (``1``: one per top-level child, e.g. per residual
    block, as the official LeRaC code groups ResNets).

  Args:
    model: an unbound ``flax.linen.Module``, or a ``flax.nnx.Module`` (concrete
      or abstract from ``nnx.eval_shape``).
    *sample_args: example inputs for the forward pass (arrays or
      ``jax.ShapeDtypeStruct``).
    group: ``'layer'`` (default) or ``'block'``.
    block_level: path length that defines a block for ``group='block'``.
    stack_axis: the layer axis to prefer when a stacked leaf's shape leaves it
      ambiguous (e.g. 4 layers stacked onto a ``(4, 4)`` kernel).
    norm_types: extra module classes treated as norm layers.
    method: linen only: the method to call instead of ``__call__`` (name or
      function, as in ``Module.init``).
    rngs: linen only: PRNG key or dict of keys for ``init``; defaults to
      ``{'params': key(0), 'dropout': key(1)}``.
    **sample_kwargs: keyword arguments for the forward pass.

  Returns:
    A :class:`Depths` keyed by canonical parameter path, relative to the
    ``params`` collection (linen) or ``nnx.state(model, nnx.Param)`` (NNX).

  Example:
    >>> import jax.numpy as jnp, flax.linen as nn, lerac_jax
    >>> class MLP(nn.Module):
    ...   @nn.compact
    ...   def __call__(self, x):
    ...     x = nn.Dense(8, name='stem')(x)
    ...     x = nn.LayerNorm(name='norm')(x)
    ...     return nn.Dense(2, name='head')(x)
    >>> d = lerac_jax.depths_from_model(MLP(), jnp.ones((1, 4)))
    >>> d.table
    {'stem/bias': 0, 'stem/kernel': 0, 'norm/bias': 0, 'norm/scale': 0, 'head/bias': 1, 'head/kernel': 1}
  """
  _check_group(group, block_level)
  norm_types = tuple(norm_types)
  try:
    from flax import nnx  # pylint: disable=g-import-not-at-top
    import flax.linen as nn  # pylint: disable=g-import-not-at-top
  except ImportError as e:  # pragma: no cover
    raise ImportError(
        "depths_from_model needs Flax: pip install 'lerac_jax[flax]'."
    ) from e
  if isinstance(model, nnx.Module):
    if method is not None or rngs is not None:
      raise ValueError("method= and rngs= apply to linen modules only.")
    modules = _trace_nnx(model, sample_args, sample_kwargs,
                         _norm_types_nnx() + norm_types, stack_axis)
  elif isinstance(model, nn.Module):
    modules = _trace_linen(model, sample_args, sample_kwargs, method, rngs,
                           _norm_types_linen() + norm_types, stack_axis)
  else:
    raise TypeError(
        "depths_from_model expects a flax.linen.Module or flax.nnx.Module; got"
        f" {type(model).__name__}. For other models use depths_from_rules or"
        " give the depths by hand."
    )
  return _assign(modules, group, block_level)


def _eval_shape(eval_shape, fn, fixed, args, kwargs):
  """``eval_shape(fn)(*fixed, *args, **kwargs)`` with only array leaves traced.

  Arrays and ``jax.ShapeDtypeStruct`` inputs become abstract; Python values
  such as ``train=False`` stay static so that the model can branch on them.
  """
  leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
  is_array = [isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))
              for x in leaves]
  dynamic = [x for x, a in zip(leaves, is_array) if a]

  def call(*fixed_and_dynamic):
    it = iter(fixed_and_dynamic[len(fixed):])
    merged = [next(it) if a else x for x, a in zip(leaves, is_array)]
    a, kw = jax.tree_util.tree_unflatten(treedef, merged)
    return fn(*fixed_and_dynamic[:len(fixed)], *a, **kw)

  return eval_shape(call, *fixed, *dynamic)


def _trace_linen(model, args, kwargs, method, rngs, norm_types, stack_axis):
  import flax.linen as nn  # pylint: disable=g-import-not-at-top

  order: list[tuple[str, ...]] = []
  kinds: dict[tuple, bool] = {}
  inner_shapes: dict[tuple, tuple] = {}  # param path as seen inside the module

  def record_own_params(module):
    if module.scope is None:
      return
    own = module.variables.get("params", {})
    for name, value in own.items():
      if isinstance(value, Mapping):
        continue  # a child module's collection
      shape = getattr(getattr(value, "value", value), "shape", None)
      inner_shapes.setdefault(tuple(module.path) + (name,), shape)

  def interceptor(next_fun, call_args, call_kwargs, context):
    module = context.module
    path = tuple(module.path)
    first = path not in kinds
    if first:
      order.append(path)
      kinds[path] = isinstance(module, norm_types)
    out = next_fun(*call_args, **call_kwargs)
    record_own_params(module)
    return out

  if rngs is None:
    rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}

  def init(*a, **kw):
    return model.init(rngs, *a, method=method, **kw)

  with nn.intercept_methods(interceptor):
    variables = _eval_shape(jax.eval_shape, init, (), args, kwargs)
  params = variables.get("params", {})
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  return _modules_from_leaves(
      [(tuple(_key_str(k) for k in p), leaf) for p, leaf in leaves],
      order, kinds, inner_shapes, stack_axis)


def _modules_from_leaves(leaves, order, kinds, inner_shapes, stack_axis):
  """Groups param leaves by owning module, in first-call order."""
  module_paths = set(order)
  by_module: dict[tuple, _Module] = {}
  stacked: list[tuple[_Module, str, list[int], tuple]] = []
  for raw_path, leaf in leaves:
    if raw_path and raw_path[-1] == "value":
      raw_path = raw_path[:-1]
    owner = _owner(raw_path, module_paths)
    m = by_module.setdefault(owner, _Module(owner, kinds.get(owner, False)))
    name = "/".join(raw_path)
    m.leaves.append(name)
    inner = inner_shapes.get(raw_path)
    outer = tuple(getattr(leaf, "shape", ()))
    if inner is not None and tuple(inner) != outer:
      cands = _stack_axis_candidates(tuple(inner), outer)
      if not cands:
        raise ValueError(
            f"Parameter {name!r} has shape {outer} outside its module but "
            f"{tuple(inner)} inside; only one stacked (scanned) axis is "
            "supported. Use depths_from_rules with lerac_jax.Stacked instead."
        )
      stacked.append((m, name, cands, outer))
  if stacked:
    common = set.intersection(*(set(c) for _, _, c, _ in stacked))
    for m, name, cands, outer in stacked:
      pool = sorted(common) if common else cands
      if stack_axis in pool:
        axis = stack_axis
      elif len(pool) == 1:
        axis = pool[0]
      else:
        raise ValueError(
            f"Cannot tell the layer axis of stacked parameter {name!r} "
            f"(shape {outer}); it could be any of {pool}. Pass stack_axis=."
        )
      length = outer[axis]
      if m.stack is not None and m.stack != (length, axis):
        raise ValueError(f"Inconsistent stacking inside module {m.path}.")
      m.stack = (length, axis)
  # A stack's root is the highest ancestor whose every module is stacked.
  stacked_paths = {m.path for m in by_module.values() if m.stack is not None}
  for m in by_module.values():
    if m.stack is None:
      continue
    root = m.path
    for i in range(len(m.path) - 1, -1, -1):
      prefix = m.path[:i]
      under = [p for p in by_module if p[:i] == prefix]
      if i == 0 or not all(p in stacked_paths for p in under):
        break
      root = prefix
    m.stack_root = root
  position = {p: i for i, p in enumerate(order)}
  return sorted(by_module.values(),
                key=lambda m: position.get(m.path, len(position)))


def _param_shapes(nnx, module) -> dict[tuple, tuple]:
  """Relative path -> shape of every nnx.Param under ``module``."""
  state = nnx.state(module, nnx.Param)
  out = {}
  for p, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
    key = tuple(_key_str(k) for k in p)
    if key and key[-1] == "value":
      key = key[:-1]
    out[key] = tuple(getattr(leaf, "shape", ()))
  return out


def _same_or_stacked(outer: dict, inner: dict) -> bool:
  if set(outer) != set(inner) or not outer:
    return False
  return all(outer[k] == inner[k] or _stack_axis_candidates(inner[k], outer[k])
             for k in outer)


def _trace_nnx(model, args, kwargs, norm_types, stack_axis):
  from flax import nnx  # pylint: disable=g-import-not-at-top

  order: list[tuple] = []
  kinds: dict[tuple, bool] = {}
  inner_shapes: dict[tuple, tuple] = {}
  leaves_out: list = []

  def forward(m, *args, **kwargs):
    id_to_path: dict[int, tuple] = {}
    known: list[tuple[tuple, Any]] = []
    for path, node in nnx.iter_graph(m):
      if isinstance(node, nnx.Module) and id(node) not in id_to_path:
        id_to_path[id(node)] = tuple(str(p) for p in path)
        known.append((id_to_path[id(node)], node))

    def resolve_copy(module):
      """Maps a module copy made by a transform (nnx.scan) to its original.

      Inside ``nnx.scan``/``vmap`` the body sees new module objects holding
      one slice of the stacked parameters. The original is the module of the
      same class whose parameters have the same paths and the same shapes, or
      one extra (layer) axis.
      """
      inner = _param_shapes(nnx, module)
      if not inner:
        return None
      matches = [p for p, k in known if type(k) is type(module)
                 and _same_or_stacked(_param_shapes(nnx, k), inner)]
      unused = [p for p in matches if p not in kinds]
      if len(matches) > 1:
        matches = unused
      if len(matches) != 1:
        raise ValueError(
            f"Cannot tell which {type(module).__name__} module the transformed"
            f" (nnx.scan/vmap) call belongs to; candidates: {matches}. Use "
            "depths_from_rules with lerac_jax.Stacked instead.")
      root = matches[0]
      for sub, node in nnx.iter_graph(module):
        if isinstance(node, nnx.Module):
          id_to_path.setdefault(id(node), root + tuple(str(p) for p in sub))
      for rel, shape in inner.items():
        inner_shapes.setdefault(root + rel, shape)
      return root

    def wrap(original):
      def recorded_call(self, *a, **kw):
        path = id_to_path.get(id(self))
        if path is None:
          path = resolve_copy(self)
        if path is not None and path not in kinds:
          order.append(path)
          kinds[path] = isinstance(self, norm_types)
        return original(self, *a, **kw)
      return recorded_call

    # Patch every class in the MRO that defines __call__: Python looks dunder
    # methods up on the type, so an instance attribute would not be seen.
    originals = {}
    classes = {type(node) for _, node in known}
    for cls in {base for c in classes for base in c.__mro__}:
      if "__call__" in cls.__dict__ and issubclass(cls, nnx.Module):
        originals[cls] = cls.__dict__["__call__"]
        cls.__call__ = wrap(originals[cls])
    try:
      out = m(*args, **kwargs)
    finally:
      for cls, original in originals.items():
        cls.__call__ = original
    state = nnx.state(m, nnx.Param)
    for p, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
      leaves_out.append((tuple(_key_str(k) for k in p), leaf))
    return out

  _eval_shape(nnx.eval_shape, forward, (model,), args, kwargs)
  return _modules_from_leaves(leaves_out, order, kinds, inner_shapes,
                              stack_axis)


# ---------------------------------------------------------------------------
# Rendering.
# ---------------------------------------------------------------------------


def describe(
    depths: Any,
    params: PyTree | None = None,
    *,
    curriculum_steps: Any = 1000,
    **kwargs: Any,
) -> str:
  """A table of path, depth, initial ratio and ratio at ``k/2``.

  Check it before training: it shows which layer got which depth and which
  initial learning-rate ratio (multiply by the base learning rate for the
  rate itself).

  Args:
    depths: anything :func:`as_depths` accepts.
    params: needed only when ``depths`` is a callable.
    curriculum_steps: ``k``; matters only for the staircase schedule.
    **kwargs: the other keyword arguments of :func:`lerac_jax.scale_by_lerac`
      (``min_scale``, ``schedule``, ``initial_ratios``, ...).

  Returns:
    The table as a string, one row per parameter (per slice for stacked
    parameters), ordered by depth.

  Example:
    >>> import lerac_jax
    >>> print(lerac_jax.describe({'stem': 0, 'head': 1}, min_scale=1e-4))
    path  depth  r_j(0)    r_j(k/2)
    stem      0  1         1
    head      1  0.0001    0.01
    2 depths, 2 entries; schedule 'exponential', k = 1000 steps.
  """
  resolved = as_depths(depths, params)
  curve = schedules.make_curve(
      resolved.num_depths, curriculum_steps=curriculum_steps, **kwargs)
  start = np.asarray(curve(0))
  half_step = np.floor(np.asarray(curriculum_steps, np.float64) / 2)
  half = np.asarray(curve(half_step))
  rows = []
  for path, value in resolved.table.items():
    if isinstance(value, Stacked):
      for i, d in enumerate(value.depths):
        rows.append((d, f"{path}[{i} on axis {value.axis}]"))
    else:
      rows.append((value, path or "<all>"))
  rows.sort(key=lambda r: r[0])
  header = ("path", "depth", "r_j(0)", "r_j(k/2)")
  body = [(p, str(d), f"{start[d]:.3g}", f"{half[d]:.3g}") for d, p in rows]
  width = [max(len(r[i]) for r in [header] + body) for i in range(4)]
  def fmt(r):
    return (f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]:<{width[2]}}"
            f"    {r[3]}").rstrip()
  lines = [fmt(header)] + [fmt(r) for r in body]
  schedule = kwargs.get("schedule", "exponential")
  lines.append(
      f"{resolved.num_depths} depths, {len(resolved.table)} entries; "
      f"schedule {schedule!r}, k = {curriculum_steps} steps.")
  return "\n".join(lines)
