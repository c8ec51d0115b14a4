"""Tests for lerac_jax.transform: equivalence, jit, dtypes, state, errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lerac_jax
from lerac_jax import schedules

DEPTHS = {"stem": 0, "mid": 1, "head": 2}
SHAPES = {"stem": (3, 4), "mid": (4, 4), "head": (4, 2)}
KW = dict(curriculum_steps=20, min_scale=1e-4)


def make_params(seed=0, dtype=None):
  rng = np.random.default_rng(seed)
  dtype = dtype or jnp.asarray(1.0).dtype  # float64 under enable_x64
  return {k: jnp.asarray(rng.normal(size=s), dtype) for k, s in SHAPES.items()}


def quadratic_grads(params, t, xp=np):
  """Deterministic gradients of a moving quadratic, the same in numpy/jnp."""
  return {k: (1.0 + 0.1 * t) * p - xp.cos(t) for k, p in params.items()}


# ---------------------------------------------------------------------------
# Reference: PyTorch-style param groups, each with lr = eta0 * m_j(t).
# ---------------------------------------------------------------------------


def reference_run(kind, eta0, steps, wd=0.0, momentum=0.9, b1=0.9, b2=0.999,
                  eps=1e-8):
  params = {k: np.asarray(v, np.float64) for k, v in make_params().items()}
  ratios = np.asarray(schedules.geometric_ratios(3, KW["min_scale"]), np.float64)
  k = KW["curriculum_steps"]
  state = {n: dict(buf=np.zeros_like(p), m=np.zeros_like(p),
                   v=np.zeros_like(p)) for n, p in params.items()}
  for t in range(steps):
    grads = quadratic_grads(params, t)
    for name, p in params.items():
      lr = eta0 * ratios[DEPTHS[name]] ** (1 - min(t / k, 1.0))
      g, s = grads[name], state[name]
      if kind == "sgd":  # torch.optim.SGD(momentum, weight_decay)
        g = g + wd * p
        s["buf"] = momentum * s["buf"] + g if t else g.copy()
        params[name] = p - lr * s["buf"]
      else:  # torch.optim.Adam / AdamW
        if kind == "adamw":
          p = p * (1 - lr * wd)
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        mhat = s["m"] / (1 - b1 ** (t + 1))
        vhat = s["v"] / (1 - b2 ** (t + 1))
        params[name] = p - lr * mhat / (np.sqrt(vhat) + eps)
  return params


def lerac_run(base, steps, use_lerac=True):
  tx = lerac_jax.lerac(base, DEPTHS, **KW) if use_lerac else base
  params = make_params()
  state = tx.init(params)

  @jax.jit
  def step(params, state, t):
    grads = quadratic_grads(params, t.astype(params["stem"].dtype), xp=jnp)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  for t in range(steps):
    params, state = step(params, state, jnp.int32(t))
  return params


@pytest.mark.parametrize(
    "kind, base, ref_kwargs",
    [
        ("sgd",
         optax.chain(optax.add_decayed_weights(5e-4),
                     optax.sgd(0.05, momentum=0.9)),
         dict(eta0=0.05, wd=5e-4)),
        ("adam", optax.adam(0.01), dict(eta0=0.01)),
        ("adamw", optax.adamw(0.01, weight_decay=0.05), dict(eta0=0.01, wd=0.05)),
    ],
)
def test_matches_per_group_learning_rates(kind, base, ref_kwargs):
  steps = 50  # k = 20: the curriculum, then 30 conventional steps
  # float64, so that 1e-6 measures the curriculum, not Adam's float32 noise.
  with jax.enable_x64(True):
    got = lerac_run(base, steps)
    plain = lerac_run(base, steps, use_lerac=False)
  want = reference_run(kind, steps=steps, **ref_kwargs)
  for name in SHAPES:
    np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6,
                               err_msg=f"{kind}: {name}")
  # The curriculum really acted: without it the deep layers end elsewhere.
  assert np.abs(plain["head"] - got["head"]).max() > 1e-2
  np.testing.assert_allclose(plain["stem"], got["stem"], rtol=1e-6, atol=1e-6)


def test_first_update_uses_count_zero_and_state_is_count_and_scales():
  tx = lerac_jax.scale_by_lerac(DEPTHS, **KW)
  params = make_params()
  state = tx.init(params)
  assert isinstance(state, lerac_jax.LeracState)
  assert state.count.shape == () and state.count.dtype == jnp.int32
  ones = jax.tree.map(jnp.ones_like, params)
  updates, state = tx.update(ones, state)
  np.testing.assert_allclose(updates["head"], 1e-4, rtol=1e-6)
  np.testing.assert_allclose(updates["stem"], 1.0)
  assert int(state.count) == 1
  # Nothing per leaf: the count and one float32 per depth (the multipliers
  # the next update uses), whatever the model.
  assert sum(x.nbytes for x in jax.tree.leaves(state)) == 4 * (3 + 1)
  assert state.scales.shape == (3,) and state.scales.dtype == jnp.float32
  np.testing.assert_allclose(state.scales,
                             lerac_jax.Curriculum(**KW).curve(3)(1))


def test_count_saturates_instead_of_wrapping():
  tx = lerac_jax.scale_by_lerac(DEPTHS, **KW)
  state = lerac_jax.LeracState(jnp.asarray(np.iinfo(np.int32).max, jnp.int32))
  ones = jax.tree.map(jnp.ones_like, make_params())
  updates, state = tx.update(ones, state)
  assert int(state.count) == np.iinfo(np.int32).max
  np.testing.assert_allclose(updates["head"], 1.0)


class JitTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_variants_agree(self):
    tx = lerac_jax.lerac(optax.sgd(0.1), DEPTHS, **KW)
    params = make_params()
    state = self.variant(tx.init)(params)
    update = self.variant(tx.update)
    for _ in range(3):
      updates, state = update(params, state, params)
    np.testing.assert_allclose(updates["head"], -0.1 * params["head"] * float(
        schedules.geometric_ratios(3, 1e-4)[2] ** (1 - 2 / 20)), rtol=1e-5)


def test_no_recompilation_across_steps():
  tx = lerac_jax.lerac(optax.adam(1e-3), DEPTHS, **KW)
  params = make_params()
  state = jax.jit(tx.init)(params)
  update = jax.jit(tx.update)
  for _ in range(25):  # through the end of the curriculum
    updates, state = update(params, state, params)
  assert update._cache_size() == 1


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_low_precision_dtypes_preserved(dtype):
  tx = lerac_jax.lerac(optax.sgd(0.1), DEPTHS, **KW)
  params = make_params(dtype=dtype)
  state = tx.init(params)
  updates, state = jax.jit(tx.update)(params, state, params)
  for name, u in updates.items():
    assert u.dtype == dtype, name
  assert state[1].count.dtype == jnp.int32


def test_stacked_leaf_gets_per_slice_multipliers():
  params = {"layers": jnp.ones((3, 2, 5)), "head": jnp.ones((5,))}
  depths = {"layers": lerac_jax.Stacked((0, 1, 2), axis=0), "head": 3}
  tx = lerac_jax.scale_by_lerac(depths, curriculum_steps=10, min_scale=1e-3)
  updates, _ = tx.update(params, tx.init(params))
  np.testing.assert_allclose(updates["layers"][:, 0, 0], [1, 1e-1, 1e-2],
                             rtol=1e-5)
  np.testing.assert_allclose(updates["head"], 1e-3, rtol=1e-5)
  # Same via a 1-D int array on another axis.
  params2 = {"layers": jnp.ones((2, 3)), "head": jnp.ones((5,))}
  depths2 = {"layers": lerac_jax.Stacked((0, 1, 2), axis=1), "head": 3}
  tx2 = lerac_jax.scale_by_lerac(depths2, curriculum_steps=10, min_scale=1e-3)
  updates2, _ = tx2.update(params2, tx2.init(params2))
  np.testing.assert_allclose(updates2["layers"][0], [1, 1e-1, 1e-2], rtol=1e-5)


def test_depth_values_are_ranks():
  a = lerac_jax.scale_by_lerac({"stem": 0, "mid": 5, "head": 9}, **KW)
  b = lerac_jax.scale_by_lerac(DEPTHS, **KW)
  params = make_params()
  ua, _ = a.update(params, a.init(params))
  ub, _ = b.update(params, b.init(params))
  chex.assert_trees_all_close(ua, ub)


@pytest.mark.parametrize(
    "depths",
    [
        DEPTHS,  # a prefix tree
        {"stem/kernel": 0, "mid": 1, "head": 2},  # path strings
        lambda p: {k: DEPTHS[k] for k in p},  # a structure-only callable
        lerac_jax.as_depths(DEPTHS),
    ],
    ids=["prefix-tree", "path-mapping", "callable", "Depths"],
)
def test_accepted_depth_forms(depths):
  params = {"stem": {"kernel": jnp.ones(2)}, "mid": jnp.ones(2),
            "head": jnp.ones(2)}
  tx = lerac_jax.scale_by_lerac(depths, **KW)
  updates, _ = tx.update(params, tx.init(params))
  np.testing.assert_allclose(updates["stem"]["kernel"], 1.0)
  np.testing.assert_allclose(updates["mid"], 1e-2, rtol=1e-5)
  np.testing.assert_allclose(updates["head"], 1e-4, rtol=1e-5)


def test_abstract_init_and_map_params():
  tx = lerac_jax.lerac(optax.adam(1e-3), DEPTHS, **KW)
  abstract = {k: jax.ShapeDtypeStruct(s, jnp.float32) for k, s in SHAPES.items()}
  state = tx.init(abstract)
  assert state[1].count.shape == ()
  shapes = jax.eval_shape(tx.init, abstract)
  assert shapes[1].count.dtype == jnp.int32
  # optax.tree.map_params calls init with a placeholder, not with params.
  real = tx.init(make_params())
  specs = optax.tree.map_params(tx, lambda _: "param", real,
                                transform_non_params=lambda _: "other")
  assert specs[1].count == "other"
  assert specs[0][0].mu == {k: "param" for k in SHAPES}


def test_inside_inject_hyperparams_with_traced_settings():
  params = make_params()
  tx = optax.inject_hyperparams(lerac_jax.lerac, static_args=("schedule",))(
      optimizer=optax.sgd(0.1), depths=DEPTHS, curriculum_steps=20,
      min_scale=1e-4, schedule="exponential")
  state = tx.init(params)
  update = jax.jit(tx.update)
  ones = jax.tree.map(jnp.ones_like, params)
  updates, state = update(ones, state, params)
  np.testing.assert_allclose(updates["head"], -0.1 * 1e-4, rtol=1e-5)
  # The hyperparameters are now run-time values: change min_scale.
  state.hyperparams["min_scale"] = jnp.asarray(1e-2)
  state.hyperparams["curriculum_steps"] = jnp.asarray(1)
  updates, state = update(ones, state, params)
  np.testing.assert_allclose(updates["head"], -0.1, rtol=1e-5)  # t=1 >= k


def test_differentiable_in_settings_and_vmappable():
  """The per-depth scalars come from a variadic reduce with its own JVP."""
  ones = jax.tree.map(jnp.ones_like, make_params())

  def head_sum(min_scale):
    tx = lerac_jax.scale_by_lerac(DEPTHS, curriculum_steps=20,
                                  min_scale=min_scale)
    updates, _ = tx.update(ones, tx.init(ones))
    return updates["head"].sum()  # = size * min_scale at t = 0

  size = np.prod(SHAPES["head"])
  np.testing.assert_allclose(jax.grad(head_sum)(1e-2), size, rtol=1e-5)
  np.testing.assert_allclose(jax.jacfwd(head_sum)(1e-2), size, rtol=1e-5)
  np.testing.assert_allclose(jax.vmap(head_sum)(jnp.array([1e-2, 1e-3])),
                             [size * 1e-2, size * 1e-3], rtol=1e-5)


def test_one_extra_reduction_per_block_of_depths():
  """Same-shaped layers keep one shared update kernel (compile time).

  The per-depth scalars come from one variadic reduction per block of
  ``PICK_CHUNK`` depths, each over its block's segment only: the compiler's
  work grows like ``D * PICK_CHUNK``, not ``D**2``.
  """
  from lerac_jax import engine

  def reduces(num_layers):
    params = {f"layer{i}": jnp.ones((4, 4)) for i in range(num_layers)}
    depths = {f"layer{i}": i for i in range(num_layers)}
    tx = lerac_jax.scale_by_lerac(depths, curriculum_steps=10)
    hlo = jax.jit(tx.update).lower(params, tx.init(params)).as_text()
    operand_counts = [line.count("%") for line in hlo.splitlines()
                      if "stablehlo.reduce" in line]
    return hlo.count("stablehlo.reduce"), max(operand_counts)

  chunk = engine.PICK_CHUNK
  assert chunk == 32
  assert reduces(2)[0] == reduces(12)[0] == reduces(chunk)[0] == 1
  count, widest = reduces(3 * chunk + 5)
  assert count == 4  # ceil(101 / 32) blocks
  # 32 operands and their 32 init values, and the count carried along in
  # the first one with its init: no reduction spans all 101 depths.
  assert widest == 2 * chunk + 3


def test_masked_leaves_are_exempt_and_ratios_unchanged():
  params = make_params()
  mask = {"stem": False, "mid": True, "head": True}
  tx = optax.masked(lerac_jax.scale_by_lerac(DEPTHS, **KW), mask)
  ones = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(ones, tx.init(params))
  np.testing.assert_allclose(updates["stem"], 1.0)  # untouched by the mask
  # n is taken over the whole depths object: head keeps min_scale, mid 1e-2.
  np.testing.assert_allclose(updates["mid"], 1e-2, rtol=1e-5)
  np.testing.assert_allclose(updates["head"], 1e-4, rtol=1e-5)
  # The same inside optax.partition.
  part = optax.partition(
      {"cur": lerac_jax.lerac(optax.sgd(1.0), DEPTHS, **KW),
       "frozen": optax.set_to_zero()},
      {"stem": "frozen", "mid": "cur", "head": "cur"})
  updates, _ = part.update(ones, part.init(params), params)
  np.testing.assert_allclose(updates["stem"], 0.0)
  np.testing.assert_allclose(updates["head"], -1e-4, rtol=1e-5)


def test_current_scales_reads_the_state_alone():
  tx = lerac_jax.lerac(optax.sgd(0.1), DEPTHS, **KW)
  params = make_params()
  state = tx.init(params)
  np.testing.assert_allclose(lerac_jax.current_scales(state),
                             [1, 1e-2, 1e-4], rtol=1e-5)
  for _ in range(10):
    _, state = tx.update(params, state, params)
  np.testing.assert_allclose(lerac_jax.current_scales(state),
                             [1, 1e-1, 1e-2], rtol=1e-5)
  replicated = jax.tree.map(lambda x: jnp.stack([x, x]), state)  # pmap-like
  assert lerac_jax.current_scales(replicated).shape == (2, 3)
  with pytest.raises(ValueError, match="No LeracState found.*multipliers"):
    lerac_jax.current_scales({"mu": 1.0})
  with pytest.raises(ValueError, match="No LeracState found"):
    lerac_jax.current_scales(20)  # a bare count: use Curriculum.multipliers


def test_current_scales_takes_the_state_alone():
  """The settings are read from the state, never typed a second time."""
  state = lerac_jax.lerac(optax.sgd(0.1), DEPTHS, **KW).init(make_params())
  with pytest.raises(TypeError):
    lerac_jax.current_scales(state, DEPTHS, **KW)  # pylint: disable=too-many-function-args
  # A state built by hand from a count has no multipliers to read.
  with pytest.raises(ValueError, match="holds no multipliers"):
    lerac_jax.current_scales(lerac_jax.LeracState(jnp.int32(3)))


# ---------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------


def test_mismatched_tree_names_missing_and_extra_paths():
  tx = lerac_jax.scale_by_lerac({"stem": 0, "mid": 1, "neck": 2}, **KW)
  with pytest.raises(ValueError) as info:
    tx.init(make_params())
  msg = str(info.value)
  assert "1 parameter(s) have no depth: ['head']" in msg
  assert "match no parameter: ['neck']" in msg


def test_depths_built_for_another_model():
  import flax.linen as nn

  class Small(nn.Module):
    @nn.compact
    def __call__(self, x):
      return nn.Dense(2)(nn.Dense(4)(x))

  depths = lerac_jax.depths_from_model(Small(), jnp.ones((1, 3)))
  tx = lerac_jax.lerac(optax.sgd(0.1), depths, curriculum_steps=5)
  with pytest.raises(ValueError, match=r"built for another model.*"
                     r"depths_from_model"):
    tx.init(make_params())
  # Also caught at the first trace of update, e.g. with a restored state.
  state = lerac_jax.LeracState(jnp.int32(3))
  with pytest.raises(ValueError, match=r"have no depth: \['head', 'mid', "):
    lerac_jax.scale_by_lerac(depths, curriculum_steps=5).update(
        make_params(), state)


def test_stacked_slice_count_mismatch():
  tx = lerac_jax.scale_by_lerac(
      {"layers": lerac_jax.Stacked((0, 1), 0)}, curriculum_steps=5)
  with pytest.raises(ValueError, match=r"'layers' has shape \(3, 4\).*2 "
                     r"per-slice depths along axis 0"):
    tx.init({"layers": jnp.ones((3, 4))})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(curriculum_steps=0), r"curriculum_steps must be a finite, positive"),
        (dict(curriculum_steps=10, min_scale=0.0), r"min_scale must be in \[1.175e-38, 1\]"),
        (dict(curriculum_steps=10, min_scale=1.5), r"min_scale must be in \[1.175e-38, 1\]"),
        (dict(curriculum_steps=10, schedule="exp"), r"valid schedules are"),
        (dict(curriculum_steps=10, initial_ratios=[1.0, 1e-4, 1e-2]),
         r"must be non-increasing with depth"),
    ],
)
def test_bad_settings_fail_when_built(kwargs, message):
  with pytest.raises(ValueError, match=message):
    lerac_jax.lerac(optax.sgd(0.1), DEPTHS, **kwargs)
