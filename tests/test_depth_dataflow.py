"""Depth from the dataflow graph: one test per model structure."""

import threading
import time
import types as pytypes

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import lerac_jax

X = jnp.ones((2, 8))


def t_of(depths):
  return dict(depths.table)


# ---------------------------------------------------------------------------
# Parallel branches share a depth.
# ---------------------------------------------------------------------------


class Attention(nn.Module):

  @nn.compact
  def __call__(self, x):
    q, k, v = (nn.Dense(8, name=n)(x) for n in ("query", "key", "value"))
    scores = jax.nn.softmax(jnp.einsum("bd,cd->bc", q, k))
    return nn.Dense(8, name="out")(scores @ v)


def test_attention_qkv_share_a_depth_and_scores_add_none():
  t = t_of(lerac_jax.depths_from_model(Attention(), X))
  assert t["query/kernel"] == t["key/kernel"] == t["value/kernel"] == 0
  assert t["out/kernel"] == 1  # q @ k^T (data x data) adds no level


class BiLSTM(nn.Module):

  @nn.compact
  def __call__(self, tokens):
    x = nn.Embed(20, 8, name="embed")(tokens)
    fwd = nn.RNN(nn.LSTMCell(8), name="forward")(x)
    bwd = nn.RNN(nn.LSTMCell(8), reverse=True, keep_order=True,
                 name="backward")(x)
    return nn.Dense(2, name="head")(jnp.concatenate([fwd, bwd], -1)[:, -1])


def test_lstm_gates_and_both_directions_share_a_depth():
  tokens = jnp.zeros((2, 5), jnp.int32)
  d = lerac_jax.depths_from_model(BiLSTM(), tokens)
  t = t_of(d)
  # The cells (named where they are built) of both directions: 8 gate
  # projections each, the hidden ones first multiplying the zero carry.
  gates = {p: v for p, v in t.items() if p.startswith("LSTMCell_")}
  assert {p.split("/")[0] for p in gates} == {"LSTMCell_0", "LSTMCell_1"}
  assert len(gates) == 24 and set(gates.values()) == {1}
  assert t["embed/embedding"] == 0 and t["head/kernel"] == 2
  assert d.num_depths == 3


class VAE(nn.Module):

  @nn.compact
  def __call__(self, x):
    h = nn.relu(nn.Dense(16, name="enc")(x))
    mean, logvar = nn.Dense(4, name="mean")(h), nn.Dense(4, name="logvar")(h)
    z = mean + jnp.exp(0.5 * logvar)
    return nn.Dense(8, name="dec")(z)


def test_vae_twin_heads_share_a_depth():
  t = t_of(lerac_jax.depths_from_model(VAE(), X))
  assert t["mean/kernel"] == t["logvar/kernel"] == t["logvar/bias"] == 1
  assert t["dec/kernel"] == 2


class RMSNormOwn(nnx.Module):
  """A norm class the library does not know by name."""

  def __init__(self, dim):
    self.weight = nnx.Param(jnp.zeros(dim))

  def __call__(self, x):
    x = x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + 1e-6)
    return x * (1 + self.weight)


class GatedMLP(nnx.Module):

  def __init__(self, rngs):
    self.embed = nnx.Linear(8, 8, rngs=rngs)
    self.norm = RMSNormOwn(8)
    self.gate = nnx.Linear(8, 16, rngs=rngs)
    self.up = nnx.Linear(8, 16, rngs=rngs)
    self.down = nnx.Linear(16, 8, rngs=rngs)
    self.final_norm = RMSNormOwn(8)

  def __call__(self, x):
    x = self.embed(x)
    h = self.norm(x)
    x = x + self.down(nnx.gelu(self.gate(h)) * self.up(h))
    return self.final_norm(x)


def test_gate_up_share_a_depth_and_an_unknown_norm_joins_its_layer():
  d = lerac_jax.depths_from_model(GatedMLP(nnx.Rngs(0)), X)
  t = t_of(d)
  assert t["gate/kernel"] == t["up/kernel"] == 1
  assert t["norm/weight"] == t["embed/kernel"] == 0  # joins, no norm_types
  assert t["final_norm/weight"] == t["down/kernel"] == 2
  assert d.num_depths == 3


# ---------------------------------------------------------------------------
# Ensembles: a vmapped leaf is one op, one depth.
# ---------------------------------------------------------------------------


