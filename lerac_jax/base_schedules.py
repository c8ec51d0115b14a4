# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
r"""How a base learning-rate schedule and the LeRaC curriculum fit together.

LeRaC multiplies each depth's update by ``m_j(t)``; the base optimizer's own
learning rate ``eta(t)`` may be a schedule too. Depth ``j`` then learns at

.. math::
  \eta_j(t) = \eta(t)\, m_j(t).

Both schedules count optimizer steps: the base optimizer's count and
:class:`lerac_jax.LeracState`'s count advance together (and pause together
under ``optax.MultiSteps`` micro-steps or a step rejected by
``optax.apply_if_finite``). There are two ways to combine them:

1. **Base schedule after the curriculum** (the paper's CvT setting): the base
   rate stays at its peak ``eta0`` during the first ``k`` steps, where the
   curriculum does the warming up, and the base schedule (e.g. warm-up plus
   cosine) starts at step ``k`` from its own step 0. Use
   :func:`schedule_after_curriculum` or :func:`warmup_cosine_after_curriculum`.
2. **Base schedule from step 0, alongside the curriculum** (the official
   ResNet code: step decay at absolute epochs): pass the schedule to the base
   optimizer as usual, ``lerac(optax.sgd(schedule), depths, ...)``. Avoid a
   base warm-up here: it would shrink the already small early rates again.

:func:`depth_learning_rates` gives ``eta_j(t)`` for either recipe, to log or
plot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lerac_jax import depths as depth_lib
from lerac_jax import settings as settings_lib

__all__ = (
    "depth_learning_rates",
    "schedule_after_curriculum",
    "warmup_cosine_after_curriculum",
)


def _check_boundary(curriculum_steps: Any) -> int:
  # join_schedules needs a concrete integer boundary (numpy ints are fine).
  if isinstance(curriculum_steps, (bool, np.bool_)) or not isinstance(
      curriculum_steps, (int, np.integer)) or curriculum_steps <= 0:
    raise ValueError(
        "curriculum_steps must be a positive int number of optimizer steps to"
        f" start the base schedule after; got {curriculum_steps!r}.")
  return int(curriculum_steps)


def schedule_after_curriculum(
    schedule: optax.Schedule,
    curriculum_steps: int,
    *,
    hold_value: float,
) -> optax.Schedule:
  r"""Holds the base rate during the curriculum, then runs ``schedule``.

  .. math::
    \eta(t) = \begin{cases} \text{hold\_value} & t < k \\
                            \text{schedule}(t - k) & t \ge k \end{cases}

  This is :func:`optax.join_schedules` of a constant and ``schedule``, so
  ``schedule`` starts at its own step 0 when the curriculum ends: its warm-up
  and decay lengths count from ``k``, not from the start of training.

  Args:
    schedule: the base schedule to start at step ``k`` (any optax schedule).
    curriculum_steps: ``k``, the same value given to
      :func:`lerac_jax.scale_by_lerac`; a positive int.
    hold_value: the base learning rate during the curriculum, usually the
      peak rate ``eta0`` (the curriculum multipliers rise to 1 against it).

  Returns:
    An optax schedule: a function from the step count to the learning rate.

  Example:
    >>> import optax, lerac_jax
    >>> sched = lerac_jax.base_schedules.schedule_after_curriculum(
    ...     optax.linear_schedule(0.0, 1.0, 10), curriculum_steps=5,
    ...     hold_value=1.0)
    >>> [round(float(sched(t)), 2) for t in (0, 4, 5, 10, 15)]
    [1.0, 1.0, 0.0, 0.5, 1.0]

  References:
    Croitoru et al, `Learning Rate Curriculum
    <https://arxiv.org/abs/2205.09180>`_, IJCV 2024 (CvT-13 from scratch:
    cosine schedule after the curriculum).
  """
  k = _check_boundary(curriculum_steps)
  return optax.join_schedules(
      [optax.constant_schedule(hold_value), schedule], [k])


def warmup_cosine_after_curriculum(
    *,
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    decay_steps: int,
    curriculum_steps: int,
    end_value: float = 0.0,
    exponent: float = 1.0,
    hold_value: float | None = None,
) -> optax.Schedule:
  r"""The paper's CvT recipe: the peak for ``k`` steps, then warm-up-cosine.

  During the first ``k`` steps the base rate is ``hold_value`` (default
  ``peak_value``) and the LeRaC curriculum raises each depth from its initial
  ratio to 1. From step ``k`` on, :func:`optax.warmup_cosine_decay_schedule`
  runs from its own step 0: ``warmup_steps`` from ``init_value`` to
  ``peak_value``, then cosine down to ``end_value`` at ``decay_steps`` after
  ``k`` (optax counts the warm-up inside ``decay_steps``).

  Args:
    init_value: learning rate at the start of the warm-up (step ``k``).
    peak_value: the peak learning rate ``eta0``.
    warmup_steps: warm-up length, counted from step ``k``.
    decay_steps: total length of warm-up plus cosine, counted from ``k``.
    curriculum_steps: ``k``, as given to :func:`lerac_jax.scale_by_lerac`.
    end_value: the final learning rate.
    exponent: cosine exponent, as in optax.
    hold_value: the base rate during the curriculum; default ``peak_value``.

  Returns:
    An optax schedule.

  Example:
    >>> import lerac_jax
    >>> sched = lerac_jax.base_schedules.warmup_cosine_after_curriculum(
    ...     init_value=0.0, peak_value=2e-3, warmup_steps=10,
    ...     decay_steps=100, curriculum_steps=20, end_value=5e-5)
    >>> [f'{float(sched(t)):.2e}' for t in (0, 19, 20, 25, 30, 120)]
    ['2.00e-03', '2.00e-03', '0.00e+00', '1.00e-03', '2.00e-03', '5.00e-05']

  References:
    Croitoru et al, `Learning Rate Curriculum
    <https://arxiv.org/abs/2205.09180>`_, IJCV 2024.
  """
  base = optax.warmup_cosine_decay_schedule(
      init_value=init_value, peak_value=peak_value, warmup_steps=warmup_steps,
      decay_steps=decay_steps, end_value=end_value, exponent=exponent)
  hold = peak_value if hold_value is None else hold_value
  return schedule_after_curriculum(base, curriculum_steps, hold_value=hold)


def depth_learning_rates(
    base_learning_rate: optax.ScalarOrSchedule,
    depths: Any = None,
    *,
    num_depths: int | None = None,
    curriculum: settings_lib.Curriculum | None = None,
    **lerac_settings: Any,
) -> Callable[[Any], jax.Array]:
  r"""The learning rate each depth sees: ``eta(t) * m_j(t)``.

  .. math::
    \eta_j(t) = \eta(t)\, m_j(t), \qquad j = 0, \dots, n - 1.

  Works for both recipes: pass the base optimizer's learning rate (a number,
  a schedule from step 0, or one from :func:`schedule_after_curriculum`) and
  the curriculum, either as a :class:`lerac_jax.Curriculum` or as the keyword
  arguments given to :func:`lerac_jax.scale_by_lerac`. For an optimizer that
  ends with ``scale_by_learning_rate`` (SGD, Adam, AdamW, ...) this is the
  rate PyTorch's per-group ``lr`` would show. This is for plotting a plan; to
  log what trains, read the state: ``eta(t) *
  lerac_jax.current_scales(opt_state)``.

  Args:
    base_learning_rate: a float or an optax schedule.
    depths: anything :func:`lerac_jax.scale_by_lerac` accepts except a
      callable and a bare int (pass its :class:`lerac_jax.Depths`); or give
      ``num_depths`` instead.
    num_depths: the number of depths, instead of ``depths``.
    curriculum: the curriculum settings; or give them as keyword arguments.
    **lerac_settings: ``curriculum_steps`` (required), ``min_scale``,
      ``schedule``, ... as given to :func:`lerac_jax.scale_by_lerac`.

  Returns:
    A jit-safe function from the step count to a float32 array of shape
    ``(num_depths,)``.

  Raises:
    TypeError: for a bare int ``depths`` (ambiguous: one depth, or a count?),
      or for both or neither of ``depths`` and ``num_depths``, or of
      ``curriculum`` and keyword settings.

  Example:
    >>> import optax, lerac_jax
    >>> lrs = lerac_jax.base_schedules.depth_learning_rates(
    ...     optax.cosine_decay_schedule(0.1, 100), num_depths=3,
    ...     curriculum_steps=10, min_scale=1e-4)
    >>> lrs(0)
    Array([1.e-01, 1.e-03, 1.e-05], dtype=float32)

  References:
    Croitoru et al, `Learning Rate Curriculum
    <https://arxiv.org/abs/2205.09180>`_, IJCV 2024.
  """
  if isinstance(depths, (int, np.integer)) and not isinstance(depths, bool):
    raise TypeError(
        f"depths={depths!r} is ambiguous (a single depth, or {depths} "
        f"depths?); pass num_depths={depths} for a number of depths, or the "
        "lerac_jax.Depths the transformation uses.")
  if (depths is None) == (num_depths is None):
    raise TypeError("Give exactly one of depths and num_depths.")
  if (curriculum is None) == (not lerac_settings):
    raise TypeError(
        "Give the curriculum either as curriculum=lerac_jax.Curriculum(...) "
        "or as the keyword arguments of scale_by_lerac, exactly one of them.")
  if curriculum is None:
    curriculum = settings_lib.Curriculum(**lerac_settings)
  if num_depths is None:
    num_depths = depth_lib.as_depths(depths).num_depths
  curriculum.check_num_depths(num_depths)
  curve = curriculum.curve(num_depths)

  def rates(step):
    base = (base_learning_rate(step) if callable(base_learning_rate)
            else base_learning_rate)
    return jnp.asarray(base, jnp.float32) * curve(step)

  return rates
