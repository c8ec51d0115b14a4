# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
r"""The LeRaC curriculum settings: one frozen, validated value.

:class:`Curriculum` holds everything that decides the per-depth multipliers
``m_j(t)``: ``k``, the schedule, the initial ratios and the settings that
belong to them. :func:`lerac_jax.scale_by_lerac` builds one from its keyword
arguments; the multipliers it trains with are stored in its state, so
:func:`lerac_jax.current_scales` logs them without a second copy of the
settings.

Concrete settings are checked when the value is built. Settings traced under
``jit`` or :func:`optax.inject_hyperparams` cannot raise; they are **clamped**:

* ``min_scale`` and ``decay_factor`` into ``[tiny, 1]``
  (``tiny = np.finfo(np.float32).tiny``, the smallest normal float32), and
  ``staircase_factor`` to the smallest float32 above 1 at least;
* a NaN in any of them, or a ``curriculum_steps`` / ``steps_per_event`` that is
  not finite and positive, switches the curriculum off for that step (every
  multiplier is 1, the plain optimizer), so updates never turn NaN or exceed
  the base optimizer's.

Each clamp is also a :func:`jax.experimental.checkify.debug_check`: wrap the
step in ``checkify.checkify(..., errors=checkify.user_checks)`` to get an
error naming the setting instead.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
from typing import Any, Union
import warnings

import jax
from jax.experimental import checkify
import jax.numpy as jnp
import numpy as np

from lerac_jax import schedules
from lerac_jax import validation

ArrayLike = schedules.ArrayLike
Curve = schedules.Curve

TINY = validation.TINY

DEFAULT_MIN_SCALE = 1e-6
DEFAULT_DECAY_FACTOR = 0.1
DEFAULT_STAIRCASE_FACTOR = 10.0

Setting = Union[int, float, jax.Array, np.ndarray]


def _is_traced(value: Any) -> bool:
  return isinstance(value, jax.core.Tracer)


def _scalar(name: str, value: Any, rule: str) -> Setting:
  """A Python number, or a traced scalar; refuses None, bools and arrays."""
  if value is None:
    raise ValueError(f"{name} is None; give a number ({rule}).")
  if isinstance(value, (bool, np.bool_)):
    raise TypeError(f"{name} must be a number ({rule}); got the bool {value}.")
  shape = np.shape(value) if not _is_traced(value) else value.shape
  if shape != ():
    raise ValueError(
        f"{name} must be a scalar ({rule}); got an array of shape {shape}. "
        f"One value applies to every depth: pass {name}=<number>.")
  if _is_traced(value):
    if not jnp.issubdtype(value.dtype, jnp.number):
      raise TypeError(f"{name} must be a number; got dtype {value.dtype}.")
    return value
  try:
    arr = np.asarray(value)
  except Exception as e:  # a jax array that cannot be read (e.g. deleted)
    raise TypeError(f"{name} must be a number ({rule}); got {value!r}.") from e
  if arr.dtype.kind in "iu":
    return int(arr)
  if arr.dtype.kind != "f":
    raise TypeError(
        f"{name} must be a real number ({rule}); got {value!r} of dtype "
        f"{arr.dtype}.")
  return float(arr)


def _ratios_tuple(ratios: Any) -> tuple[float, ...]:
  if _is_traced(ratios):
    raise ValueError(
        "initial_ratios must be concrete (a sequence of numbers); mark it "
        "static, e.g. optax.inject_hyperparams(..., static_args="
        "('initial_ratios',)).")
  values = np.asarray(ratios, dtype=np.float64)
  if values.ndim != 1 or values.size == 0:
    raise ValueError(
        "initial_ratios must be 'geometric', 'decay' or a 1-D sequence of "
        f"ratios, one per depth; got an array of shape {values.shape}.")
  schedules.check_ratio_sequence(values)
  return tuple(float(r) for r in values)


@dataclasses.dataclass(frozen=True)
class Curriculum:
  r"""The validated settings of a LeRaC curriculum.

  Depth ``j`` of ``n`` gets the multiplier ``m_j(t)`` with ``m_j(0) = r_j``
  and ``m_j(t) = 1`` for ``t >= k``; for the default exponential schedule
  (the paper's Eq. 8)

  .. math::
    m_j(t) = r_j^{\,1 - \min(t/k,\,1)}, \qquad
    r_j = s^{j / (n - 1)} \quad\text{(geometric ratios, } s =
    \text{min\_scale)}.

  A field that does not apply to the chosen schedule or ratios is None, and
  giving it is an error (it would be silently ignored otherwise). After
  construction every field holds the value actually used: the defaults are
  filled in (``min_scale`` 1e-6, ``decay_factor`` 0.1, ``staircase_factor``
  10).

  Attributes:
    curriculum_steps: ``k``, in optimizer steps; finite and > 0.
    schedule: ``'exponential'`` (default), ``'linear'``, ``'log'``,
      ``'cosine'`` or ``'staircase'``.
    min_scale: the deepest initial ratio ``r_{n-1}``, in ``[tiny, 1]`` with
      ``tiny`` float32's smallest normal (below it float32 flushes the ratio
      to 0 and the layer is frozen for all of ``k``). None with explicit
      ``initial_ratios``.
    initial_ratios: ``'geometric'``, ``'decay'`` (``max(min_scale,
      decay_factor ** j)``) or a non-increasing tuple of ratios in
      ``[tiny, 1]``, one per depth.
    decay_factor: the per-depth factor for ``initial_ratios='decay'``, in
      ``(0, 1]``; None otherwise.
    steps_per_event: staircase only: optimizer steps between two events,
      finite and > 0; None spreads the events so the deepest depth reaches 1
      at ``k``.
    staircase_factor: staircase only: the growth ``c`` per event, finite and
      > 1; None for the other schedules.

  Raises:
    ValueError: for a concrete setting out of range, of the wrong shape, None
      where a number is needed, or given for a schedule or ratio rule it does
      not belong to.
    TypeError: for a setting of the wrong type (a bool, a string for a
      number).

  Example:
    >>> import lerac_jax
    >>> c = lerac_jax.Curriculum(curriculum_steps=10, min_scale=1e-4)
    >>> c.multipliers(0, num_depths=3)
    Array([1.e+00, 1.e-02, 1.e-04], dtype=float32)
    >>> c.multipliers(5, num_depths=3)
    Array([1.  , 0.1 , 0.01], dtype=float32)

  References:
    Croitoru et al, `Learning Rate Curriculum
    <https://arxiv.org/abs/2205.09180>`_, IJCV 2024, Eq. 6 and 8.
  """

  curriculum_steps: Setting
  schedule: str = "exponential"
  min_scale: Setting | None = None
  initial_ratios: str | Sequence[float] = "geometric"  # stored as a tuple
  decay_factor: Setting | None = None
  steps_per_event: Setting | None = None
  staircase_factor: Setting | None = None

  def __post_init__(self):
    def put(name, value):
      object.__setattr__(self, name, value)

    schedule = self.schedule
    if not isinstance(schedule, str) or schedule not in schedules.SCHEDULES:
      raise ValueError(
          f"Unknown schedule {schedule!r}; valid schedules are "
          f"{', '.join(map(repr, schedules.SCHEDULES))}.")
    ratios = self.initial_ratios
    if ratios is None:
      raise ValueError(
          "initial_ratios is None; give 'geometric' (the default), 'decay' or "
          "a sequence of ratios, one per depth.")
    if isinstance(ratios, str):
      if ratios not in schedules.INITIAL_RATIOS:
        raise ValueError(
            f"Unknown initial_ratios {ratios!r}; valid names are "
            f"{', '.join(map(repr, schedules.INITIAL_RATIOS))}, or pass a "
            "sequence of ratios.")
    else:
      put("initial_ratios", _ratios_tuple(ratios))

    k = _scalar("curriculum_steps", self.curriculum_steps,
                "k, optimizer steps > 0")
    validation.check_positive_steps(k, "curriculum_steps", "k")
    put("curriculum_steps", k)

    # Settings that belong to one rule only: refused when given for another.
    explicit = not isinstance(self.initial_ratios, str)
    self._belongs("min_scale", not explicit,
                  "explicit initial_ratios (the sequence sets every ratio)")
    self._belongs("decay_factor", self.initial_ratios == "decay",
                  f"initial_ratios={self.initial_ratios!r}; it is used only "
                  "with initial_ratios='decay'")
    for name in ("steps_per_event", "staircase_factor"):
      self._belongs(name, schedule == "staircase",
                    f"schedule={schedule!r}; it is used only with "
                    "schedule='staircase'")

    if not explicit:
      s = (DEFAULT_MIN_SCALE if self.min_scale is None else
           _scalar("min_scale", self.min_scale, validation.MIN_SCALE_RANGE))
      validation.check_min_scale(s)
      put("min_scale", s)
    if self.initial_ratios == "decay":
      f = (DEFAULT_DECAY_FACTOR if self.decay_factor is None else
           _scalar("decay_factor", self.decay_factor, "in (0, 1]"))
      validation.check_fraction(f, "decay_factor")
      put("decay_factor", f)
    if schedule == "staircase":
      c = (DEFAULT_STAIRCASE_FACTOR if self.staircase_factor is None else
           _scalar("staircase_factor", self.staircase_factor,
                   "finite and > 1"))
      validation.check_growth_factor(c)
      put("staircase_factor", c)
      if self.steps_per_event is not None:
        d = _scalar("steps_per_event", self.steps_per_event,
                    "optimizer steps > 0")
        validation.check_positive_steps(d, "steps_per_event")
        put("steps_per_event", d)

  def _belongs(self, name: str, applies: bool, where: str) -> None:
    if not applies and getattr(self, name) is not None:
      raise ValueError(
          f"{name}={getattr(self, name)!r} does not apply with {where}. "
          f"Remove {name}, or choose the schedule or ratios it belongs to.")

  # -------------------------------------------------------------------------
  # Traced settings: clamped (and debug-checked), see the module docstring.
  # -------------------------------------------------------------------------

  def _sanitized(self) -> tuple[dict, Any]:
    """Settings for the curve, traced ones clamped, and a validity flag.

    Returns:
      ``(settings, valid)``: keyword arguments for the curve functions, and
      None when every setting is concrete, else a traced bool that is False
      when the curriculum must be switched off (multipliers 1).
    """
    out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    valid = None

    def conjoin(ok):
      nonlocal valid
      valid = ok if valid is None else valid & ok

    def unit_interval(name):
      v = out[name]
      if not _is_traced(v):
        return
      v32 = jnp.asarray(v, jnp.float32)
      checkify.debug_check((v32 >= TINY) & (v32 <= 1.0),
                           f"{name} must be in [{TINY:.4g}, 1]; got {{}}.", v)
      conjoin(~jnp.isnan(v32))
      out[name] = jnp.clip(v32, TINY, 1.0)

    def positive_steps(name):
      v = out[name]
      if v is None or not _is_traced(v):
        return
      v32 = jnp.asarray(v, jnp.float32)
      ok = jnp.isfinite(v32) & (v32 > 0)
      checkify.debug_check(
          ok, f"{name} must be a finite, positive number of steps; got {{}}.",
          v)
      conjoin(ok)
      out[name] = jnp.where(ok, v32, 1.0)

    positive_steps("curriculum_steps")
    positive_steps("steps_per_event")
    for name in ("min_scale", "decay_factor"):
      if out[name] is not None:
        unit_interval(name)
    c = out["staircase_factor"]
    if c is not None and _is_traced(c):
      c32 = jnp.asarray(c, jnp.float32)
      checkify.debug_check(jnp.isfinite(c32) & (c32 > 1.0),
                           "staircase_factor must be finite and > 1; got {}.",
                           c)
      conjoin(~jnp.isnan(c32))
      out["staircase_factor"] = jnp.clip(
          c32, np.nextafter(np.float32(1), np.float32(2)),
          np.finfo(np.float32).max)
    return out, valid

  # -------------------------------------------------------------------------
  # The multipliers.
  # -------------------------------------------------------------------------

  def check_num_depths(self, num_depths: int) -> None:
    """Checks that the settings fit a model with ``num_depths`` depths.

    Args:
      num_depths: the number of depths of the depths object.

    Raises:
      ValueError: if ``num_depths`` is not a positive int, or explicit
        ``initial_ratios`` do not have one entry per depth.

    Warns:
      UserWarning: with a single depth, when the curriculum does nothing.
    """
    if (isinstance(num_depths, (bool, np.bool_))
        or not isinstance(num_depths, (int, np.integer)) or num_depths < 1):
      raise ValueError(
          f"num_depths must be a positive int; got {num_depths!r}.")
    if (not isinstance(self.initial_ratios, str)
        and len(self.initial_ratios) != num_depths):
      raise ValueError(
          f"initial_ratios has {len(self.initial_ratios)} entries but the "
          f"depths object has {num_depths} depths; give exactly one ratio per "
          "depth.")
    if num_depths == 1:
      warnings.warn(
          "The LeRaC curriculum has a single depth: its multiplier is 1 at "
          "every step, so the curriculum does nothing. Give the layers "
          "different depths (e.g. lerac_jax.depths_from_model), or drop "
          "scale_by_lerac.", UserWarning, stacklevel=3)

  def ratios(self, num_depths: int) -> jax.Array:
    """The initial ratios ``r_j = m_j(0)``, a float32 ``(num_depths,)`` array.

    Args:
      num_depths: the number of depths.

    Returns:
      The ratios, 1 at depth 0 (for the named rules), non-increasing.

    Example:
      >>> import lerac_jax
      >>> lerac_jax.Curriculum(curriculum_steps=5, initial_ratios='decay',
      ...                      min_scale=1e-2).ratios(4)
      Array([1.  , 0.1 , 0.01, 0.01], dtype=float32)
    """
    settings, _ = self._sanitized()
    return self._ratios(num_depths, settings)

  def _ratios(self, num_depths, settings):
    kind = settings["initial_ratios"]
    if kind == "geometric":
      return schedules.geometric_ratios(num_depths, settings["min_scale"])
    if kind == "decay":
      return schedules.decay_ratios(num_depths, settings["decay_factor"],
                                    settings["min_scale"])
    return schedules.explicit_ratios(kind, num_depths)

  def curve(self, num_depths: int) -> Curve:
    """The function from the step count to the ``(num_depths,)`` multipliers.

    Args:
      num_depths: the number of depths.

    Returns:
      A jit-safe function of a scalar step count returning float32
      multipliers of shape ``(num_depths,)``.

    Raises:
      ValueError: if explicit ``initial_ratios`` do not have ``num_depths``
        entries.

    Example:
      >>> import lerac_jax
      >>> curve = lerac_jax.Curriculum(curriculum_steps=10).curve(2)
      >>> curve(10)
      Array([1., 1.], dtype=float32)
    """
    settings, valid = self._sanitized()
    ratios = self._ratios(num_depths, settings)
    k = settings["curriculum_steps"]
    if self.schedule == "staircase":
      curve = schedules.staircase(
          ratios, k, steps_per_event=settings["steps_per_event"],
          factor=settings["staircase_factor"])
    else:
      curve = schedules.CURVES[self.schedule](ratios, k)
    if valid is None:
      return curve
    return lambda count: jnp.where(valid, curve(count), 1.0)

  def multipliers(self, step: ArrayLike, *, num_depths: int) -> jax.Array:
    r"""The per-depth multipliers ``m_j(step)`` (the ratio to ``eta0``).

    Args:
      step: the optimizer step count ``t``; a scalar, or an array of counts
        (e.g. with a leading ``pmap`` axis).
      num_depths: the number of depths (keyword-only, so that it is never
        confused with the step).

    Returns:
      float32 multipliers of shape ``np.shape(step) + (num_depths,)``.

    Example:
      >>> import lerac_jax
      >>> c = lerac_jax.Curriculum(curriculum_steps=100, min_scale=1e-8)
      >>> c.multipliers(50, num_depths=2)
      Array([1.e+00, 1.e-04], dtype=float32)
    """
    curve = self.curve(num_depths)
    step = jnp.asarray(step)
    if step.ndim:
      return jax.vmap(curve)(step.reshape(-1)).reshape(
          step.shape + (num_depths,))
    return curve(step)
