"""Tests for the engine, scale_by_depth, and for reading its states."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lerac_jax

DEPTHS = {"stem": 0, "mid": 1, "head": 2}


def ones_params():
  return {k: jnp.ones((2, 3)) for k in DEPTHS}


def trained(tx, steps=1):
  """The per-depth factor each update applies, over ``steps`` updates."""
  params = ones_params()
  state = tx.init(params)
  rows = []
  for _ in range(steps):
    updates, state = tx.update(params, state, params)
    rows.append([float(-updates[k][0, 0]) for k in DEPTHS])
  return np.asarray(rows), state


# ---------------------------------------------------------------------------
# The forms of the multipliers.
# ---------------------------------------------------------------------------


def test_static_sequence():
  tx = optax.chain(optax.sgd(1.0),
                   lerac_jax.scale_by_depth(DEPTHS, [0.0, 0.5, 2.0]))
  rows, state = trained(tx, steps=2)
  np.testing.assert_array_equal(rows, [[0.0, 0.5, 2.0]] * 2)
  np.testing.assert_array_equal(lerac_jax.current_scales(state),
                                [0.0, 0.5, 2.0])


def test_traceable_function_of_the_count():
  def warmup(count):  # depth d reaches 1 at step d + 1
    return jnp.minimum(1.0, (count + 1.0) / jnp.arange(1.0, 4.0))

  tx = optax.chain(optax.sgd(1.0), lerac_jax.scale_by_depth(DEPTHS, warmup))
  params = ones_params()
  state = tx.init(params)
  step = jax.jit(tx.update)
  for t in range(4):
    np.testing.assert_allclose(lerac_jax.current_scales(state), warmup(t))
    updates, state = step(params, state, params)
    np.testing.assert_allclose([-updates[k][0, 0] for k in DEPTHS],
                               warmup(t), rtol=1e-6)


def test_sequence_under_inject_hyperparams_changes_at_run_time():
  tx = optax.inject_hyperparams(lerac_jax.scale_by_depth)(
      DEPTHS, multipliers=jnp.array([0.1, 0.5, 1.0]))
  params = ones_params()
  state = tx.init(params)
  step = jax.jit(tx.update)
  updates, state = step(params, state)
  np.testing.assert_allclose(updates["stem"], 0.1)
  hyper = dict(state.hyperparams, multipliers=jnp.array([1.0, 0.0, 2.0]))
  updates, state = step(params, state._replace(hyperparams=hyper))
  np.testing.assert_allclose([updates[k][0, 0] for k in DEPTHS],
                             [1.0, 0.0, 2.0])


@pytest.mark.parametrize("multipliers, message", [
    ([1.0, 0.5], r"has 2 entries but the depths object has 3 depths"),
    ([1.0, -0.5, 1.0], r"finite and >= 0; entries \[1\] are \[-0.5\]"),
    ([1.0, np.nan, 1.0], r"finite and >= 0; entries \[1\]"),
    ([[1.0, 1.0, 1.0]], r"one number per depth.*shape \(1, 3\)"),
    (lambda count: jnp.ones(2), r"returned shape \(2,\).*shape \(3,\)"),
])
def test_bad_multipliers_are_refused(multipliers, message):
  with pytest.raises(ValueError, match=message):
    lerac_jax.scale_by_depth(DEPTHS, multipliers).init(ones_params())


def test_stacked_and_low_precision_leaves():
  params = {"stack": jnp.ones((3, 2), jnp.bfloat16), "step": jnp.int32(4)}
  depths = {"stack": lerac_jax.Stacked((0, 1, 2)), "step": 0}
  tx = lerac_jax.scale_by_depth(depths, [1e-8, 0.5, 1.0])
  updates, _ = tx.update(jax.tree.map(lambda x: x * 3000, params),
                         tx.init(params))
  assert updates["stack"].dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(updates["stack"][:, 0], np.float32),
                             [3e-5, 1500, 3000], rtol=1e-2)
  assert int(updates["step"]) == 12000  # an int leaf passes through


def _stacked_case():
  """Three scanned stacks with different depth patterns, two of one length,
  as in a scanned Transformer's attention, MLP and norm leaves."""
  params = {"attn": jnp.ones((3, 2)), "mlp": jnp.ones((3, 4, 2)),
            "norm": jnp.ones((2, 5)), "head": jnp.ones((2,))}
  depths = {"attn": lerac_jax.Stacked((0, 2, 4)),
            "mlp": lerac_jax.Stacked((1, 3, 5)),
            "norm": lerac_jax.Stacked((1, 2)), "head": 6}
  multipliers = jnp.asarray([1.0, 0.5, 0.25, 0.125, 1 / 16, 1 / 32, 1 / 64])
  return params, depths, multipliers


def _primitives(fn, *args):
  """The primitives of ``fn``'s jaxpr, nested ones included."""
  return re.findall(r"= (\w+)\[", str(jax.make_jaxpr(fn)(*args)))


