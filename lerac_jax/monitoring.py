# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
r"""Per-depth monitoring: update and parameter norms, their ratio, the rate.

:func:`depth_stats` is cheap inside ``jit``: one sum of squares per leaf (per
slice for a stacked leaf) and one scatter-add into ``num_depths`` bins.
:func:`format_depth_stats` prints the rows, labelled with the modules that
:func:`lerac_jax.describe` lists at each depth.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lerac_jax import depths as depth_lib
# The module names describe prints at each depth, for the row labels.
from lerac_jax.depths.describe import _modules_by_depth  # pylint: disable=g-importing-member


class DepthStats(NamedTuple):
  """Per-depth statistics, each a float32 array of shape ``(num_depths,)``.

  Attributes:
    update_norm: :math:`\\|u_d\\|_2` over every parameter of depth ``d``.
    param_norm: :math:`\\|\\theta_d\\|_2`, likewise.
    update_ratio: ``update_norm / param_norm`` (inf where the norm is 0).
    learning_rate: the effective learning rate ``learning_rate * scales``,
      NaN where not given.
  """

  update_norm: jax.Array
  param_norm: jax.Array
  update_ratio: jax.Array
  learning_rate: jax.Array


def _per_depth_squares(tree: Any, values: list, num_depths: int) -> jax.Array:
  """The sum of squares of ``tree``'s leaves, binned by depth."""
  sums: list[jax.Array] = []
  bins: list[int] = []  # the depth of each entry of sums
  leaves = jax.tree_util.tree_leaves(tree, is_leaf=depth_lib.is_masked_node)
  for leaf, value in zip(leaves, values):
    if value is None or depth_lib.is_masked_node(leaf):
      continue
    if not jnp.issubdtype(leaf.dtype, jnp.inexact):
      continue  # a step counter: not a weight
    squares = jnp.square(jnp.abs(leaf).astype(jnp.float32))
    if isinstance(value, depth_lib.Stacked):
      axes = tuple(i for i in range(leaf.ndim) if i != value.axis % leaf.ndim)
      sums.append(jnp.sum(squares, axis=axes))
      bins.extend(value.depths)
    else:
      sums.append(jnp.sum(squares)[None])
      bins.append(value)
  if not sums:
    return jnp.zeros((num_depths,), jnp.float32)
  return jnp.zeros((num_depths,), jnp.float32).at[np.asarray(bins)].add(
      jnp.concatenate(sums))


def depth_stats(
    depths: Any,
    updates: Any,
    params: Any,
    *,
    learning_rate: Any = None,
    scales: Any = None,
) -> DepthStats:
  r"""Per depth: the update norm, the parameter norm, their ratio, the rate.

  .. math::
    \|u_d\| = \Bigl(\sum_{j \in d} \|u_j\|_2^2\Bigr)^{1/2}, \qquad
    \rho_d = \|u_d\| / \|\theta_d\|, \qquad \eta_d = \eta\, m_d,

  where :math:`j` runs over the parameters (the slices of a stacked leaf) of
  depth :math:`d`. Jit-safe and cheap: nothing per parameter is kept.

  Args:
    depths: which depth each parameter has (anything
      :func:`lerac_jax.scale_by_depth` takes).
    updates: the updates the optimizer returned (what
      :func:`optax.apply_updates` adds).
    params: the parameters (before or after the update).
    learning_rate: the base learning rate :math:`\eta` of this step, e.g.
      the schedule's value; None gives NaN rates.
    scales: the per-depth multipliers :math:`m` this update used (read them
      with :func:`lerac_jax.current_scales` before the update; the product
      over the engines of a chain); default 1.

  Returns:
    A :class:`DepthStats`.

  Example:
    >>> import jax.numpy as jnp, lerac_jax
    >>> stats = lerac_jax.depth_stats(
    ...     {'stem': 0, 'head': 1},
    ...     updates={'stem': jnp.array([3., 4.]), 'head': jnp.array([1.])},
    ...     params={'stem': jnp.array([0., 10.]), 'head': jnp.array([2.])},
    ...     learning_rate=0.1, scales=jnp.array([0.5, 1.]))
    >>> stats.update_norm.tolist(), stats.update_ratio.tolist()
    ([5.0, 1.0], [0.5, 0.5])
    >>> stats.learning_rate.tolist()
    [0.05000000074505806, 0.10000000149011612]
  """
  resolved = depth_lib.as_depths(depths, params)
  num_depths = resolved.num_depths
  values = depth_lib.match(resolved, params)
  update_norm = jnp.sqrt(_per_depth_squares(updates, values, num_depths))
  param_norm = jnp.sqrt(_per_depth_squares(params, values, num_depths))
  if learning_rate is None:
    rate = jnp.full((num_depths,), jnp.nan, jnp.float32)
  else:
    m = jnp.ones((num_depths,), jnp.float32) if scales is None else scales
    rate = jnp.asarray(learning_rate, jnp.float32) * jnp.asarray(
        m, jnp.float32)
  return DepthStats(update_norm=update_norm, param_norm=param_norm,
                    update_ratio=update_norm / param_norm,
                    learning_rate=rate)


def format_depth_stats(stats: DepthStats, depths: Any,
                       params: Any = None) -> str:
  """The statistics as a table, one row per depth, labelled by modules.

  Args:
    stats: from :func:`depth_stats` (concrete: outside ``jit``).
    depths: the same depths.
    params: the parameters; needed when ``depths`` is a callable.

  Returns:
    The table as a string, with the module names :func:`lerac_jax.describe`
    prints.

  Example:
    >>> import jax.numpy as jnp, lerac_jax
    >>> depths = {'stem': {'kernel': 0}, 'head': {'kernel': 1}}
    >>> params = {'stem': {'kernel': jnp.ones(4)},
    ...           'head': {'kernel': jnp.ones(1)}}
    >>> stats = lerac_jax.depth_stats(depths, params, params,
    ...                               learning_rate=0.1)
    >>> print(lerac_jax.format_depth_stats(stats, depths))
    depth  update_norm  param_norm  ratio  learning_rate  modules
        0  2            2           1      0.1            stem
        1  1            1           1      0.1            head
  """
  resolved = depth_lib.as_depths(depths, params)
  modules = _modules_by_depth(resolved)
  header = ("depth", "update_norm", "param_norm", "ratio", "learning_rate",
            "modules")
  columns = [np.asarray(c) for c in (stats.update_norm, stats.param_norm,
                                     stats.update_ratio, stats.learning_rate)]
  rows = [(str(d), *(f"{c[d]:.4g}" for c in columns),
           ", ".join(modules.get(d, []))) for d in range(resolved.num_depths)]
  widths = [max(len(r[i]) for r in [header] + rows) for i in range(5)]

  def line(r):
    cells = [r[0].rjust(widths[0])] + [
        r[i].ljust(widths[i]) for i in range(1, 5)] + [r[5]]
    return "  ".join(cells).rstrip()

  return "\n".join(line(r) for r in [header] + rows)
