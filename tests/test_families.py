"""Tests for the multiplier families: layer-wise decay and gradual unfreezing."""

import re

import flax.linen as nn
import jax
from jax.sharding import PartitionSpec as P
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lerac_jax

VIT = dict(depth=3, dim=8, patch=4, classes=5, image=8)

# ---------------------------------------------------------------------------
# A small ViT written twice: Flax here, torch below with timm's names.
# ---------------------------------------------------------------------------


class Block(nn.Module):
  dim: int

  @nn.compact
  def __call__(self, x):
    h = nn.LayerNorm(name="norm1")(x)
    q, k, v = jnp.split(nn.Dense(3 * self.dim, name="qkv")(h), 3, axis=-1)
    a = jax.nn.softmax(q @ k.swapaxes(-1, -2) / self.dim**0.5) @ v
    x = x + nn.Dense(self.dim, name="proj")(a)
    h = nn.Dense(2 * self.dim, name="fc1")(nn.LayerNorm(name="norm2")(x))
    return x + nn.Dense(self.dim, name="fc2")(nn.gelu(h))


class ViT(nn.Module):

  @nn.compact
  def __call__(self, x):
    dim = VIT["dim"]
    x = nn.Conv(dim, (VIT["patch"],) * 2, strides=VIT["patch"],
                name="patch_embed")(x)
    x = x.reshape(x.shape[0], -1, dim)
    cls = self.param("cls_token", nn.initializers.normal(0.02), (1, 1, dim))
    x = jnp.concatenate([jnp.broadcast_to(cls, (x.shape[0], 1, dim)), x], 1)
    x = x + self.param("pos_embed", nn.initializers.normal(0.02),
                       (1, x.shape[1], dim))
    for i in range(VIT["depth"]):
      x = Block(dim, name=f"blocks_{i}")(x)
    x = nn.LayerNorm(name="norm")(x)
    return nn.Dense(VIT["classes"], name="head")(x[:, 0])


def torch_vit():
  """The same ViT in torch, with timm's VisionTransformer parameter names."""
  torch = pytest.importorskip("torch")
  tnn = torch.nn
  dim, patch = VIT["dim"], VIT["patch"]
  tokens = (VIT["image"] // patch) ** 2 + 1

  class Attention(tnn.Module):

    def __init__(self):
      super().__init__()
      self.qkv, self.proj = tnn.Linear(dim, 3 * dim), tnn.Linear(dim, dim)

    def forward(self, x):
      q, k, v = self.qkv(x).chunk(3, dim=-1)
      return self.proj((q @ k.transpose(-1, -2) / dim**0.5).softmax(-1) @ v)

  class Mlp(tnn.Module):

    def __init__(self):
      super().__init__()
      self.fc1, self.fc2 = tnn.Linear(dim, 2 * dim), tnn.Linear(2 * dim, dim)

    def forward(self, x):
      return self.fc2(tnn.functional.gelu(self.fc1(x)))

  class TorchBlock(tnn.Module):

    def __init__(self):
      super().__init__()
      self.norm1, self.attn = tnn.LayerNorm(dim), Attention()
      self.norm2, self.mlp = tnn.LayerNorm(dim), Mlp()

    def forward(self, x):
      x = x + self.attn(self.norm1(x))
      return x + self.mlp(self.norm2(x))

  class PatchEmbed(tnn.Module):

    def __init__(self):
      super().__init__()
      self.proj = tnn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x):
      return self.proj(x).flatten(2).transpose(1, 2)

  class TorchViT(tnn.Module):

    def __init__(self):
      super().__init__()
      self.cls_token = tnn.Parameter(torch.zeros(1, 1, dim))
      self.pos_embed = tnn.Parameter(torch.zeros(1, tokens, dim))
      self.patch_embed = PatchEmbed()
      self.blocks = tnn.Sequential(*[TorchBlock()
                                     for _ in range(VIT["depth"])])
      self.norm, self.head = tnn.LayerNorm(dim), tnn.Linear(dim,
                                                            VIT["classes"])

    def forward(self, x):
      x = self.patch_embed(x)
      x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1)
      x = self.norm(self.blocks(x + self.pos_embed))
      return self.head(x[:, 0])

  model = TorchViT()
  assert model(torch.zeros(1, 3, VIT["image"], VIT["image"])).shape == (
      1, VIT["classes"])
  return model


