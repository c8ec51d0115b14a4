"""Tests for lerac_jax.settings and the misuse cases it exists to refuse.

Each case would otherwise train with a curriculum nobody asked for, silently.
"""

import dataclasses
import warnings

import jax
from jax.experimental import checkify
from jax.sharding import AxisType
from jax.sharding import PartitionSpec as P
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lerac_jax
from lerac_jax import schedules

DEPTHS = {"stem": 0, "mid": 1, "head": 2}
KW = dict(curriculum_steps=10, min_scale=1e-4)


def ones_params(dtype=jnp.float32):
  return {k: jnp.ones((2, 3), dtype) for k in DEPTHS}


# ---------------------------------------------------------------------------
# The settings object.
# ---------------------------------------------------------------------------


def test_defaults_filled_in_and_unused_fields_none():
  c = lerac_jax.Curriculum(curriculum_steps=100)
  assert (c.min_scale, c.decay_factor, c.staircase_factor) == (1e-6, None,
                                                               None)
  d = lerac_jax.Curriculum(curriculum_steps=100, schedule="staircase",
                           initial_ratios="decay")
  assert (d.decay_factor, d.staircase_factor, d.steps_per_event) == (
      0.1, 10.0, None)
  e = lerac_jax.Curriculum(curriculum_steps=5, initial_ratios=[1.0, 0.5])
  assert e.initial_ratios == (1.0, 0.5) and e.min_scale is None


def test_frozen():
  c = lerac_jax.Curriculum(curriculum_steps=100)
  with pytest.raises(dataclasses.FrozenInstanceError):
    c.min_scale = 1e-2  # type: ignore[misc]


def test_multipliers_equal_the_trained_curve():
  c = lerac_jax.Curriculum(**KW)
  curve = lerac_jax.Curriculum(**KW).curve(3)
  for t in (0, 3, 10):
    np.testing.assert_array_equal(c.multipliers(t, num_depths=3), curve(t))
  assert c.multipliers(jnp.array([0, 10]), num_depths=3).shape == (2, 3)
  with pytest.raises(TypeError):
    c.multipliers(0, 3)  # num_depths is keyword-only: never confused


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        # Wrong shapes: one value must apply to every depth.
        (dict(curriculum_steps=np.array([[10]])), ValueError,
         r"curriculum_steps must be a scalar.*shape \(1, 1\)"),
        (dict(curriculum_steps=[10, 20]), ValueError,
         r"curriculum_steps must be a scalar.*shape \(2,\)"),
        (dict(curriculum_steps=10, min_scale=np.array([1e-3, 1e-4])),
         ValueError, r"min_scale must be a scalar"),
        # None and wrong types.
        (dict(curriculum_steps=None), ValueError,
         r"curriculum_steps is None; give a number"),
        (dict(curriculum_steps=10, initial_ratios=None), ValueError,
         r"initial_ratios is None"),
        (dict(curriculum_steps=10, schedule=None), ValueError,
         r"Unknown schedule None"),
        (dict(curriculum_steps=True), TypeError, r"got the bool True"),
        (dict(curriculum_steps="10"), TypeError, r"must be a real number"),
        # Out of range.
        (dict(curriculum_steps=float("nan")), ValueError,
         r"curriculum_steps must be a finite, positive"),
        (dict(curriculum_steps=float("inf")), ValueError,
         r"curriculum_steps must be a finite, positive"),
        (dict(curriculum_steps=10, min_scale=1e-50), ValueError,
         r"min_scale must be in \[1.175e-38, 1\].*flushed to 0"),
        (dict(curriculum_steps=10, initial_ratios=[1.0, 1e-40]), ValueError,
         r"initial_ratios must lie in \[1.175e-38, 1\]"),
        (dict(curriculum_steps=10, schedule="staircase",
              staircase_factor=float("inf")), ValueError,
         r"staircase_factor must be finite and > 1"),
        (dict(curriculum_steps=10, schedule="staircase", staircase_factor=1.0),
         ValueError, r"staircase_factor must be finite and > 1"),
        (dict(curriculum_steps=10, schedule="staircase", steps_per_event=0),
         ValueError, r"steps_per_event must be a finite, positive"),
        # Settings that belong to another schedule or ratio rule.
        (dict(curriculum_steps=10, steps_per_event=5), ValueError,
         r"steps_per_event=5 does not apply with schedule='exponential'"),
        (dict(curriculum_steps=10, schedule="linear", staircase_factor=10.0),
         ValueError, r"staircase_factor=10.0 does not apply with "
         r"schedule='linear'"),
        (dict(curriculum_steps=10, decay_factor=0.1), ValueError,
         r"decay_factor=0.1 does not apply with initial_ratios='geometric'"),
        (dict(curriculum_steps=10, min_scale=1e-3, initial_ratios=[1.0, 0.1]),
         ValueError, r"min_scale=0.001 does not apply with explicit "
         r"initial_ratios"),
    ],
)
def test_bad_settings_refused(kwargs, error, message):
  with pytest.raises(error, match=message):
    lerac_jax.Curriculum(**kwargs)
  with pytest.raises(error, match=message):  # the transformation's kwargs
    lerac_jax.lerac(optax.sgd(0.1), DEPTHS, **kwargs)


