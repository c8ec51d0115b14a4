# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Per-depth multiplier curves and initial ratios for LeRaC.

A LeRaC curve maps the optimizer step count ``t`` to one multiplier per depth,
``m_j(t)``, with ``m_j(0) = r_j`` and ``m_j(t) = 1`` for every ``t >= k``. The
learning rate that depth ``j`` sees is ``eta0 * m_j(t)``.

Every curve here is a pure, jit-safe function of the (possibly traced) count
and returns a float32 vector of shape ``(num_depths,)``. Hyperparameters may be
Python numbers or traced scalars (as under :func:`optax.inject_hyperparams`);
they are validated only when they are concrete.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Union

import jax
import jax.numpy as jnp
import numpy as np

from lerac_jax import validation

Array = jax.Array
ArrayLike = Union[jax.Array, np.ndarray, float, int]
Curve = Callable[[ArrayLike], Array]
"""A function from the step count to a ``(num_depths,)`` float32 vector."""

SCHEDULES = ("exponential", "linear", "log", "cosine", "staircase")
INITIAL_RATIOS = ("geometric", "decay")
TINY = validation.TINY
"""float32's smallest normal: the lowest ratio a float32 multiplier can hold."""

concrete_or_none = validation.concrete_or_none


def check_curriculum_steps(curriculum_steps: ArrayLike) -> None:
  validation.check_positive_steps(curriculum_steps, "curriculum_steps", "k")


def check_min_scale(min_scale: ArrayLike, name: str = "min_scale") -> None:
  if name == "min_scale":
    validation.check_min_scale(min_scale)
  else:
    validation.check_fraction(min_scale, name)


def _check_num_depths(num_depths: int) -> None:
  if not isinstance(num_depths, (int, np.integer)) or num_depths < 1:
    raise ValueError(f"num_depths must be a positive int; got {num_depths!r}.")


# ---------------------------------------------------------------------------
# Initial ratios r_j = eta_j(0) / eta0.
# ---------------------------------------------------------------------------


def geometric_ratios(num_depths: int, min_scale: ArrayLike = 1e-6) -> Array:
  r"""Log-uniform initial ratios from 1 at the input to ``min_scale``.

  .. math::
    r_j = s^{j / (n - 1)}, \qquad j = 0, \dots, n - 1,

  so ``r_0 = 1`` (the paper's :math:`\eta_1^{(0)} = \eta^{(0)}`) and
  ``r_{n-1} = s``. With a single depth, ``r_0 = 1``.

  Args:
    num_depths: number of depths ``n``.
    min_scale: ratio ``s`` of the deepest layer, in (0, 1].

  Returns:
    A float32 array of shape ``(num_depths,)``, non-increasing.

  Example:
    >>> import lerac_jax
    >>> lerac_jax.schedules.geometric_ratios(3, 1e-4)
    Array([1.e+00, 1.e-02, 1.e-04], dtype=float32)
  """
  _check_num_depths(num_depths)
  check_min_scale(min_scale)
  if num_depths == 1:
    return jnp.ones((1,), jnp.float32)
  frac = np.arange(num_depths) / (num_depths - 1)
  s = concrete_or_none(min_scale)
  if s is not None:  # float64 on the host: r_{n-1} is exactly min_scale
    return jnp.asarray(s**frac, jnp.float32)
  return jnp.power(jnp.asarray(min_scale, jnp.float32), frac.astype(np.float32))


def decay_ratios(
    num_depths: int, decay_factor: ArrayLike = 0.1, min_scale: ArrayLike = 1e-6
) -> Array:
  r"""Per-depth decay with a floor, as in the official LeRaC code.

  .. math::
    r_j = \max(s, \; f^{\,j}),

  with decay factor ``f`` (0.1 in the official code, one decade per residual
  block) and floor ``s = min_scale``.

  Args:
    num_depths: number of depths ``n``.
    decay_factor: factor ``f`` in (0, 1].
    min_scale: floor ``s`` in (0, 1].

  Returns:
    A float32 array of shape ``(num_depths,)``, non-increasing.

  Example:
    >>> import lerac_jax
    >>> lerac_jax.schedules.decay_ratios(4, 0.1, min_scale=1e-2)
    Array([1.  , 0.1 , 0.01, 0.01], dtype=float32)
  """
  _check_num_depths(num_depths)
  check_min_scale(min_scale)
  check_min_scale(decay_factor, "decay_factor")
  j = np.arange(num_depths)
  f, s = concrete_or_none(decay_factor), concrete_or_none(min_scale)
  if f is not None and s is not None:  # float64 on the host, then rounded
    return jnp.asarray(np.maximum(s, f**j), jnp.float32)
  traced_f = jnp.asarray(decay_factor, jnp.float32)
  return jnp.maximum(jnp.asarray(min_scale, jnp.float32), traced_f ** j)