# timm's VisionTransformer.group_matcher(coarse=False), and the rule of
# timm.models._manipulate.group_with_matcher: the key of a name is (group
# ordinal, captured numbers..., suffix); unmatched names (the head) get
# (inf,); keys are sorted and numbered densely, and a key ending in the
# MATCH_PREV_GROUP marker 99999 (the final norm) joins the previous layer.
TIMM_VIT_MATCHER = [
    (r"^cls_token|reg_token|pos_embed|patch_embed|norm_pre", (0,), None),
    (r"^blocks\.(\d+)", (1,), None),
    (r"^norm", (1,), (99999,)),
]


def timm_layer_decay_scales(names, layer_decay):
  """timm's ``param_groups_layer_decay`` lr_scale per parameter name."""

  def key(name):
    for pattern, prefix, suffix in TIMM_VIT_MATCHER:
      m = re.match(pattern, name)
      if m:
        parts = (prefix, m.groups(), suffix)
        return tuple(float(x) for p in parts if p for x in p)
    return (float("inf"),)

  layer_of, lid, groups = {}, -1, {}
  for name in names:
    groups.setdefault(key(name), []).append(name)
  for k in sorted(groups):
    if lid < 0 or k[-1] != 99999:
      lid += 1
    for name in groups[k]:
      layer_of[name] = lid
  layer_max = max(layer_of.values())
  return {n: layer_decay ** (layer_max - layer_of[n]) for n in names}


def torch_name(flax_path):
  """'blocks_1/qkv/kernel' -> 'blocks.1.attn.qkv.weight' (timm's names)."""
  parts = flax_path.split("/")
  leaf = {"kernel": "weight", "scale": "weight"}.get(parts[-1], parts[-1])
  module = parts[:-1]
  if module and module[0].startswith("blocks_"):
    inner = {"qkv": "attn.qkv", "proj": "attn.proj", "fc1": "mlp.fc1",
             "fc2": "mlp.fc2"}.get(module[1], module[1])
    module = ["blocks", module[0][len("blocks_"):], inner]
  elif module == ["patch_embed"]:
    module = ["patch_embed", "proj"]
  return ".".join(module + [leaf])


def test_layer_decay_equals_timm_on_a_vit():
  model = torch_vit()
  x = jnp.ones((1, VIT["image"], VIT["image"], 3))
  params = ViT().init(jax.random.key(0), x)["params"]
  depths = lerac_jax.depths_from_model(ViT(), x, group="block")
  decay = 0.65
  tx = optax.chain(optax.sgd(1.0), lerac_jax.scale_by_layer_decay(depths,
                                                                  decay))
  ones = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(ones, tx.init(params))
  ours = {torch_name(path): float(-leaf.reshape(-1)[0]) for path, leaf in
          lerac_jax.depths.flatten_with_names(updates)}
  names = [n for n, _ in model.named_parameters()]
  assert sorted(ours) == sorted(names)  # the same parameters, both ways
  reference = timm_layer_decay_scales(names, decay)
  assert len(set(reference.values())) == VIT["depth"] + 2
  for name in names:
    np.testing.assert_allclose(ours[name], reference[name], rtol=1e-6,
                               err_msg=name)


def test_layer_decay_values_and_bad_decay():
  np.testing.assert_allclose(lerac_jax.LayerDecay(0.5).curve(4)(7),
                             [0.125, 0.25, 0.5, 1.0])
  for bad in (0.0, 1.5, float("nan")):
    with pytest.raises(ValueError, match=r"decay must be in \(0, 1\]"):
      lerac_jax.scale_by_layer_decay({"a": 0, "b": 1}, bad)


def test_layer_decay_under_inject_hyperparams():
  params = {"a": jnp.ones(2), "b": jnp.ones(2)}
  tx = optax.inject_hyperparams(lerac_jax.scale_by_layer_decay)(
      {"a": 0, "b": 1}, decay=0.5)
  state = tx.init(params)
  updates, state = jax.jit(tx.update)(params, state)
  np.testing.assert_allclose(updates["a"], 0.5)
  hyper = dict(state.hyperparams, decay=jnp.asarray(0.25))
  updates, state = jax.jit(tx.update)(params,
                                      state._replace(hyperparams=hyper))
  np.testing.assert_allclose(updates["a"], 0.25)
  np.testing.assert_allclose(lerac_jax.current_scales(state), [0.25, 1.0])


# ---------------------------------------------------------------------------
# Gradual unfreezing.
# ---------------------------------------------------------------------------

UNFREEZE_DEPTHS = {"stem": 0, "mid": 1, "head": 2}


