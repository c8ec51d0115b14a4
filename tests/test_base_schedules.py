# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Base learning-rate schedules with the curriculum: after it, or alongside.

Recipe 1 (the paper's CvT setting): the base warm-up-cosine schedule is off
(held at its peak) for the first ``k`` steps and starts at step ``k``
(``lerac_jax.base_schedules.warmup_cosine_after_curriculum``, built on
``optax.join_schedules``). Recipe 2: a base schedule from step 0, alongside
the curriculum (the official ResNet code's step decay). In both, the update
an SGD step applies to depth ``j`` must be ``-eta(t) * m_j(t) * g``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lerac_jax
from lerac_jax import base_schedules

K = 8
DEPTHS = {"stem": 0, "mid": 1, "head": 2}
KW = dict(curriculum_steps=K, min_scale=1e-4)
PEAK = 2e-3


def cvt_schedule():
  return base_schedules.warmup_cosine_after_curriculum(
      init_value=1e-4, peak_value=PEAK, warmup_steps=4, decay_steps=20,
      curriculum_steps=K, end_value=5e-5)


@pytest.mark.parametrize("name,base", [
    ("warmup_cosine", optax.warmup_cosine_decay_schedule(0.0, 1.0, 5, 30)),
    ("cosine", optax.cosine_decay_schedule(1.0, 30)),
    ("step_decay", optax.piecewise_constant_schedule(1.0, {3: 0.1, 9: 0.1})),
])
def test_schedule_after_curriculum_is_held_then_shifted(name, base):
  sched = base_schedules.schedule_after_curriculum(base, K, hold_value=0.7)
  for t in range(K):
    assert float(sched(t)) == pytest.approx(0.7), (name, t)
  for t in range(K, K + 30):
    assert float(sched(t)) == pytest.approx(float(base(t - K)), abs=1e-7), (
        name, t)
  # jit-safe with a traced step.
  np.testing.assert_allclose(jax.jit(sched)(jnp.int32(K + 3)), base(3),
                             rtol=1e-6)


def test_cvt_recipe_shape():
  sched = cvt_schedule()
  assert float(sched(0)) == float(sched(K - 1)) == pytest.approx(PEAK)
  assert float(sched(K)) == pytest.approx(1e-4)  # warm-up starts at k
  assert float(sched(K + 4)) == pytest.approx(PEAK)  # warm-up done
  assert float(sched(K + 20)) == pytest.approx(5e-5)  # cosine done
  values = [float(sched(t)) for t in range(K + 4, K + 21)]
  assert all(a >= b for a, b in zip(values, values[1:]))


def sgd_run(base_lr, steps):
  """Runs lerac(sgd(base_lr)) and returns the updates of every step."""
  tx = lerac_jax.lerac(optax.sgd(base_lr), DEPTHS, **KW)
  params = {n: jnp.ones((2,), jnp.float32) for n in DEPTHS}
  grads = {n: jnp.full((2,), i + 1.0, jnp.float32)
           for i, n in enumerate(DEPTHS)}
  state = tx.init(params)
  update = jax.jit(tx.update)
  out = []
  for _ in range(steps):
    updates, state = update(grads, state, params)
    out.append({n: np.asarray(u) for n, u in updates.items()})
  return grads, out


@pytest.mark.parametrize("recipe", ["after_curriculum", "from_step_0"])
def test_sgd_updates_follow_base_times_curriculum(recipe):
  if recipe == "after_curriculum":
    base = cvt_schedule()
  else:  # cosine from step 0, alongside the curriculum
    base = optax.cosine_decay_schedule(PEAK, 30, alpha=0.1)
  steps = K + 24
  grads, updates = sgd_run(base, steps)
  rates = base_schedules.depth_learning_rates(base, DEPTHS, **KW)
  curve = lerac_jax.Curriculum(**KW).curve(3)
  for t in range(steps):
    lr = np.asarray(rates(t))
    np.testing.assert_allclose(lr, float(base(t)) * np.asarray(curve(t)),
                               rtol=1e-6)
    for name, d in DEPTHS.items():
      np.testing.assert_allclose(updates[t][name], -lr[d] * grads[name],
                                 rtol=1e-5, err_msg=f"{name} at step {t}")
  # After k every depth follows the base schedule alone.
  for t in range(K, steps):
    np.testing.assert_allclose(rates(t), float(base(t)), rtol=1e-6)


def test_cvt_recipe_depth_rates():
  rates = base_schedules.depth_learning_rates(cvt_schedule(), DEPTHS, **KW)
  # During the curriculum each depth rises to the held peak...
  np.testing.assert_allclose(rates(0), PEAK * np.array([1.0, 1e-2, 1e-4]),
                             rtol=1e-5)
  deepest = [float(rates(t)[2]) for t in range(K)]
  assert all(a < b for a, b in zip(deepest, deepest[1:]))
  # ...and at k all depths share the base schedule's warm-up start.
  np.testing.assert_allclose(rates(K), 1e-4, rtol=1e-6)


def test_concurrent_warmup_would_compound():
  # Why recipe 2 avoids a base warm-up: at step 1 the deepest depth is both
  # warming up and at its lowest curriculum ratio.
  warm = optax.warmup_cosine_decay_schedule(0.0, PEAK, K, 40)
  compound = base_schedules.depth_learning_rates(warm, DEPTHS, **KW)
  after = base_schedules.depth_learning_rates(cvt_schedule(), DEPTHS, **KW)
  assert float(compound(1)[2]) < 0.2 * float(after(1)[2])


def test_base_and_lerac_counts_pause_together_under_multisteps():
  every = 3
  tx = optax.MultiSteps(
      lerac_jax.lerac(optax.inject_hyperparams(optax.sgd)(
          learning_rate=cvt_schedule()), DEPTHS, **KW), every)
  params = {n: jnp.ones((2,), jnp.float32) for n in DEPTHS}
  state = tx.init(params)
  update = jax.jit(tx.update)
  for _ in range(every * (K + 2) + 1):
    _, state = update(params, state, params)
  inner = state.inner_opt_state
  assert int(inner[0].count) == int(inner[1].count) == K + 2
  # The injected lr is the schedule at the real-update count.
  assert float(inner[0].hyperparams["learning_rate"]) == pytest.approx(
      float(cvt_schedule()(K + 1)))


def test_numpy_int_boundary():
  sched = base_schedules.schedule_after_curriculum(
      optax.constant_schedule(0.5), np.int64(K), hold_value=1.0)
  assert float(sched(K - 1)) == 1.0 and float(sched(K)) == 0.5


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, None, np.float32(4.0)])
def test_invalid_boundary(bad):
  with pytest.raises(ValueError, match="curriculum_steps"):
    base_schedules.schedule_after_curriculum(
        optax.constant_schedule(1.0), bad, hold_value=1.0)


