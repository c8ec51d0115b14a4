# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
r"""Per-depth multiplier families beyond LeRaC, all on the same engine.

* :func:`scale_by_layer_decay`: layer-wise learning-rate decay for
  fine-tuning (ELECTRA, BEiT, timm's ``param_groups_layer_decay``),
  :math:`m_d = \gamma^{D - 1 - d}`;
* :func:`scale_by_unfreezing`: ULMFiT's gradual unfreezing, the deepest
  depth first, one more depth every ``steps_per_depth`` steps.

Each is a rule (:class:`LayerDecay`, :class:`Unfreezing`) with a
``curve(num_depths)``, given to :func:`lerac_jax.scale_by_depth`; so each
has the engine's state, sharding, stacked leaves and logging.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lerac_jax import engine
from lerac_jax import validation


def _warn_single_depth(num_depths: int, name: str) -> None:
  if num_depths == 1:
    warnings.warn(
        f"{name} got a single depth: its multiplier is the same for every "
        "parameter, so it does nothing per depth. Give the layers different "
        "depths (e.g. lerac_jax.depths_from_model(..., group='block')).",
        UserWarning, stacklevel=4)


@dataclasses.dataclass(frozen=True)
class LayerDecay:
  r"""Layer-wise learning-rate decay: :math:`m_d = \gamma^{D - 1 - d}`.

  The deepest depth (the head) trains at the full rate, each depth below it
  at :math:`\gamma` times the rate of the one above.

  Attributes:
    decay: :math:`\gamma`, in (0, 1]; a traced value (under
      ``optax.inject_hyperparams``) is used as given, and a NaN or
      out-of-range one switches the decay off (every multiplier 1).

  Example:
    >>> import lerac_jax
    >>> lerac_jax.LayerDecay(0.5).curve(3)(0)
    Array([0.25, 0.5 , 1.  ], dtype=float32)
  """

  decay: Any

  def __post_init__(self):
    validation.check_fraction(self.decay, "decay")

  def check_num_depths(self, num_depths: int) -> None:
    _warn_single_depth(num_depths, "scale_by_layer_decay")

  def curve(self, num_depths: int) -> engine.Curve:
    """The (constant) function from the step count to the multipliers."""
    exponents = np.arange(num_depths - 1, -1, -1, dtype=np.float64)
    decay = validation.concrete_or_none(self.decay)
    if decay is not None:  # float64 on the host, rounded once
      vector = jnp.asarray(decay**exponents, jnp.float32)
      return lambda count: vector
    g = jnp.asarray(self.decay, jnp.float32)
    valid = (g > 0) & (g <= 1)  # False for NaN too
    vector = jnp.where(valid, g ** exponents.astype(np.float32), 1.0)
    return lambda count: vector


@dataclasses.dataclass(frozen=True)
class Unfreezing:
  r"""Gradual unfreezing: depth :math:`d` trains from step :math:`(D-1-d)\,s`.

  .. math::
    m_d(t) = \begin{cases} 1 & t \ge (D - 1 - d)\, s \\
                           0 & \text{otherwise} \end{cases}

  with :math:`s` = ``steps_per_depth``: the deepest depth trains from the
  start, the next one down after :math:`s` steps, and so on; every depth
  trains from step :math:`(D - 1)\, s` on.

  Attributes:
    steps_per_depth: :math:`s`, optimizer steps between two releases; finite
      and > 0. A traced value that is not is taken as 0: nothing frozen.

  Example:
    >>> import lerac_jax
    >>> curve = lerac_jax.Unfreezing(steps_per_depth=10).curve(3)
    >>> [curve(t).tolist() for t in (0, 10, 20)]
    [[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
  """

  steps_per_depth: Any

  def __post_init__(self):
    validation.check_positive_steps(self.steps_per_depth, "steps_per_depth")

  def check_num_depths(self, num_depths: int) -> None:
    _warn_single_depth(num_depths, "scale_by_unfreezing")

  def curve(self, num_depths: int) -> engine.Curve:
    """The function from the step count to the 0/1 multipliers."""
    rank_from_top = np.arange(num_depths - 1, -1, -1, dtype=np.float32)
    s = jnp.asarray(self.steps_per_depth, jnp.float32)
    s = jnp.where(jnp.isfinite(s) & (s > 0), s, 0.0)
    release = rank_from_top * s  # the step from which depth d trains

    def curve(count):
      return (jnp.asarray(count, jnp.float32) >= release).astype(jnp.float32)

    return curve


def scale_by_layer_decay(
    depths: Any,
    decay: Any,
    *,
    layer_axis_name: str | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Layer-wise learning-rate decay, as for fine-tuning BEiT or ELECTRA.

  Depth :math:`d` of :math:`D` gets the multiplier

  .. math::
    m_d = \gamma^{\,D - 1 - d},

  so the deepest depth (the head) trains at the full rate and the input
  layers at the lowest, :math:`\gamma^{D-1}`. It is
  :func:`lerac_jax.scale_by_depth` with :class:`LayerDecay`: put it after the
  optimizer. Which parameters share a depth decides the result; with
  ``lerac_jax.depths_from_model(model, x, group='block')`` a ViT gets the
  embeddings (patch, class token, position) at depth 0, block ``i`` at
  ``i + 1``, the final norm with the last block and the head alone at the
  top: timm's ``param_groups_layer_decay`` grouping (see the per-depth docs
  for BEiT's and ELECTRA's).

  Args:
    depths: which depth each parameter has; see
      :func:`lerac_jax.scale_by_depth`.
    decay: :math:`\gamma`, in (0, 1] (0.65 to 0.9 is usual for ViT
      fine-tuning).
    layer_axis_name: see :func:`lerac_jax.scale_by_depth`.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` whose state is a
    :class:`lerac_jax.DepthScaleState`.

  Raises:
    ValueError: for a concrete ``decay`` outside (0, 1], and as
      :func:`lerac_jax.scale_by_depth`.

  Example:
    >>> import jax.numpy as jnp, optax, lerac_jax
    >>> params = {'embed': jnp.ones(2), 'block': jnp.ones(2),
    ...           'head': jnp.ones(2)}
    >>> tx = optax.chain(optax.sgd(1.0), lerac_jax.scale_by_layer_decay(
    ...     {'embed': 0, 'block': 1, 'head': 2}, decay=0.5))
    >>> updates, _ = tx.update(params, tx.init(params))
    >>> {k: float(v[0]) for k, v in updates.items()}
    {'block': -0.5, 'embed': -0.25, 'head': -1.0}

  References:
    Clark et al, `ELECTRA <https://arxiv.org/abs/2003.10555>`_, ICLR 2020;
    Bao et al, `BEiT <https://arxiv.org/abs/2106.08254>`_, ICLR 2022.
  """
  return engine.scale_by_depth(depths, LayerDecay(decay),
                               layer_axis_name=layer_axis_name)


def scale_by_unfreezing(
    depths: Any,
    steps_per_depth: Any,
    *,
    layer_axis_name: str | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""Gradual unfreezing (ULMFiT): the deepest depth first, then downwards.

  Depth :math:`d` of :math:`D` trains from step :math:`(D - 1 - d)\,s` on
  (:class:`Unfreezing`); before, its multiplier is exactly 0. Put it
  **last** in the chain, after weight decay (``optax.adamw``, or
  ``add_decayed_weights``): it multiplies the final update, so a frozen
  parameter does not change at all, weight decay included; no optimizer is
  rebuilt, so nothing is reset and one ``jit`` serves every phase.

  Unlike PyTorch's ``requires_grad=False``, the optimizer still sees the
  frozen depths' gradients: Adam's moments (and SGD's momentum) accumulate
  while the depth is frozen, and its first update after the release uses
  them. To keep them at zero, put a second ``scale_by_unfreezing`` with the
  same settings **before** the optimizer, so that the frozen gradients are
  zero too::

      optax.chain(scale_by_unfreezing(depths, s), optax.adamw(lr),
                  scale_by_unfreezing(depths, s))

  Adam's bias correction still counts from step 0, not from the release, as
  ``optax.adam`` does for every parameter.

  Args:
    depths: which depth each parameter has; see
      :func:`lerac_jax.scale_by_depth`.
    steps_per_depth: :math:`s`, optimizer steps between two releases; finite
      and > 0.
    layer_axis_name: see :func:`lerac_jax.scale_by_depth`.

  Returns:
    A :class:`optax.GradientTransformationExtraArgs` whose state is a
    :class:`lerac_jax.DepthScaleState`.

  Raises:
    ValueError: for a concrete ``steps_per_depth`` that is not finite and
      > 0, and as :func:`lerac_jax.scale_by_depth`.

  Example:
    >>> import jax.numpy as jnp, optax, lerac_jax
    >>> params = {'embed': jnp.ones(2), 'head': jnp.ones(2)}
    >>> tx = optax.chain(optax.sgd(1.0), lerac_jax.scale_by_unfreezing(
    ...     {'embed': 0, 'head': 1}, steps_per_depth=1))
    >>> state = tx.init(params)
    >>> updates, state = tx.update(params, state)  # step 0: the head only
    >>> float(updates['embed'][0]), float(updates['head'][0])
    (-0.0, -1.0)
    >>> updates, state = tx.update(params, state)  # step 1: both
    >>> float(updates['embed'][0])
    -1.0

  References:
    Howard and Ruder, `Universal Language Model Fine-tuning for Text
    Classification <https://arxiv.org/abs/1801.06146>`_, ACL 2018.
  """
  return engine.scale_by_depth(depths, Unfreezing(steps_per_depth),
                               layer_axis_name=layer_axis_name)