def test_stacked_leaves_take_their_rows_from_one_reduction_per_length():
  params, depths, multipliers = _stacked_case()
  tx = lerac_jax.scale_by_depth(depths, multipliers)
  state = tx.init(params)
  updates, _ = jax.jit(tx.update)(params, state)
  m = np.asarray(multipliers)
  np.testing.assert_array_equal(updates["attn"][:, 0], m[[0, 2, 4]])
  np.testing.assert_array_equal(updates["mlp"][:, 0, 0], m[[1, 3, 5]])
  np.testing.assert_array_equal(updates["norm"][:, 0], m[[1, 2]])
  np.testing.assert_array_equal(updates["head"], [m[6]] * 2)
  names = _primitives(tx.update, params, state)
  # No gather per stack: the rows of length 3 and of length 2 each come out
  # of one variadic reduction (with the scalars' one: three in all).
  assert "gather" not in names
  assert names.count("reduce") == 3, names


def test_stacked_rows_past_the_size_limit_are_gathered_and_agree(
    monkeypatch):
  params, depths, multipliers = _stacked_case()
  tx = lerac_jax.scale_by_depth(depths, multipliers)
  expected, _ = tx.update(params, tx.init(params))
  monkeypatch.setattr(lerac_jax.engine, "ROW_PICK_MAX_ELEMENTS", 0)
  state = tx.init(params)
  got, _ = tx.update(params, state)  # read at trace time: the new limit
  jax.tree.map(np.testing.assert_array_equal, got, expected)
  assert "gather" in _primitives(tx.update, params, state)


def test_stacked_rows_differentiate_like_a_gather():
  _, depths, multipliers = _stacked_case()
  values = list(jax.tree.leaves(depths))

  def total(m):
    rows = lerac_jax.engine._stacked_rows(m, values)
    return sum(jnp.sum(r * jnp.arange(1.0, r.size + 1)) for r in rows.values())

  def gathered(m):
    rows = {v.depths: m[np.asarray(v.depths)] for v in values
            if isinstance(v, lerac_jax.Stacked)}
    return sum(jnp.sum(r * jnp.arange(1.0, r.size + 1)) for r in rows.values())

  np.testing.assert_array_equal(jax.grad(total)(multipliers),
                                jax.grad(gathered)(multipliers))


# ---------------------------------------------------------------------------
# Composition, and reading the states.
# ---------------------------------------------------------------------------


def test_two_engines_in_a_chain_multiply_and_each_can_be_read():
  warmup = lerac_jax.scale_by_lerac(DEPTHS, curriculum_steps=4,
                                    min_scale=1e-2)
  decay = lerac_jax.scale_by_layer_decay(DEPTHS, decay=0.5)
  tx = optax.chain(optax.sgd(1.0), warmup, decay)
  params = ones_params()
  state = tx.init(params)
  for _ in range(5):
    read = lerac_jax.all_current_scales(state)
    assert list(read) == ["opt_state[1]", "opt_state[2]"]
    updates, state = tx.update(params, state, params)
    np.testing.assert_allclose(
        [-updates[k][0, 0] for k in DEPTHS],
        np.asarray(read["opt_state[1]"]) * np.asarray(read["opt_state[2]"]),
        rtol=1e-6)
  with pytest.raises(ValueError, match=r"holds 2 per-depth scalings, at "
                     r"opt_state\[1\], opt_state\[2\].*all_current_scales"):
    lerac_jax.current_scales(state)
  np.testing.assert_array_equal(lerac_jax.current_scales(state[2]),
                                [0.25, 0.5, 1.0])


def test_partition_with_one_curriculum_per_group_is_never_read_silently():
  """One lerac per optax.partition group: both are read, labelled."""
  params = ones_params()
  groups = {"stem": "body", "mid": "body", "head": "top"}
  with pytest.warns(UserWarning, match="single depth"):  # the head's
    tx = optax.partition({
        "body": lerac_jax.lerac(optax.sgd(1.0), {"stem": 0, "mid": 1},
                                curriculum_steps=100, min_scale=1e-2),
        "top": lerac_jax.lerac(optax.sgd(1.0), {"head": 0},
                               curriculum_steps=2),
    }, groups)
  state = tx.init(params)
  with pytest.raises(ValueError, match=r"ambiguous, so none is picked"):
    lerac_jax.current_scales(state)
  read = lerac_jax.all_current_scales(state)
  body = "opt_state.inner_states['body'].inner_state[1]"
  top = "opt_state.inner_states['top'].inner_state[1]"
  assert list(read) == [body, top]
  updates, _ = tx.update(params, state, params)
  np.testing.assert_allclose(-updates["head"][0, 0], read[top][0])
  np.testing.assert_allclose([-updates["stem"][0, 0], -updates["mid"][0, 0]],
                             read[body], rtol=1e-6)