class Ensemble(nn.Module):

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(8, name="stem")(x)
    members = nn.vmap(nn.Dense, variable_axes={"params": 0},
                      split_rngs={"params": True}, in_axes=None,
                      axis_size=4)(8, name="members")
    return nn.Dense(2, name="head")(members(x).mean(0))


def test_linen_vmapped_ensemble_is_one_depth():
  t = t_of(lerac_jax.depths_from_model(Ensemble(), X))
  assert t["members/kernel"] == 1 and isinstance(t["members/kernel"], int)
  assert t["head/kernel"] == 2


class NNXEnsemble(nnx.Module):

  def __init__(self, rngs):
    self.stem = nnx.Linear(8, 8, rngs=rngs)

    @nnx.split_rngs(splits=4)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def make(rngs):
      return nnx.Linear(8, 8, rngs=rngs)

    self.members = make(rngs)
    self.head = nnx.Linear(8, 2, rngs=rngs)

  def __call__(self, x):
    @nnx.vmap(in_axes=(0, None))
    def run(member, x):
      return member(x)

    return self.head(run(self.members, self.stem(x)).mean(0))


def test_nnx_vmapped_ensemble_is_one_depth():
  t = t_of(lerac_jax.depths_from_model(NNXEnsemble(nnx.Rngs(0)), X))
  assert t["members/kernel"] == 1 and isinstance(t["members/kernel"], int)
  assert t["head/kernel"] == 2


# ---------------------------------------------------------------------------
# Blocks.
# ---------------------------------------------------------------------------


class Decoder(nn.Module):
  """Everything under one parent, as lm1b's ``decoder/...``."""

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(8, name="embed")(x)
    for i in range(3):
      x = x + nn.Dense(8, name=f"block_{i}")(nn.LayerNorm(name=f"ln_{i}")(x))
    return nn.Dense(2, name="logits")(nn.LayerNorm(name="final_norm")(x))


class LM(nn.Module):

  @nn.compact
  def __call__(self, x):
    return Decoder(name="decoder")(x)


def test_blocks_under_one_parent_each_get_a_depth():
  d = lerac_jax.depths_from_model(LM(), X, group="block")
  t = t_of(d)
  assert d.num_depths == 5
  assert [t[f"decoder/block_{i}/kernel"] for i in range(3)] == [1, 2, 3]
  assert t["decoder/final_norm/scale"] == 3  # joins the last block
  with pytest.raises(ValueError, match=r"block_level=1 puts every parameter "
                     r"in one block.*block_level=None.*here 2"):
    lerac_jax.depths_from_model(LM(), X, group="block", block_level=1)


class NNXListNet(nnx.Module):

  def __init__(self, rngs):
    self.layers = nnx.List([nnx.Linear(8, 8, rngs=rngs) for _ in range(4)])

  def __call__(self, x):
    for layer in self.layers:
      x = nnx.relu(layer(x))
    return x


def test_nnx_list_blocks_each_get_a_depth():
  d = lerac_jax.depths_from_model(NNXListNet(nnx.Rngs(0)), X, group="block")
  assert [d.table[f"layers/{i}/kernel"] for i in range(4)] == [0, 1, 2, 3]


def nnx_blocks():
  from tests.test_depth import NNXLoop, NNXScanned  # pylint: disable=g-import-not-at-top
  return NNXScanned(nnx.Rngs(0)), NNXLoop(nnx.Rngs(0))


@pytest.mark.parametrize("group", ["layer", "block"])
def test_nnx_scan_matches_loop(group):
  scanned, loop = nnx_blocks()
  d_scan = lerac_jax.depths_from_model(scanned, X, group=group)
  d_loop = lerac_jax.depths_from_model(loop, X, group=group)
  assert d_scan.num_depths == d_loop.num_depths == (
      7 if group == "block" else 12)
  for leaf in ("norm/scale", "fc1/kernel", "fc2/bias"):
    got = d_scan.table[f"layers/{leaf}"]
    assert got.depths == tuple(d_loop.table[f"layers/{i}/{leaf}"]
                               for i in range(5)), leaf


# ---------------------------------------------------------------------------
# Frameworks and primitives.
# ---------------------------------------------------------------------------


class LinenMLP(nn.Module):

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(8, name="a")(x))
    x = nn.LayerNorm(name="norm")(x)
    return nn.Dense(2, name="b")(x)


def test_to_nnx_wrapped_linen_is_ordered():
  model = nnx.bridge.ToNNX(LinenMLP(), rngs=nnx.Rngs(0))
  nnx.bridge.lazy_init(model, X)
  t = t_of(lerac_jax.depths_from_model(model, X))
  assert t["a/kernel"] == t["norm/scale"] == 0 and t["b/kernel"] == 1