def test_smallest_normal_min_scale_is_accepted_and_not_flushed():
  tiny = float(np.finfo(np.float32).tiny)
  m = lerac_jax.Curriculum(curriculum_steps=10, min_scale=tiny).multipliers(
      0, num_depths=2)
  assert m[1] == np.float32(tiny) and m[1] > 0


# ---------------------------------------------------------------------------
# Traced settings: clamped, and checkable with checkify.
# ---------------------------------------------------------------------------


def _traced_curve(k, s, t):
  return lerac_jax.Curriculum(curriculum_steps=k,
                              min_scale=s).multipliers(t, num_depths=3)


def test_traced_settings_are_clamped_under_jit():
  f = jax.jit(_traced_curve)
  np.testing.assert_array_equal(f(10.0, 1e-4, 0), _traced_curve(10, 1e-4, 0))
  # min_scale = 5 would multiply updates by 5: clamped to 1.
  np.testing.assert_array_equal(f(10.0, 5.0, 0), [1, 1, 1])
  # A NaN (or non-positive) k switches the curriculum off: finite ones.
  np.testing.assert_array_equal(f(jnp.nan, 1e-4, 3), [1, 1, 1])
  np.testing.assert_array_equal(f(-1.0, 1e-4, 3), [1, 1, 1])
  np.testing.assert_array_equal(f(10.0, jnp.nan, 3), [1, 1, 1])
  # 1e-50 is 0 in float32: clamped up to the smallest normal, not frozen.
  assert f(10.0, 0.0, 0)[2] == np.float32(np.finfo(np.float32).tiny)


def test_traced_settings_are_checked_under_checkify():
  checked = jax.jit(checkify.checkify(_traced_curve,
                                      errors=checkify.user_checks))
  err, _ = checked(10.0, 1e-4, 0)
  assert err.get() is None
  err, _ = checked(10.0, 5.0, 0)
  assert "min_scale must be in [1.175e-38, 1]; got 5" in err.get()
  err, _ = checked(jnp.nan, 1e-4, 0)
  assert "curriculum_steps must be a finite, positive" in err.get()


def test_traced_settings_are_clamped_under_inject_hyperparams():
  params = ones_params()
  tx = optax.inject_hyperparams(lerac_jax.lerac)(
      optimizer=optax.sgd(0.1), depths=DEPTHS, curriculum_steps=10,
      min_scale=1e-4)
  state = tx.init(params)
  update = jax.jit(tx.update)
  updates, _ = update(params, state, params)
  np.testing.assert_allclose(updates["head"], -1e-5, rtol=1e-5)
  for name, bad in (("min_scale", 5.0), ("curriculum_steps", jnp.nan)):
    hyper = dict(state.hyperparams, **{name: jnp.asarray(bad, jnp.float32)})
    updates, new_state = update(params, state._replace(hyperparams=hyper),
                                params)
    for leaf in jax.tree.leaves(updates):  # plain SGD: no x5, no NaN
      np.testing.assert_array_equal(leaf, np.float32(-0.1))
    np.testing.assert_array_equal(lerac_jax.current_scales(new_state), 1.0)


# ---------------------------------------------------------------------------
# The transformation.
# ---------------------------------------------------------------------------


def test_logging_reads_the_state_even_with_other_settings_elsewhere():
  tx = lerac_jax.lerac(optax.sgd(1.0), DEPTHS, curriculum_steps=10,
                       min_scale=1e-2, schedule="linear")
  params = ones_params()
  state = tx.init(params)
  for _ in range(4):
    updates, state = tx.update(params, state, params)
  logged = lerac_jax.current_scales(state)
  updates, _ = tx.update(params, state, params)
  np.testing.assert_allclose([-updates[k][0, 0] for k in DEPTHS], logged,
                             rtol=1e-6)


def test_single_depth_warns():
  with pytest.warns(UserWarning, match="single depth.*does nothing"):
    lerac_jax.scale_by_lerac({"a": 0, "b": 0}, curriculum_steps=10)
  tx = lerac_jax.scale_by_lerac(lambda p: {k: 0 for k in p},
                                curriculum_steps=10)
  with pytest.warns(UserWarning, match="single depth"):
    tx.init(ones_params())
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    lerac_jax.scale_by_lerac(DEPTHS, curriculum_steps=10)