def check_ratio_sequence(values: np.ndarray) -> None:
  """Checks that 1-D initial ratios are in ``[TINY, 1]`` and non-increasing.

  ``TINY`` is float32's smallest normal: a smaller ratio is flushed to 0 and
  freezes its layer for all of ``k``.

  Args:
    values: the ratios, input first, as a 1-D float array.

  Raises:
    ValueError: naming the entries out of range, or the first rise.
  """
  bad = [i for i, r in enumerate(values)
         if not (TINY <= r <= 1.0 and math.isfinite(r))]
  if bad:
    raise ValueError(
        f"initial_ratios must lie in [{TINY:.4g}, 1] (float32's smallest "
        f"normal is the floor: a smaller ratio is flushed to 0 and freezes its "
        f"layer); entries {bad} are {values[bad].tolist()}.")
  rises = [i for i in range(1, len(values)) if values[i] > values[i - 1]]
  if rises:
    i = rises[0]
    raise ValueError(
        "initial_ratios must be non-increasing with depth (deeper layers "
        f"start no faster, the paper's Eq. 6); ratio {values[i]:g} at depth "
        f"{i} is larger than {values[i - 1]:g} at depth {i - 1}.")


def explicit_ratios(ratios: Sequence[float], num_depths: int) -> Array:
  """Validates a user-given sequence of initial ratios.

  Args:
    ratios: one ratio per depth, input first; each in ``[TINY, 1]`` and
      non-increasing with depth (the paper's Eq. 6).
    num_depths: the number of depths the sequence must cover.

  Returns:
    The ratios as a float32 array of shape ``(num_depths,)``.

  Raises:
    ValueError: if the length, range or order is wrong.

  Example:
    >>> import lerac_jax
    >>> lerac_jax.schedules.explicit_ratios([1.0, 1e-2, 1e-4], 3)
    Array([1.e+00, 1.e-02, 1.e-04], dtype=float32)
  """
  values = np.asarray(ratios, dtype=np.float64)
  if values.ndim != 1 or len(values) != num_depths:
    raise ValueError(
        f"initial_ratios has {values.size} entries but the depths object has "
        f"{num_depths} depths; give exactly one ratio per depth."
    )
  check_ratio_sequence(values)
  return jnp.asarray(values, jnp.float32)


def make_ratios(
    num_depths: int,
    kind: str | Sequence[float] = "geometric",
    *,
    min_scale: ArrayLike = 1e-6,
    decay_factor: ArrayLike = 0.1,
) -> Array:
  """Initial ratios ``r_j`` by name (``'geometric'``, ``'decay'``) or explicit.

  Args:
    num_depths: number of depths.
    kind: ``'geometric'`` (:func:`geometric_ratios`), ``'decay'``
      (:func:`decay_ratios`), or a sequence of explicit ratios.
    min_scale: lowest ratio (geometric end point, or decay floor).
    decay_factor: the per-depth factor for ``'decay'``.

  Returns:
    A float32 array of shape ``(num_depths,)``.

  Example:
    >>> import lerac_jax
    >>> lerac_jax.schedules.make_ratios(2, 'geometric', min_scale=1e-8)
    Array([1.e+00, 1.e-08], dtype=float32)
  """
  if isinstance(kind, str):
    if kind == "geometric":
      return geometric_ratios(num_depths, min_scale)
    if kind == "decay":
      return decay_ratios(num_depths, decay_factor, min_scale)
    raise ValueError(
        f"Unknown initial_ratios {kind!r}; valid names are "
        f"{', '.join(map(repr, INITIAL_RATIOS))}, or pass a sequence of ratios."
    )
  return explicit_ratios(kind, num_depths)


# ---------------------------------------------------------------------------
# Curves m_j(t).
# ---------------------------------------------------------------------------


def _progress(count: ArrayLike, curriculum_steps: ArrayLike) -> Array:
  """p = clip(t / k, 0, 1) in float32."""
  t = jnp.asarray(count, jnp.float32)
  k = jnp.asarray(curriculum_steps, jnp.float32)
  return jnp.clip(t / k, 0.0, 1.0)