def test_equinox_mlp_and_cnn():
  key = jax.random.key(0)
  mlp = eqx.nn.MLP(8, 2, width_size=16, depth=3, key=key)
  t = t_of(lerac_jax.depths_from_model(mlp, jnp.ones(8)))
  assert [t[f"layers/{i}/weight"] for i in range(4)] == [0, 1, 2, 3]
  assert t["layers/3/bias"] == 3

  class CNN(eqx.Module):
    conv1: eqx.nn.Conv2d
    conv2: eqx.nn.Conv2d
    head: eqx.nn.Linear

    def __init__(self, key):
      k1, k2, k3 = jax.random.split(key, 3)
      self.conv1 = eqx.nn.Conv2d(1, 4, 3, key=k1)
      self.conv2 = eqx.nn.Conv2d(4, 4, 3, key=k2)
      self.head = eqx.nn.Linear(4, 2, key=k3)

    def __call__(self, x):
      x = jax.nn.relu(self.conv2(jax.nn.relu(self.conv1(x))))
      return self.head(x.mean((1, 2)))

  t = t_of(lerac_jax.depths_from_model(CNN(key), jnp.ones((1, 8, 8))))
  assert (t["conv1/weight"], t["conv2/weight"], t["head/weight"]) == (0, 1, 2)
  assert t["conv2/bias"] == 1


def test_plain_jax_function_with_tied_embedding_and_weight_standardisation():
  def fn(p, tokens):
    w = p["w"] - p["w"].mean(0)  # parameter-only preprocessing
    x = p["embed"][tokens]  # lookup: level 1
    x = jnp.tanh(x @ w + p["b"])
    return x @ p["embed"].T  # tied output: keeps its first, lower level

  p = {"embed": jnp.ones((10, 4)), "w": jnp.ones((4, 4)), "b": jnp.ones(4)}
  d = lerac_jax.depths_from_fn(fn, p, jnp.zeros((3,), jnp.int32))
  assert t_of(d) == {"b": 1, "embed": 0, "w": 1}


@jax.custom_vjp
def clip_grad(x):
  return x


clip_grad.defvjp(lambda x: (x, None), lambda _, g: (jnp.clip(g, -1, 1),))


class Primitives(nn.Module):

  @nn.compact
  def __call__(self, x):
    x = nn.remat(nn.Dense)(8, name="remat")(x)
    x = nn.jit(nn.Dense)(8, name="jitted")(x)
    x = clip_grad(nn.Dense(8, name="custom")(x))
    branch_a = nn.Dense(8, name="branch_a")
    branch_b = nn.Dense(8, name="branch_b")
    x = nn.cond(x.sum() > 0, lambda m, y: branch_a(y), lambda m, y: branch_b(y),
                self, x)
    return nn.Dense(2, name="head")(x)


def test_remat_jit_custom_vjp_and_cond():
  t = t_of(lerac_jax.depths_from_model(Primitives(), X))
  assert [t[f"{n}/kernel"] for n in ("remat", "jitted", "custom")] == [0, 1, 2]
  assert t["branch_a/kernel"] == t["branch_b/kernel"] == 3
  assert t["head/kernel"] == 4


class RNN(nn.Module):

  @nn.compact
  def __call__(self, xs):
    h = nn.RNN(nn.SimpleCell(16), name="rnn")(nn.Dense(16, name="inp")(xs))
    return nn.Dense(2, name="head")(h[:, -1])


def test_rnn_over_1000_steps_is_symbolic():
  xs = jax.ShapeDtypeStruct((2, 1000, 4), jnp.float32)
  t0 = time.perf_counter()
  d = lerac_jax.depths_from_model(RNN(), xs)
  elapsed = time.perf_counter() - t0
  print(f"RNN over 1,000 steps: depths in {elapsed:.2f}s")
  t = t_of(d)
  assert t["inp/kernel"] == 0 and t["head/kernel"] == 2
  cell = {v for p, v in t.items() if p.startswith("SimpleCell_0/")}
  assert cell == {1} and d.num_depths == 3


def test_two_threads_discover_the_same_depths():
  scanned, _ = nnx_blocks()
  expected = lerac_jax.depths_from_model(scanned, X)
  results, errors = [], []

  def run():
    try:
      for _ in range(2):
        results.append(lerac_jax.depths_from_model(scanned, X))
    except Exception as e:  # pylint: disable=broad-except
      errors.append(e)

  threads = [threading.Thread(target=run) for _ in range(2)]
  for th in threads:
    th.start()
  for th in threads:
    th.join()
  assert not errors
  assert len(results) == 4 and all(r == expected for r in results)