def test_depth_learning_rates_accepts_depths_objects_and_counts():
  d = lerac_jax.as_depths(DEPTHS)
  a = base_schedules.depth_learning_rates(0.1, d, **KW)(3)
  b = base_schedules.depth_learning_rates(0.1, num_depths=3, **KW)(3)
  c = base_schedules.depth_learning_rates(
      0.1, num_depths=3, curriculum=lerac_jax.Curriculum(**KW))(3)
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(a, c)
  assert a.shape == (3,) and a.dtype == jnp.float32


def test_depth_learning_rates_refuses_ambiguous_arguments():
  with pytest.raises(TypeError, match=r"depths=3 is ambiguous.*num_depths=3"):
    base_schedules.depth_learning_rates(0.1, 3, **KW)
  with pytest.raises(TypeError, match="exactly one of depths and num_depths"):
    base_schedules.depth_learning_rates(0.1, DEPTHS, num_depths=3, **KW)
  with pytest.raises(TypeError, match="either as curriculum="):
    base_schedules.depth_learning_rates(
        0.1, DEPTHS, curriculum=lerac_jax.Curriculum(**KW), **KW)
  with pytest.raises(ValueError, match="does not apply"):
    base_schedules.depth_learning_rates(0.1, DEPTHS, steps_per_event=3, **KW)