def test_callable_depths_must_give_the_same_depths_at_every_trace():
  def by_value(params):  # depends on the values: tracers under jit
    concrete = not isinstance(params["stem"], jax.core.Tracer)
    return {k: (i if concrete else 0) for i, k in enumerate(params)}

  tx = lerac_jax.scale_by_lerac(by_value, **KW)
  params = ones_params()
  state = tx.init(params)
  with pytest.raises(ValueError, match=r"gave 3 depths \(3 entries\) at init "
                     r"but 1 depths \(3 entries\) at a trace of update.*"
                     r"lerac_jax.as_depths\(fn, params\)"):
    jax.jit(tx.update)(params, state)
  # A structure-only callable is fine, at init and at every trace.
  ok = lerac_jax.scale_by_lerac(lambda p: {k: DEPTHS[k] for k in p}, **KW)
  state = ok.init(params)
  jax.jit(ok.update)(params, state)
  ok.update(params, state)


def test_state_that_is_not_a_lerac_state():
  tx = lerac_jax.scale_by_lerac(DEPTHS, **KW)
  params = ones_params()
  chain = lerac_jax.lerac(optax.sgd(0.1), DEPTHS, **KW)
  with pytest.raises(TypeError, match=r"needs the DepthScaleState.*got a tuple"):
    tx.update(params, chain.init(params))
  with pytest.raises(TypeError, match=r"got a dict.*restore into"):
    tx.update(params, {"count": 0})


def test_integer_leaves_pass_through_unchanged():
  params = {"stem": jnp.ones(3), "mid": jnp.ones(3),
            "head": {"w": jnp.ones(3), "step": jnp.array([7, 9], jnp.int32),
                     "flag": jnp.array([True])}}
  tx = lerac_jax.scale_by_lerac(DEPTHS, **KW)
  updates, _ = tx.update(params, tx.init(params))
  np.testing.assert_array_equal(updates["head"]["step"], [7, 9])
  assert updates["head"]["step"].dtype == jnp.int32
  np.testing.assert_array_equal(updates["head"]["flag"], [True])
  np.testing.assert_allclose(updates["head"]["w"], 1e-4, rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_low_precision_multiplies_in_float32(dtype):
  # 1e-8 is 0 in float16; the product 3000 * 1e-8 = 3e-5 is not.
  tx = lerac_jax.scale_by_lerac({"a": 0, "b": 1}, curriculum_steps=10,
                                min_scale=1e-8)
  params = {"a": jnp.full((4,), 3000, dtype), "b": jnp.full((4,), 3000, dtype)}
  updates, _ = jax.jit(tx.update)(params, tx.init(params))
  assert updates["b"].dtype == dtype and updates["a"].dtype == dtype
  np.testing.assert_allclose(np.asarray(updates["b"], np.float32), 3e-5,
                             rtol=1e-2)
  np.testing.assert_array_equal(updates["a"], params["a"])


def test_layer_axis_name_slices_must_add_up_to_the_per_slice_depths():
  """Local slices x axis size must equal the per-slice depths (shard_map)."""
  mesh = jax.make_mesh((1,), ("stage",), axis_types=(AxisType.Auto,))
  params = {"stack": jnp.ones((2, 3))}

  def run(depths):
    tx = lerac_jax.scale_by_lerac(depths, curriculum_steps=10,
                                  layer_axis_name="stage")
    state = lerac_jax.LeracState(jnp.int32(0))
    f = jax.shard_map(lambda g: tx.update(g, state)[0], mesh=mesh,
                      in_specs=({"stack": P("stage")},),
                      out_specs={"stack": P("stage")})
    return jax.jit(f)(params)

  run({"stack": lerac_jax.Stacked((0, 1))})  # 2 slices x 1 device: fine
  with pytest.raises(ValueError, match=r"'stack' holds 2 slices on each of "
                     r"the 1 devices.*\(2 in all\), but its depths entry has "
                     r"4 per-slice depths"):
    run({"stack": lerac_jax.Stacked((0, 1, 2, 3))})  # built for another model


def test_layer_axis_name_outside_shard_map():
  tx = lerac_jax.scale_by_lerac({"stack": lerac_jax.Stacked((0, 1, 2, 3))},
                                curriculum_steps=10, layer_axis_name="stage")
  with pytest.raises(ValueError, match=r"layer_axis_name='stage' is not a "
                     r"mapped axis here"):
    tx.update({"stack": jnp.ones((2, 3))}, lerac_jax.LeracState(jnp.int32(0)))