def test_stack_axis_out_of_range_names_the_valid_range():
  from tests.test_depth import ScannedTransformer  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match=r"stack_axis=5 is out of range for the "
                     r"stacked parameter 'layers/.*' of shape .*: valid axes "
                     r"are 0\.\.[12]"):
    lerac_jax.depths_from_model(ScannedTransformer(), X, stack_axis=5)


# ---------------------------------------------------------------------------
# describe.
# ---------------------------------------------------------------------------


def test_describe_flags_one_depth_and_a_zero_head():
  assert "WARNING: a single depth" in lerac_jax.describe({"a": 0})
  params = {"stem": {"kernel": jnp.ones((4, 4))},
            "head": {"kernel": jnp.zeros((4, 2))}}
  text = lerac_jax.describe({"stem": 0, "head": 1}, params)
  assert "['head/kernel'] are all zeros" in text
  params["head"]["kernel"] = jnp.ones((4, 2))
  assert "WARNING" not in lerac_jax.describe({"stem": 0, "head": 1}, params)


# ---------------------------------------------------------------------------
# Validation of the depth values and rules.
# ---------------------------------------------------------------------------


def test_depths_is_validated_and_immutable():
  with pytest.raises(ValueError, match=r"exactly 0\.\.1 \(dense\); got \[0, 5\]"):
    lerac_jax.Depths({"a": 0, "b": 5}, 2)
  d = lerac_jax.Depths({"a": 0, "b": 1}, 2)
  assert isinstance(d.table, pytypes.MappingProxyType)
  with pytest.raises(TypeError):
    d.table["a"] = 1  # type: ignore[index]
  source = {"a": 0}
  d = lerac_jax.as_depths(source)
  source["b"] = 3
  assert dict(d.table) == {"a": 0}


def test_stacked_refuses_non_integers_and_bad_axes():
  with pytest.raises(TypeError, match="Stacked depth 0 must be an int; got "
                     "float 0.3"):
    lerac_jax.Stacked((0.3, 0.7))
  with pytest.raises(TypeError, match="Stacked.axis must be an int; got the "
                     "bool True"):
    lerac_jax.Stacked((0, 1), True)
  with pytest.raises(ValueError, match="Stacked.axis must be >= 0"):
    lerac_jax.Stacked((0, 1), -1)


def test_flat_key_colliding_with_nested_path_is_refused():
  with pytest.raises(ValueError, match=r"same path 'a/b': \['a'\]\['b'\] and "
                     r"\['a/b'\]"):
    lerac_jax.as_depths({"a/b": 0, "a": {"b": 1}})


def test_tuple_keys_mixed_with_strings_are_refused():
  assert dict(lerac_jax.as_depths({("a", "b"): 0, ("c",): 1}).table) == {
      "a/b": 0, "c": 1}
  with pytest.raises(TypeError, match="mixes tuple keys"):
    lerac_jax.as_depths({("a", "b"): 0, "c": 1})


def test_rules_typos_dicts_and_bad_regexes():
  params = {"stem": {"kernel": jnp.ones(1)}, "head": {"kernel": jnp.ones(1)}}
  with pytest.raises(ValueError, match=r"1 depth rule\(s\) match no parameter "
                     r"path: \['\^haed'\]"):
    lerac_jax.depths_from_rules(params, [("^stem", 0), ("^haed", 1),
                                         ("^head", 1)])
  with pytest.warns(UserWarning, match=r"match no parameter path: \['\^haed'\]"
                    ".*get default="):
    lerac_jax.depths_from_rules(params, [("^stem", 0), ("^haed", 1)],
                                default=2)
  with pytest.raises(TypeError, match="not a dict"):
    lerac_jax.depths_from_rules(params, {"^stem": 0, "^head": 1})
  with pytest.raises(ValueError, match=r"invalid regular expression '\(stem'"):
    lerac_jax.depths_from_rules(params, [("(stem", 0)])


def test_multiplier_of_a_rule_depths_object_round_trips_pickle():
  import pickle  # pylint: disable=g-import-not-at-top
  d = lerac_jax.as_depths({"a": 0, "b": lerac_jax.Stacked((1, 2))})
  assert pickle.loads(pickle.dumps(d)) == d
  np.testing.assert_equal(d.num_depths, 3)
