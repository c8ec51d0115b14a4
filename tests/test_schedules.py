"""Tests for lerac_jax.schedules: closed forms, invariants, the official code."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lerac_jax
from lerac_jax import schedules

CURVES = ("exponential", "linear", "log", "cosine", "staircase")


def curve_for(name, ratios, k):
  if name == "staircase":
    return schedules.staircase(ratios, k)
  return getattr(schedules, name)(ratios, k)


def test_exponential_closed_form_values():
  curve = schedules.exponential(jnp.array([1e-8]), curriculum_steps=100)
  got = [float(curve(t)[0]) for t in (0, 50, 100, 101, 10_000)]
  np.testing.assert_allclose(got, [1e-8, 1e-4, 1.0, 1.0, 1.0], rtol=1e-6)
  assert got[2:] == [1.0, 1.0, 1.0]  # exactly 1 from k on


@pytest.mark.parametrize("name", CURVES)
def test_endpoints_and_monotone(name):
  ratios = schedules.geometric_ratios(5, 1e-6)
  k = 60
  curve = curve_for(name, ratios, k)
  values = np.stack([np.asarray(curve(t)) for t in range(0, 2 * k)])
  np.testing.assert_allclose(values[0], ratios, rtol=1e-6)
  assert np.all(values[k:] == 1.0)
  assert np.all(np.diff(values, axis=0) >= 0), "not monotone in t"
  assert np.all(np.diff(values, axis=1) <= 0), "not ordered by depth"


def test_midpoints_of_each_shape():
  r = jnp.array([1e-4])
  mid = {n: float(curve_for(n, r, 100)(50)[0]) for n in CURVES[:4]}
  np.testing.assert_allclose(mid["exponential"], 1e-2, rtol=1e-5)
  np.testing.assert_allclose(mid["linear"], 1e-4 + (1 - 1e-4) * 0.5, rtol=1e-6)
  np.testing.assert_allclose(
      mid["log"], 1e-4 + (1 - 1e-4) * np.log1p((np.e - 1) * 0.5), rtol=1e-6)
  np.testing.assert_allclose(mid["cosine"], 1e-4 + (1 - 1e-4) * 0.5, rtol=1e-6)
  # log is concave: ahead of linear everywhere inside (0, k).
  for t in (10, 50, 90):
    assert curve_for("log", r, 100)(t)[0] > curve_for("linear", r, 100)(t)[0]


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(CURVES),
    n=st.integers(1, 12),
    log10_min=st.floats(-9, 0),
    k=st.integers(1, 500),
    t=st.integers(0, 1200),
)
def test_invariants_property(name, n, log10_min, k, t):
  ratios = schedules.geometric_ratios(n, 10.0**log10_min)
  curve = curve_for(name, ratios, k)
  now = np.asarray(curve(t))
  nxt = np.asarray(curve(t + 1))
  r = np.asarray(ratios)
  assert now.dtype == np.float32 and now.shape == (n,)
  assert np.all(nxt >= now), "monotone in t"
  assert np.all(np.diff(now) <= 0), "ordered by depth"
  assert np.all(now >= r * (1 - 1e-6)) and np.all(now <= 1.0), "in [r_j, 1]"
  if t >= k:
    assert np.all(now == 1.0)


def test_jit_and_traced_count():
  curve = schedules.exponential(schedules.geometric_ratios(3, 1e-4), 10)
  jitted = jax.jit(curve)
  for t in (0, 5, 10, 20):
    np.testing.assert_allclose(jitted(jnp.int32(t)), curve(t), rtol=1e-6)


def test_geometric_and_decay_ratios():
  np.testing.assert_allclose(
      schedules.geometric_ratios(4, 1e-6), [1, 1e-2, 1e-4, 1e-6], rtol=1e-6)
  assert float(schedules.geometric_ratios(4, 1e-6)[-1]) == np.float32(1e-6)
  np.testing.assert_allclose(schedules.geometric_ratios(1, 1e-6), [1.0])
  # The official ResNet-18 CIFAR-10 blocks: 1e-2 ... floored at 1e-6 (here
  # relative to the block group's own start).
  np.testing.assert_allclose(
      schedules.decay_ratios(7, 0.1, min_scale=1e-4),
      [1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-4, 1e-4], rtol=1e-6)


def test_staircase_replays_official_code():
  """Replays update_lr() of the official code for ResNet-18 on CIFAR-10.

  Per-block lrs 1e-2 .. 1e-6 (x4) with eta0 = 0.1; one x10 event per epoch,
  capped at eta0. In ratios: 1e-1 ... 1e-5.
  """
  eta0 = 0.1
  group_lrs = [0.1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-6, 1e-6, 1e-6]
  ratios = np.array(group_lrs) / eta0
  steps_per_epoch = 7
  k = 5 * steps_per_epoch  # five events: the deepest group needs 1e-5 -> 1
  curve = schedules.staircase(ratios, k, steps_per_event=steps_per_epoch)
  # The official loop, in plain Python (stop_lr = 0.11 for eta0 = 0.1).
  lrs = list(group_lrs)
  for epoch in range(7):
    for step in range(steps_per_epoch):
      t = epoch * steps_per_epoch + step
      np.testing.assert_allclose(
          eta0 * np.asarray(curve(t)), lrs, rtol=1e-5, err_msg=f"t={t}")
    lrs = [lr * 10 if lr * 10 < 0.11 else lr for lr in lrs]


def test_staircase_default_event_spacing():
  # r = 1e-6 needs six x10 events; spread over k = 60 steps: one every 10.
  curve = schedules.staircase(np.array([1.0, 1e-6]), 60)
  got = [float(curve(t)[1]) for t in (0, 9, 10, 25, 59, 60)]
  np.testing.assert_allclose(got, [1e-6, 1e-6, 1e-5, 1e-4, 1e-1, 1.0],
                             rtol=1e-5)


def test_curve_with_traced_hyperparameters():
  def at(k, s, t):
    return lerac_jax.Curriculum(curriculum_steps=k, min_scale=s).curve(3)(t)
  traced = jax.jit(at)(jnp.float32(10), jnp.float32(1e-4), jnp.int32(5))
  np.testing.assert_allclose(traced, at(10, 1e-4, 5), rtol=1e-6)
  np.testing.assert_allclose(traced, [1, 1e-1, 1e-2], rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(curriculum_steps=0), r"curriculum_steps must be a finite, positive.*k > 0"),
        (dict(curriculum_steps=-3), r"curriculum_steps.*got -3"),
        (dict(curriculum_steps=10, min_scale=0.0), r"min_scale must be in \[1.175e-38, 1\]"),
        (dict(curriculum_steps=10, min_scale=2.0), r"min_scale must be in \[1.175e-38, 1\].*2.0"),
        (dict(curriculum_steps=10, schedule="cosine_warmup"),
         r"Unknown schedule 'cosine_warmup'; valid schedules are 'exponential', "
         r"'linear', 'log', 'cosine', 'staircase'"),
        (dict(curriculum_steps=10, initial_ratios=[1.0, 1e-3, 1e-2]),
         r"non-increasing.*0.01 at depth 2 is larger than 0.001 at depth 1"),
        (dict(curriculum_steps=10, initial_ratios=[1.0, 1e-3]),
         r"initial_ratios has 2 entries but the depths object has 3 depths"),
        (dict(curriculum_steps=10, initial_ratios=[1.0, 0.0, 0.0]),
         r"initial_ratios must lie in \[1.175e-38, 1\]"),
        (dict(curriculum_steps=10, initial_ratios="cubic"),
         r"Unknown initial_ratios 'cubic'; valid names are 'geometric', 'decay'"),
        (dict(curriculum_steps=10, schedule="staircase", staircase_factor=1.0),
         r"staircase_factor must be finite and > 1"),
        (dict(curriculum_steps=10, initial_ratios="decay", decay_factor=1.5),
         r"decay_factor must be in \(0, 1\]"),
    ],
)
def test_bad_settings_raise_clear_errors(kwargs, message):
  with pytest.raises(ValueError, match=message):
    lerac_jax.Curriculum(**kwargs).curve(3)