def run_unfreezing(base, steps, before=False):
  rng = np.random.default_rng(0)
  params = {k: jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)
            for k in UNFREEZE_DEPTHS}
  unfreeze = lerac_jax.scale_by_unfreezing(UNFREEZE_DEPTHS, steps_per_depth=3)
  parts = ([unfreeze] if before else []) + [base, unfreeze]
  tx = optax.chain(*parts)
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    grads = jax.tree.map(lambda p: 2.0 * p - 1.0, params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  history = [params]
  for _ in range(steps):
    params, state = step(params, state)
    history.append(params)
  return history, state


@pytest.mark.parametrize("base", [
    optax.chain(optax.add_decayed_weights(0.1), optax.sgd(0.1, momentum=0.9)),
    optax.adamw(0.1, weight_decay=0.1),
], ids=["sgd_weight_decay", "adamw"])
def test_frozen_parameters_are_bit_identical(base):
  history, _ = run_unfreezing(base, steps=7)
  start = history[0]
  for t, params in enumerate(history):
    # head trains from step 0, mid from step 3, stem from step 6: after t
    # updates, a depth released at step r has changed iff t > r.
    for name, release in (("stem", 6), ("mid", 3)):
      same = np.array_equal(np.asarray(params[name]),
                            np.asarray(start[name]))
      assert same == (t <= release), (name, t)
  assert not np.array_equal(history[1]["head"], start["head"])


def test_unfreezing_before_the_optimizer_keeps_adam_moments_at_zero():
  _, state = run_unfreezing(optax.adam(0.1), steps=2, before=True)
  adam = state[1][0]
  assert not np.any(np.asarray(adam.mu["stem"]))
  assert not np.any(np.asarray(adam.nu["stem"]))
  assert np.all(np.asarray(adam.nu["head"]) > 0)
  _, after_only = run_unfreezing(optax.adam(0.1), steps=2)
  assert np.all(np.asarray(after_only[0][0].nu["stem"]) > 0)  # accumulates


def test_unfreezing_multipliers_and_bad_steps():
  curve = lerac_jax.Unfreezing(steps_per_depth=2).curve(3)
  np.testing.assert_array_equal(
      [curve(t) for t in range(5)],
      [[0, 0, 1], [0, 0, 1], [0, 1, 1], [0, 1, 1], [1, 1, 1]])
  for bad in (0, -1, float("inf")):
    with pytest.raises(ValueError, match="steps_per_depth must be a finite, "
                       "positive number of optimizer steps"):
      lerac_jax.scale_by_unfreezing(UNFREEZE_DEPTHS, bad)


# ---------------------------------------------------------------------------
# Stacked and sharded leaves, for each family.
# ---------------------------------------------------------------------------

FAMILIES = {
    "layer_decay": (lambda d, **kw: lerac_jax.scale_by_layer_decay(
        d, 0.5, **kw), [0.25, 0.5, 1.0]),
    "unfreezing": (lambda d, **kw: lerac_jax.scale_by_unfreezing(
        d, 10, **kw), [0.0, 0.0, 1.0]),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_stacked_leaf_under_jit_and_shard_map(family):
  make, expected = FAMILIES[family]
  params = {"stack": jnp.ones((3, 4))}
  depths = {"stack": lerac_jax.Stacked((0, 1, 2))}
  tx = make(depths)
  updates, _ = jax.jit(tx.update)(params, tx.init(params))
  np.testing.assert_array_equal(updates["stack"][:, 0], expected)

  mesh = jax.make_mesh((1,), ("stage",),
                       axis_types=(jax.sharding.AxisType.Auto,))
  sharded = make(depths, layer_axis_name="stage")
  state = sharded.init(params)
  f = jax.shard_map(lambda g: sharded.update(g, state)[0], mesh=mesh,
                    in_specs=({"stack": P("stage")},),
                    out_specs={"stack": P("stage")})
  np.testing.assert_array_equal(jax.jit(f)(params)["stack"][:, 0], expected)


def test_unfreezing_resumes_from_an_orbax_checkpoint(tmp_path):
  """A restored state keeps its place in the release schedule."""
  ocp = pytest.importorskip("orbax.checkpoint")
  base = optax.adamw(0.1, weight_decay=0.1)
  history, state = run_unfreezing(base, steps=4)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(tmp_path / "ckpt", state)
    ckptr.wait_until_finished()
    restored = ckptr.restore(tmp_path / "ckpt", jax.eval_shape(lambda: state))
  assert isinstance(restored[1], lerac_jax.DepthScaleState)
  assert int(restored[1].count) == 4
  np.testing.assert_array_equal(lerac_jax.all_current_scales(restored)[
      "opt_state[1]"], [0.0, 1.0, 1.0])  # stem is released at step 6
