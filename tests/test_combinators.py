# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""lerac inside and alongside optax's combinators and wrappers.

Each test checks the documented behaviour (docs/scaling.md, "Combinators"):

* ``optax.MultiSteps``: the count advances once per real update, so
  ``curriculum_steps`` is in optimizer steps, not micro-batches;
* ``optax.apply_if_finite``: a rejected step leaves the curriculum where it
  was, and nothing turns NaN;
* ``optax.inject_hyperparams`` around the base optimizer: the learning rate
  stays changeable at run time, without recompiling;
* ``optax.partition``: frozen params stay put, the others follow the
  curriculum;
* ``optax.contrib.reduce_on_plateau`` chained after lerac: both scales
  multiply;
* ``optax.clip_by_global_norm`` placed before: it clips the raw gradient.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lerac_jax

DEPTHS = {"stem": 0, "mid": 1, "head": 2}
KW = dict(curriculum_steps=4, min_scale=1e-4)
LR = 0.1


def curve(t):
  return np.asarray(lerac_jax.Curriculum(**KW).curve(3)(t))


def params0():
  return {name: jnp.full((3,), i + 1.0, jnp.float32)
          for i, name in enumerate(DEPTHS)}


def grads_at(t):
  """Different, known gradients at every step."""
  return {name: jnp.full((3,), 1.0 + 0.5 * t + i, jnp.float32)
          for i, name in enumerate(DEPTHS)}


def expected_sgd_update(grads, t, lr=LR):
  """Plain SGD with per-depth learning rate lr * m_j(t)."""
  m = curve(t)
  return {name: -lr * np.asarray(grads[name]) * m[d]
          for name, d in DEPTHS.items()}


def assert_tree_close(actual, expected, **kw):
  for name in expected:
    np.testing.assert_allclose(np.asarray(actual[name]), expected[name],
                               err_msg=name, **kw)


# ---------------------------------------------------------------------------
# MultiSteps
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("every_k", [1, 3])
def test_multisteps_counts_real_updates(every_k):
  tx = optax.MultiSteps(lerac_jax.lerac(optax.sgd(LR), DEPTHS, **KW),
                        every_k_schedule=every_k)
  params = params0()
  state = tx.init(params)
  update = jax.jit(tx.update)
  real_steps = 6  # beyond k = 4
  for micro in range(every_k * real_steps):
    real, phase = divmod(micro, every_k)
    # The multipliers follow the real-update count, not the micro-steps.
    np.testing.assert_array_equal(
        lerac_jax.current_scales(state), curve(real))
    updates, state = update(grads_at(micro), state, params)
    if phase < every_k - 1:  # accumulating: nothing applied
      assert_tree_close(updates, {n: np.zeros(3) for n in DEPTHS})
    else:
      mean = {n: np.mean([np.asarray(grads_at(real * every_k + i)[n])
                          for i in range(every_k)], axis=0) for n in DEPTHS}
      assert_tree_close(updates, expected_sgd_update(mean, real), rtol=1e-6)
    params = optax.apply_updates(params, updates)
  assert int(lerac_jax.transform.find_count(state)) == real_steps
  assert int(state.gradient_step) == real_steps


def test_multisteps_curriculum_ends_after_k_real_updates_not_k_microsteps():
  every_k = 5
  tx = optax.MultiSteps(lerac_jax.lerac(optax.sgd(LR), DEPTHS, **KW),
                        every_k_schedule=every_k)
  state = tx.init(params0())
  update = jax.jit(tx.update)
  for micro in range(KW["curriculum_steps"]):  # k micro-steps: < 1 update
    _, state = update(grads_at(micro), state, params0())
  assert np.asarray(lerac_jax.current_scales(state)).min() < 1e-3
  for micro in range(every_k * KW["curriculum_steps"] - KW["curriculum_steps"]):
    _, state = update(grads_at(micro), state, params0())
  np.testing.assert_array_equal(
      lerac_jax.current_scales(state), 1.0)


