# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Checkpoint and resume: the curriculum position lives in the checkpoint.

The lerac state is one int32 count inside ``opt_state``, so an orbax
checkpoint of the train state carries the curriculum with it. A run saved at
step ``k/2`` and resumed in a fresh process ends bitwise equal (on CPU) to an
uninterrupted run. The depths themselves are static, built from the model: a
restored state whose params no longer match them fails with an error naming
the parameters.
"""

import os
import subprocess
import sys

import flax.linen as nn
from flax.training import train_state
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

import lerac_jax
from tests import scale_helpers as h

WORKER = os.path.join(os.path.dirname(__file__), "checkpoint_worker.py")
K = h.LERAC_KW["curriculum_steps"]
SAVE_AT = K // 2
TOTAL = h.STEPS


def create_state(optimizer="sgd"):
  return train_state.TrainState.create(
      apply_fn=h.MLP().apply, params=h.init_params(), tx=h.make_tx(optimizer))


def train_step(state, x, y):
  grads = jax.grad(h.loss_fn)(state.params, x, y)
  return state.apply_gradients(grads=grads)


def run(state, start, stop):
  step = jax.jit(train_step)
  x, y = h.batches(TOTAL)
  for t in range(start, stop):
    state = step(state, x[t], y[t])
  return state


OPTIMIZERS = ("sgd", "adamw")


def test_resume_in_fresh_process_is_bitwise_equal(tmp_path):
  depths = h.depths()
  jobs = []
  for optimizer in OPTIMIZERS:
    half = run(create_state(optimizer), 0, SAVE_AT)
    scales_at_save = np.asarray(
        lerac_jax.current_scales(half.opt_state))
    assert 0 < scales_at_save.min() < 1  # saved mid-curriculum
    ckpt = tmp_path / f"ckpt_{optimizer}"
    with ocp.StandardCheckpointer() as ckptr:
      ckptr.save(ckpt, half)
      ckptr.wait_until_finished()
    jobs += [optimizer, str(ckpt), str(tmp_path / f"resumed_{optimizer}.npz")]

  # One fresh process resumes both checkpoints (one start-up, not two).
  proc = subprocess.run(
      [sys.executable, WORKER, str(TOTAL)] + jobs,
      cwd=h.REPO_ROOT, env=h.child_env(), stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True, timeout=240, check=False)
  assert proc.returncode == 0, proc.stdout[-6000:]

  for optimizer in OPTIMIZERS:
    uninterrupted = run(create_state(optimizer), 0, TOTAL)
    resumed = dict(np.load(tmp_path / f"resumed_{optimizer}.npz"))
    assert int(resumed.pop("__start__")) == SAVE_AT
    assert int(resumed.pop("__count__")) == TOTAL
    expected = h.flat_dict(uninterrupted.params)
    assert sorted(resumed) == sorted(expected)
    for path, value in expected.items():
      np.testing.assert_array_equal(resumed[path], value,
                                    err_msg=f"{optimizer}: {path}")


def test_restored_count_restores_the_multipliers(tmp_path):
  """CheckpointManager round trip: the curriculum resumes where it stopped."""
  depths = h.depths()
  state = run(create_state(), 0, SAVE_AT)
  options = ocp.CheckpointManagerOptions(max_to_keep=2)
  with ocp.CheckpointManager(tmp_path / "mgr", options=options) as mgr:
    mgr.save(SAVE_AT, args=ocp.args.StandardSave(state))
    mgr.wait_until_finished()
    assert mgr.latest_step() == SAVE_AT
    abstract = jax.eval_shape(create_state)
    restored = mgr.restore(mgr.latest_step(),
                           args=ocp.args.StandardRestore(abstract))
  assert isinstance(restored.opt_state[1], lerac_jax.LeracState)
  assert restored.opt_state[1].count.dtype == jnp.int32
  assert int(restored.opt_state[1].count) == SAVE_AT
  np.testing.assert_array_equal(
      lerac_jax.current_scales(restored.opt_state),
      lerac_jax.current_scales(state.opt_state))
  # A fresh state would restart the curriculum at the lowest multipliers.
  assert (np.asarray(lerac_jax.current_scales(create_state().opt_state)).min()
          < np.asarray(lerac_jax.current_scales(restored.opt_state)).min())


class MLPWithNewHead(nn.Module):
  """The checkpointed MLP after a second head was added."""

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(h.WIDTH, name="stem")(x))
    x = nn.relu(nn.Dense(h.WIDTH, name="mid")(x))
    return nn.Dense(h.CLASSES, name="head")(x), nn.Dense(2, name="aux_head")(x)


def save_and_restore(state, path):
  """An orbax round trip into the abstract train state (the typed restore)."""
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(path, state)
    ckptr.wait_until_finished()
    return ckptr.restore(path, jax.eval_shape(create_state))


def test_restored_state_with_stale_depths_fails_clearly(tmp_path):
  old = run(create_state(), 0, SAVE_AT)
  restored = save_and_restore(old, tmp_path / "ckpt")

  # The new model's depths name 'aux_head', the restored params lack it.
  new_depths = lerac_jax.depths_from_model(MLPWithNewHead(), h.sample_input())
  # A twin head reads the same features: the same depth as the head.
  assert new_depths.num_depths == h.depths().num_depths
  assert new_depths.table["aux_head/kernel"] == new_depths.table["head/kernel"]
  new_tx = lerac_jax.lerac(optax.sgd(0.1, momentum=0.9), new_depths,
                           **h.LERAC_KW)
  stale = restored.replace(tx=new_tx)
  x, y = h.batches(1)
  with pytest.raises(ValueError, match=r"match no parameter.*aux_head"):
    jax.jit(train_step)(stale, x[0], y[0])
  with pytest.raises(ValueError, match=r"match no parameter.*aux_head"):
    new_tx.init(restored.params)

  # The other way round: new params, depths of the old checkpointed model.
  new_params = MLPWithNewHead().init(
      jax.random.key(0), jnp.zeros((1, h.FEATURES)))["params"]
  with pytest.raises(ValueError, match=r"have no depth.*aux_head/kernel"):
    h.make_tx().init(new_params)


def test_new_head_keeps_the_curriculum_position_by_copying_the_count(tmp_path):
  """The documented fix: new depths and tx, the restored count spliced in."""
  old = run(create_state(), 0, SAVE_AT)
  restored = save_and_restore(old, tmp_path / "ckpt")

  new_depths = lerac_jax.depths_from_model(MLPWithNewHead(), h.sample_input())
  new_tx = lerac_jax.lerac(optax.sgd(0.1, momentum=0.9), new_depths,
                           **h.LERAC_KW)
  new_params = MLPWithNewHead().init(
      jax.random.key(1), jnp.zeros((1, h.FEATURES)))["params"]
  for name in ("stem", "mid", "head"):  # keep the trained layers
    new_params[name] = restored.params[name]
  base_state, lerac_state = new_tx.init(new_params)
  assert int(lerac_state.count) == 0
  # The count and the multipliers it gives: init wrote those of count 0.
  count = restored.opt_state[1].count
  opt_state = (base_state, lerac_state._replace(
      count=count, scales=lerac_jax.Curriculum(**h.LERAC_KW).multipliers(
          count, num_depths=new_depths.num_depths)))
  scales = lerac_jax.current_scales(opt_state)
  # Same progress t/k = 1/2 as saved; the depth count grew by one.
  expected = lerac_jax.Curriculum(**h.LERAC_KW).curve(
      new_depths.num_depths)(SAVE_AT)
  np.testing.assert_array_equal(scales, expected)
  updates, opt_state = new_tx.update(
      jax.tree.map(jnp.ones_like, new_params), opt_state, new_params)
  assert int(opt_state[1].count) == SAVE_AT + 1
  assert set(updates) == {"stem", "mid", "head", "aux_head"}


def test_restore_without_target_loses_the_state_types(tmp_path):
  """Restore with an abstract target: without one orbax gives plain dicts."""
  state = run(create_state(), 0, SAVE_AT)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(tmp_path / "ckpt", state.opt_state)
    ckptr.wait_until_finished()
    raw = ckptr.restore(tmp_path / "ckpt")
    typed = ckptr.restore(tmp_path / "ckpt",
                          jax.eval_shape(state.tx.init, state.params))
  assert set(raw[1]) == {"count", "scales"}  # a dict, no longer a LeracState
  assert raw[1]["count"] == SAVE_AT
  with pytest.raises(ValueError, match="No LeracState"):
    lerac_jax.current_scales(raw)
  assert isinstance(typed[1], lerac_jax.LeracState)
  assert int(lerac_jax.transform.find_count(typed)) == SAVE_AT