def test_nested_curricula_are_read_as_a_product():
  inner = lerac_jax.lerac(optax.sgd(1.0), DEPTHS, curriculum_steps=10,
                          min_scale=1e-2)
  tx = lerac_jax.lerac(inner, DEPTHS, curriculum_steps=10, min_scale=1e-2)
  params = ones_params()
  state = tx.init(params)
  with pytest.raises(ValueError, match="2 per-depth scalings"):
    lerac_jax.current_scales(state)
  read = list(lerac_jax.all_current_scales(state).values())
  updates, _ = tx.update(params, state, params)
  np.testing.assert_allclose(-updates["head"][0, 0], 1e-4, rtol=1e-5)
  np.testing.assert_allclose(read[0][2] * read[1][2], 1e-4, rtol=1e-5)


# ---------------------------------------------------------------------------
# Errors that name the cause.
# ---------------------------------------------------------------------------


def test_callable_depths_reused_for_a_second_model_names_the_other_tree():
  tx = lerac_jax.scale_by_lerac(lambda p: {k: i for i, k in enumerate(p)},
                                curriculum_steps=10)
  tx.init(ones_params())
  other = {"encoder": jnp.ones(2), "decoder": jnp.ones(2)}
  with pytest.raises(ValueError, match=r"another tree of 2 leaves.*new: "
                     r"\['decoder', 'encoder'\].*One transformation serves "
                     r"one model") as info:
    tx.init(other)
  assert "value" not in str(info.value)


def test_inside_optax_flatten_names_flatten():
  tx = optax.flatten(lerac_jax.lerac(optax.sgd(0.1), DEPTHS,
                                     curriculum_steps=10))
  with pytest.raises(ValueError, match=r"inside optax.flatten.*outside it"):
    tx.init(ones_params())


def test_callable_depths_under_inject_hyperparams_names_static_args():
  def by_structure(params):  # under inject_hyperparams: called with a count
    return jax.tree.map(lambda _: jnp.int32(0), params)

  factory = optax.inject_hyperparams(lerac_jax.scale_by_lerac)
  with pytest.raises(TypeError, match=r"taken for a schedule.*static_args="
                     r"\('depths',\)"):
    factory(by_structure, curriculum_steps=10).init(ones_params())
  fixed = optax.inject_hyperparams(lerac_jax.scale_by_lerac,
                                   static_args=("depths",))
  with pytest.warns(UserWarning, match="single depth"):
    fixed(by_structure, curriculum_steps=10).init(ones_params())


# ---------------------------------------------------------------------------
# A setting changed between two updates: refresh_scales reads the new one.
# ---------------------------------------------------------------------------


def next_update_factors(tx, state):
  updates, _ = tx.update(ones_params(), state, ones_params())
  return np.asarray([-updates[k][0, 0] for k in DEPTHS])


def test_restored_into_other_settings_reads_what_trains_after_refresh():
  old = lerac_jax.lerac(optax.sgd(1.0), DEPTHS, curriculum_steps=10,
                        min_scale=1e-2)
  new = lerac_jax.lerac(optax.sgd(1.0), DEPTHS, curriculum_steps=20,
                        min_scale=1e-4)
  params = ones_params()
  state = old.init(params)
  for _ in range(3):
    _, state = old.update(params, state, params)
  restored = jax.tree.map(jnp.array, state)  # as from a checkpoint
  trains = next_update_factors(new, restored)
  stale = np.asarray(lerac_jax.current_scales(restored))
  assert not np.allclose(stale, trains, rtol=1e-3)  # written by the old one
  refreshed = jax.jit(lerac_jax.refresh_scales, static_argnums=0)(
      new, restored, params)
  np.testing.assert_allclose(lerac_jax.current_scales(refreshed), trains,
                             rtol=1e-6)
  assert int(lerac_jax.transform.find_count(refreshed)) == 3
  np.testing.assert_array_equal(next_update_factors(new, refreshed), trains)


def test_k_changed_through_inject_hyperparams_reads_what_trains():
  tx = optax.inject_hyperparams(lerac_jax.lerac)(
      optimizer=optax.sgd(1.0), depths=DEPTHS, curriculum_steps=100,
      min_scale=1e-2)
  params = ones_params()
  state = tx.init(params)
  for _ in range(4):
    _, state = tx.update(params, state, params)
  state = state._replace(hyperparams=dict(
      state.hyperparams, curriculum_steps=jnp.asarray(2.0)))
  trains = next_update_factors(tx, state)
  np.testing.assert_allclose(trains, 1.0)  # k = 2 < step 4: done
  assert lerac_jax.current_scales(state).min() < 0.1  # still k = 100's
  np.testing.assert_allclose(
      lerac_jax.current_scales(lerac_jax.refresh_scales(tx, state, params)),
      trains)