# ---------------------------------------------------------------------------
# apply_if_finite
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_apply_if_finite_rejected_step_holds_the_curriculum(bad_value):
  tx = optax.apply_if_finite(
      lerac_jax.lerac(optax.adam(LR), DEPTHS, **KW), max_consecutive_errors=5)
  params = params0()
  state = tx.init(params)
  step = jax.jit(lambda g, s, p: tx.update(g, s, p))
  for t in range(2):
    updates, state = step(grads_at(t), state, params)
    params = optax.apply_updates(params, updates)
  before_params, before_state = params, state
  bad = grads_at(2)
  bad["mid"] = bad["mid"].at[1].set(bad_value)
  updates, state = step(bad, state, params)
  params = optax.apply_updates(params, updates)

  assert not bool(state.last_finite)
  assert int(state.total_notfinite) == 1
  # The curriculum did not move and nothing is NaN or inf.
  assert int(lerac_jax.transform.find_count(state)) == 2
  np.testing.assert_array_equal(
      lerac_jax.current_scales(state),
      lerac_jax.current_scales(before_state))
  for leaf in jax.tree.leaves((updates, params, state)):
    assert np.all(np.isfinite(np.asarray(leaf, np.float64)))
  for name in DEPTHS:
    np.testing.assert_array_equal(params[name], before_params[name])
  # The next finite step resumes at count 2, where the curriculum stopped.
  ref_tx = lerac_jax.lerac(optax.adam(LR), DEPTHS, **KW)
  ref_params = params0()
  ref_state = ref_tx.init(ref_params)
  for t in (0, 1, 3):
    u, ref_state = ref_tx.update(grads_at(t), ref_state, ref_params)
    ref_params = optax.apply_updates(ref_params, u)
  updates, state = step(grads_at(3), state, params)
  params = optax.apply_updates(params, updates)
  assert int(lerac_jax.transform.find_count(state)) == 3
  assert_tree_close(params, {n: np.asarray(v) for n, v in ref_params.items()},
                    rtol=1e-6)


# ---------------------------------------------------------------------------
# inject_hyperparams
# ---------------------------------------------------------------------------


def test_inject_hyperparams_learning_rate_changeable_at_run_time():
  tx = lerac_jax.lerac(
      optax.inject_hyperparams(optax.sgd)(learning_rate=LR), DEPTHS, **KW)
  params = params0()
  state = tx.init(params)
  traces = []

  @jax.jit
  def step(grads, state, params):
    traces.append(None)  # runs once per compilation
    return tx.update(grads, state, params)

  for t, lr in enumerate([LR, LR, 0.5, 0.01, 0.01, 2.0]):
    state[0].hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
    updates, state = step(grads_at(t), state, params)
    # lr * m_j(t): the run-time lr and the curriculum both apply.
    assert_tree_close(updates, expected_sgd_update(grads_at(t), t, lr=lr),
                      rtol=1e-6)
    params = optax.apply_updates(params, updates)
  assert len(traces) == 1
  # The effective per-depth rate to log: injected lr x current multipliers.
  rates = (state[0].hyperparams["learning_rate"]
           * lerac_jax.current_scales(state))
  np.testing.assert_allclose(rates, 2.0 * curve(6))


def test_inject_hyperparams_schedule_and_lerac_counts_agree():
  # A schedule as the injected lr: its count and lerac's move together.
  tx = lerac_jax.lerac(
      optax.inject_hyperparams(optax.sgd)(
          learning_rate=optax.linear_schedule(LR, 0.0, 10)), DEPTHS, **KW)
  params = params0()
  state = tx.init(params)
  for t in range(5):
    updates, state = tx.update(grads_at(t), state, params)
    lr = float(optax.linear_schedule(LR, 0.0, 10)(t))
    assert_tree_close(updates, expected_sgd_update(grads_at(t), t, lr=lr),
                      rtol=1e-5)
  assert int(state[0].count) == int(state[1].count) == 5


# ---------------------------------------------------------------------------
# partition
# ---------------------------------------------------------------------------

LABELS = {"stem": "frozen", "mid": "train", "head": "train"}


@pytest.mark.parametrize("depths", [
    DEPTHS,  # the whole model's depths: frozen entries are exempt
    lambda p: {"stem": 0, "mid": 1, "head": 2},  # a structure-only callable
], ids=["full_depths", "callable"])
@pytest.mark.parametrize("partition", [optax.partition, optax.multi_transform])
def test_partition_freezes_some_params_while_others_follow(depths, partition):
  tx = partition(
      {"train": lerac_jax.lerac(optax.sgd(LR), depths, **KW),
       "frozen": optax.set_to_zero()},
      LABELS)
  params = params0()
  state = jax.jit(tx.init)(params)
  step = jax.jit(tx.update)
  for t in range(6):
    updates, state = step(grads_at(t), state, params)
    expected = expected_sgd_update(grads_at(t), t)
    expected["stem"] = np.zeros(3)
    assert_tree_close(updates, expected, rtol=1e-6)
    params = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(params["stem"], params0()["stem"])
  assert int(lerac_jax.transform.find_count(state)) == 6