def _done(count: ArrayLike, curriculum_steps: ArrayLike) -> Array:
  # Exactly 1 from step k on, whatever rounding the curve's formula has.
  return jnp.asarray(count, jnp.float32) >= jnp.asarray(
      curriculum_steps, jnp.float32
  )


def _finish(m: Array, count: ArrayLike, curriculum_steps: ArrayLike) -> Array:
  return jnp.where(_done(count, curriculum_steps), 1.0, m).astype(jnp.float32)


def _interpolate(
    ratios: ArrayLike,
    curriculum_steps: ArrayLike,
    shape: Callable[[Array], Array],
) -> Curve:
  """m_j(t) = r_j + (1 - r_j) * shape(p), for a shape rising from 0 to 1."""
  check_curriculum_steps(curriculum_steps)
  r = jnp.asarray(ratios, jnp.float32)

  def curve(count):
    p = _progress(count, curriculum_steps)
    return _finish(r + (1.0 - r) * shape(p), count, curriculum_steps)

  return curve


def exponential(ratios: ArrayLike, curriculum_steps: ArrayLike) -> Curve:
  r"""The paper's exponential scheduler (Eq. 8), the default.

  .. math::
    m_j(t) = r_j^{\,1 - \min(t/k,\, 1)}

  This is Eq. 8, :math:`\eta_j^{(t)} = \eta_j^{(0)} c^{(t/k)(\log_c \eta^{(0)}
  - \log_c \eta_j^{(0)})}`, divided by :math:`\eta^{(0)}`: the base ``c``
  cancels. The rate rises geometrically, so it is slow at first in linear terms.

  Args:
    ratios: initial ratios ``r_j``, shape ``(num_depths,)``.
    curriculum_steps: ``k``, the optimizer step at which every ``m_j`` is 1.

  Returns:
    A function from the step count to the ``(num_depths,)`` multipliers.

  Example:
    >>> import lerac_jax
    >>> curve = lerac_jax.schedules.exponential([1e-8], curriculum_steps=100)
    >>> [f'{float(curve(t)[0]):.3g}' for t in (0, 50, 100, 150)]
    ['1e-08', '0.0001', '1', '1']

  References:
    Croitoru et al, `Learning Rate Curriculum
    <https://arxiv.org/abs/2205.09180>`_, IJCV 2024, Eq. 8.
  """
  check_curriculum_steps(curriculum_steps)
  r = jnp.asarray(ratios, jnp.float32)

  def curve(count):
    p = _progress(count, curriculum_steps)
    return _finish(jnp.power(r, 1.0 - p), count, curriculum_steps)

  return curve


def linear(ratios: ArrayLike, curriculum_steps: ArrayLike) -> Curve:
  r"""Linear interpolation from ``r_j`` to 1 (the paper's Table 5 ablation).

  .. math::
    m_j(t) = r_j + (1 - r_j)\,\min(t/k,\, 1)

  Args:
    ratios: initial ratios ``r_j``, shape ``(num_depths,)``.
    curriculum_steps: ``k``.

  Returns:
    A function from the step count to the ``(num_depths,)`` multipliers.

  Example:
    >>> import lerac_jax
    >>> curve = lerac_jax.schedules.linear([0.0], curriculum_steps=100)
    >>> [round(float(curve(t)[0]), 4) for t in (0, 50, 100)]
    [0.0, 0.5, 1.0]
  """
  return _interpolate(ratios, curriculum_steps, lambda p: p)


def log(ratios: ArrayLike, curriculum_steps: ArrayLike) -> Curve:
  r"""Logarithmic (concave) rise: fast early, flat near ``k``.

  .. math::
    m_j(t) = r_j + (1 - r_j)\,\ln\!\bigl(1 + (e - 1)\min(t/k,\, 1)\bigr)

  The natural log of ``1 + (e - 1) p`` goes from 0 at ``p = 0`` to 1 at
  ``p = 1`` and is concave, so the multiplier covers about 62% of the way to 1
  by mid-curriculum (linear: 50%; exponential: a factor of
  :math:`\sqrt{r_j}`).

  Args:
    ratios: initial ratios ``r_j``, shape ``(num_depths,)``.
    curriculum_steps: ``k``.

  Returns:
    A function from the step count to the ``(num_depths,)`` multipliers.

  Example:
    >>> import lerac_jax
    >>> curve = lerac_jax.schedules.log([0.0], curriculum_steps=100)
    >>> [round(float(curve(t)[0]), 3) for t in (0, 50, 100)]
    [0.0, 0.62, 1.0]
  """
  return _interpolate(ratios, curriculum_steps,
                     lambda p: jnp.log1p((math.e - 1.0) * p))


