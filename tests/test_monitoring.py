"""Tests for per-depth monitoring: norms, ratio, rate and the labelled table."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import lerac_jax


def test_norms_equal_a_hand_computation_with_a_stacked_leaf():
  rng = np.random.default_rng(0)
  params = {"embed": {"kernel": rng.normal(size=(3, 2)),
                      "bias": rng.normal(size=(2,))},
            "layers": {"kernel": rng.normal(size=(2, 4, 4))},  # 2 slices
            "head": {"kernel": rng.normal(size=(4, 5))},
            "step": np.array(3, np.int32)}
  params = jax.tree.map(jnp.asarray, params)
  depths = {"embed": 0, "layers": lerac_jax.Stacked((1, 2)), "head": 3,
            "step": 0}
  updates = jax.tree.map(lambda x: 0.01 * x + 0.5, params)
  updates["step"] = params["step"]  # an int leaf: left out of the norms
  scales = jnp.array([1e-3, 1e-2, 1e-1, 1.0])
  stats = jax.jit(lambda u, p, m: lerac_jax.depth_stats(
      depths, u, p, learning_rate=0.5, scales=m))(updates, params, scales)

  def norms(tree):
    f = lambda x: float(np.sum(np.square(np.asarray(x, np.float64))))
    return np.sqrt([
        f(tree["embed"]["kernel"]) + f(tree["embed"]["bias"]),
        f(tree["layers"]["kernel"][0]), f(tree["layers"]["kernel"][1]),
        f(tree["head"]["kernel"])])

  np.testing.assert_allclose(stats.update_norm, norms(updates), rtol=1e-5)
  np.testing.assert_allclose(stats.param_norm, norms(params), rtol=1e-5)
  np.testing.assert_allclose(stats.update_ratio,
                             norms(updates) / norms(params), rtol=1e-5)
  np.testing.assert_allclose(stats.learning_rate, 0.5 * scales, rtol=1e-6)


def test_rows_are_labelled_with_the_modules_describe_prints():
  depths = {"stem": {"kernel": 0, "bias": 0}, "mid": {"kernel": 1},
            "head": {"kernel": 2}}
  params = jax.tree.map(lambda _: jnp.ones(3), depths)
  tx = lerac_jax.lerac(optax.sgd(1.0), depths, curriculum_steps=4,
                       min_scale=1e-2)
  state = tx.init(params)
  scales = lerac_jax.current_scales(state)
  updates, state = tx.update(params, state, params)
  stats = lerac_jax.depth_stats(depths, updates, params, learning_rate=1.0,
                                scales=scales)
  # the effective rate is what moved the parameters: update / gradient
  np.testing.assert_allclose(stats.learning_rate,
                             stats.update_norm / stats.param_norm, rtol=1e-6)
  table = lerac_jax.format_depth_stats(stats, depths).splitlines()
  described = lerac_jax.describe(depths).splitlines()
  assert [r.split()[-1] for r in table[1:]] == [
      r.split()[-1] for r in described[1:4]] == ["stem", "mid", "head"]
  assert table[0].split() == ["depth", "update_norm", "param_norm", "ratio",
                              "learning_rate", "modules"]