def test_partition_with_depths_of_the_trained_part_only():
  # Depths for the trained part alone: 2 depths, head starts at min_scale.
  tx = optax.partition(
      {"train": lerac_jax.lerac(optax.sgd(LR), {"mid": 0, "head": 1}, **KW),
       "frozen": optax.set_to_zero()},
      LABELS)
  params = params0()
  state = tx.init(params)
  updates, state = tx.update(grads_at(0), state, params)
  np.testing.assert_allclose(updates["mid"], -LR * grads_at(0)["mid"])
  np.testing.assert_allclose(updates["head"],
                             -LR * KW["min_scale"] * grads_at(0)["head"],
                             rtol=1e-6)
  np.testing.assert_array_equal(updates["stem"], 0.0)


def test_lerac_after_partition_of_two_optimizers():
  # lerac after the partition: one curriculum over two optimizers.
  tx = optax.chain(
      optax.partition({"frozen": optax.sgd(1.0), "train": optax.sgd(LR)},
                      LABELS),
      lerac_jax.scale_by_lerac(DEPTHS, **KW))
  params = params0()
  state = tx.init(params)
  updates, _ = tx.update(grads_at(0), state, params)
  m = curve(0)
  np.testing.assert_allclose(updates["stem"], -1.0 * grads_at(0)["stem"])
  np.testing.assert_allclose(updates["head"],
                             -LR * m[2] * grads_at(0)["head"], rtol=1e-6)


# ---------------------------------------------------------------------------
# reduce_on_plateau
# ---------------------------------------------------------------------------


def test_reduce_on_plateau_chained_after():
  tx = optax.chain(
      lerac_jax.lerac(optax.sgd(LR), DEPTHS, **KW),
      optax.contrib.reduce_on_plateau(factor=0.5, patience=1))
  params = params0()
  state = tx.init(params)
  step = jax.jit(tx.update)
  plateau_scales = []
  for t in range(8):
    # A loss that never improves: the plateau scale halves every 2 steps.
    updates, state = step(grads_at(t), state, params, value=jnp.asarray(1.0))
    plateau = float(state[1].scale)
    plateau_scales.append(plateau)
    expected = expected_sgd_update(grads_at(t), t)
    # reduce_on_plateau applies the scale as it stands after this update.
    assert_tree_close(updates, {n: v * plateau for n, v in expected.items()},
                      rtol=1e-6)
  assert plateau_scales[-1] < plateau_scales[0] <= 1.0
  assert int(state[0][1].count) == 8  # the curriculum ignores the value


# ---------------------------------------------------------------------------
# clip_by_global_norm
# ---------------------------------------------------------------------------


def test_clip_by_global_norm_before_clips_the_raw_gradient():
  max_norm = 1.0
  tx = lerac_jax.lerac(
      optax.chain(optax.clip_by_global_norm(max_norm), optax.sgd(LR)),
      DEPTHS, **KW)
  params = params0()
  state = tx.init(params)
  for t in range(6):
    grads = jax.tree.map(lambda g: 100.0 * g, grads_at(t))
    updates, state = tx.update(grads, state, params)
    norm = optax.tree.norm(grads)
    clipped = jax.tree.map(lambda g: g * max_norm / norm, grads)
    assert_tree_close(updates, expected_sgd_update(clipped, t), rtol=1e-5)
    # Undo lr and curriculum: what remains has exactly the clip norm.
    m = curve(t)
    raw = {n: updates[n] / (-LR * m[d]) for n, d in DEPTHS.items()}
    np.testing.assert_allclose(optax.tree.norm(raw), max_norm, rtol=1e-5)


def test_clip_after_lerac_would_see_scaled_updates():
  # Why the clip goes first: placed last, the tiny deep-layer multipliers
  # shrink the norm it measures, so it clips by a different factor.
  first = optax.chain(optax.clip_by_global_norm(1.0),
                      lerac_jax.lerac(optax.sgd(1.0), DEPTHS, **KW))
  last = optax.chain(lerac_jax.lerac(optax.sgd(1.0), DEPTHS, **KW),
                     optax.clip_by_global_norm(1.0))
  grads = jax.tree.map(lambda g: 100.0 * g, grads_at(0))
  u_first, _ = first.update(grads, first.init(params0()))
  u_last, _ = last.update(grads, last.init(params0()))
  assert not np.allclose(u_first["stem"], u_last["stem"])
  np.testing.assert_allclose(optax.tree.norm(u_last), 1.0, rtol=1e-5)
  assert float(optax.tree.norm(u_first)) < 1.0