def cosine(ratios: ArrayLike, curriculum_steps: ArrayLike) -> Curve:
  r"""Half-cosine rise from ``r_j`` to 1: slow at both ends.

  .. math::
    m_j(t) = r_j + (1 - r_j)\,\tfrac{1}{2}\bigl(1 - \cos(\pi \min(t/k,\, 1))\bigr)

  Args:
    ratios: initial ratios ``r_j``, shape ``(num_depths,)``.
    curriculum_steps: ``k``.

  Returns:
    A function from the step count to the ``(num_depths,)`` multipliers.

  Example:
    >>> import lerac_jax
    >>> curve = lerac_jax.schedules.cosine([0.0], curriculum_steps=100)
    >>> [round(float(curve(t)[0]), 3) for t in (0, 50, 100)]
    [0.0, 0.5, 1.0]
  """
  return _interpolate(ratios, curriculum_steps,
                     lambda p: 0.5 * (1.0 - jnp.cos(jnp.pi * p)))


def staircase(
    ratios: ArrayLike,
    curriculum_steps: ArrayLike,
    *,
    steps_per_event: ArrayLike | None = None,
    factor: ArrayLike = 10.0,
) -> Curve:
  r"""The official code's rule: multiply by ``c`` at each update event, capped.

  .. math::
    m_j(t) = \min\bigl(1,\; r_j\, c^{\lfloor t / \Delta \rfloor}\bigr)
    \quad (t < k), \qquad m_j(t) = 1 \quad (t \ge k)

  Each depth reaches 1 at its own time: shallow layers early, the deepest one
  after :math:`\lceil \log_c(1/\min_j r_j) \rceil` events. When
  ``steps_per_event`` (:math:`\Delta`) is None it is set to ``k`` divided by
  that number of events, so the deepest layer reaches 1 exactly at ``k``, which
  is how the paper's Table 1 counts ``k`` for the official code. With the
  official code's one event per epoch, pass ``steps_per_event=steps_per_epoch``.

  Args:
    ratios: initial ratios ``r_j``, shape ``(num_depths,)``.
    curriculum_steps: ``k``; every multiplier is 1 from step ``k`` on.
    steps_per_event: optimizer steps between two x``c`` events.
    factor: ``c``, the growth per event (10 in the official code); > 1.

  Returns:
    A function from the step count to the ``(num_depths,)`` multipliers.

  Example:
    >>> import lerac_jax
    >>> curve = lerac_jax.schedules.staircase([1.0, 1e-1, 1e-3], 30)
    >>> curve(0)
    Array([1.   , 0.1  , 0.001], dtype=float32)
    >>> curve(10)  # one event: x10, the middle layer is done
    Array([1.  , 1.  , 0.01], dtype=float32)
    >>> curve(30)
    Array([1., 1., 1.], dtype=float32)

  References:
    Croitoru et al, `Learning Rate Curriculum
    <https://arxiv.org/abs/2205.09180>`_, IJCV 2024; official code
    ``train/resnet_train.py:update_lr``.
  """
  check_curriculum_steps(curriculum_steps)
  validation.check_growth_factor(factor)
  if steps_per_event is not None:
    validation.check_positive_steps(steps_per_event, "steps_per_event")
  r = jnp.asarray(ratios, jnp.float32)
  c = jnp.asarray(factor, jnp.float32)
  log_r, log_c = jnp.log(r), jnp.log(c)
  k = jnp.asarray(curriculum_steps, jnp.float32)
  if steps_per_event is None:
    # Events the deepest layer needs; the small slack absorbs float error in
    # log(1e-6)/log(10) = 5.9999995.
    num_events = jnp.maximum(jnp.ceil(-jnp.min(log_r) / log_c - 1e-4), 1.0)
    delta = k / num_events
  else:
    delta = jnp.asarray(steps_per_event, jnp.float32)

  def curve(count):
    t = jnp.minimum(jnp.asarray(count, jnp.float32), k)
    # The 1e-6 keeps t = n * delta on the new step despite rounding in t/delta.
    events = jnp.floor(t / delta + 1e-6)
    m = jnp.minimum(r * jnp.power(c, events), 1.0)
    return _finish(m, count, curriculum_steps)

  return curve


CURVES = {
    "exponential": exponential,
    "linear": linear,
    "log": log,
    "cosine": cosine,
}
"""The non-staircase curves by name: ``(ratios, curriculum_steps) -> Curve``."""
