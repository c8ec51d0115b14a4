"""Depths of common structures: the relation each model's design implies.

The models are small, written here in the style of the architectures they
stand for (graph networks, conditioned ResNets and U-Nets, DiT, GPT, LoRA,
mixtures of experts).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from flax import traverse_util

import lerac_jax


def t_of(depths):
  return dict(depths.table)


# ---------------------------------------------------------------------------
# Graph network: segment_sum message passing.
# ---------------------------------------------------------------------------


class MLP(nn.Module):
  width: int

  @nn.compact
  def __call__(self, x):
    return nn.Dense(self.width, name="out")(nn.relu(nn.Dense(
        self.width, name="hidden")(x)))


class GraphNetwork(nn.Module):
  """Embedders, then two steps of edge, node and global updates."""

  steps: int = 2

  @nn.compact
  def __call__(self, nodes, edges, senders, receivers):
    n = nodes.shape[0]
    nodes = nn.Dense(8, name="embed_nodes")(nodes)
    edges = nn.Dense(8, name="embed_edges")(edges)
    globals_ = jnp.zeros((1, 8))
    for s in range(self.steps):
      g_e = jnp.broadcast_to(globals_, (edges.shape[0], 8))
      edges = MLP(8, name=f"edge_{s}")(jnp.concatenate(
          [edges, nodes[senders], nodes[receivers], g_e], -1))
      inbox = jax.ops.segment_sum(edges, receivers, n)
      g_n = jnp.broadcast_to(globals_, (n, 8))
      nodes = MLP(8, name=f"node_{s}")(jnp.concatenate(
          [nodes, inbox, g_n], -1))
      globals_ = MLP(8, name=f"global_{s}")(jnp.concatenate(
          [globals_, nodes.sum(0, keepdims=True),
           edges.sum(0, keepdims=True)], -1))
    return nn.Dense(1, name="readout")(globals_)


def test_graph_network_embedders_first_then_edge_node_global_per_step():
  senders = jnp.array([0, 1, 2, 3, 4])
  receivers = jnp.array([1, 2, 3, 4, 0])
  t = t_of(lerac_jax.depths_from_model(
      GraphNetwork(), jnp.ones((5, 3)), jnp.ones((5, 2)), senders,
      receivers))
  assert t["embed_nodes/kernel"] == t["embed_edges/kernel"] == 0
  order = [t[f"{part}_{s}/hidden/kernel"] for s in range(2)
           for part in ("edge", "node", "global")]
  assert order == sorted(order) and len(set(order)) == 6
  assert order[0] == 1


# ---------------------------------------------------------------------------
# Elementwise parameters on the raw input join the first layer they feed.
# ---------------------------------------------------------------------------


class InputNormMLP(nn.Module):

  @nn.compact
  def __call__(self, x):
    x = nn.LayerNorm(name="input_norm")(x)
    return nn.Dense(2, name="head")(nn.relu(nn.Dense(8, name="hidden")(x)))


def test_input_layernorm_adds_no_depth():
  d = lerac_jax.depths_from_model(InputNormMLP(), jnp.ones((2, 4)))
  t = t_of(d)
  assert d.num_depths == 2
  assert t["input_norm/scale"] == t["input_norm/bias"] == 0
  assert t["hidden/kernel"] == 0 and t["head/kernel"] == 1


def test_input_scale_noise_scale_and_alibi_slope_join_their_layers():
  def fn(p, x, noise, mask):
    x = x * p["input_scale"] + p["noise_scale"] * noise
    h = x @ p["q"]
    scores = h @ (x @ p["k"]).T + p["slope"] * mask  # ALiBi-style bias
    h = jax.nn.softmax(scores) @ h
    return h @ p["out"]
  p = {"input_scale": jnp.ones(4), "noise_scale": jnp.ones(()),
       "q": jnp.ones((4, 4)), "k": jnp.ones((4, 4)),
       "slope": jnp.ones(()), "out": jnp.ones((4, 2))}
  x = jnp.ones((3, 4))
  t = t_of(lerac_jax.depths_from_fn(fn, p, x, x, jnp.ones((3, 3))))
  assert t == {"input_scale": 0, "noise_scale": 0, "q": 0, "k": 0,
               "slope": 0, "out": 1}


def test_an_input_scale_that_feeds_no_layer_keeps_the_input_level():
  def fn(p, x):
    return (x * p["scale"]).sum(), x @ p["w"] @ p["v"]
  t = t_of(lerac_jax.depths_from_fn(
      fn, {"scale": jnp.ones(4), "w": jnp.ones((4, 4)),
           "v": jnp.ones((4, 4))}, jnp.ones((3, 4))))
  assert t == {"scale": 0, "w": 0, "v": 1}


# ---------------------------------------------------------------------------
# Conditioned blocks: block depth follows the main path.
# ---------------------------------------------------------------------------


class FiLMBlock(nn.Module):

  @nn.compact
  def __call__(self, h, cond):
    y = nn.relu(nn.Conv(8, (3, 3), name="conv1")(h))
    gamma, beta = jnp.split(nn.Dense(16, name="film")(cond), 2, -1)
    y = y * (1 + gamma[:, None, None]) + beta[:, None, None]
    return nn.relu(h + nn.Conv(8, (3, 3), name="conv2")(y))


class FiLMResNet(nn.Module):

  @nn.compact
  def __call__(self, x, label):
    cond = nn.Dense(8, name="cond_mlp")(nn.Embed(10, 8, name="cond")(label))
    h = nn.Conv(8, (3, 3), name="stem")(x)
    for i in range(3):
      h = FiLMBlock(name=f"block_{i}")(h, cond)
    return nn.Dense(10, name="head")(h.mean((1, 2)))


def test_film_blocks_follow_the_main_path():
  x, label = jnp.ones((2, 8, 8, 3)), jnp.zeros((2,), jnp.int32)
  t = t_of(lerac_jax.depths_from_model(FiLMResNet(), x, label,
                                       group="block"))
  blocks = [t[f"block_{i}/conv1/kernel"] for i in range(3)]
  assert t["stem/kernel"] < blocks[0] < blocks[1] < blocks[2] < t[
      "head/kernel"]
  for i in range(3):  # the FiLM projection belongs to its block
    assert t[f"block_{i}/film/kernel"] == blocks[i]


def sinusoidal(t, freqs):
  angles = t[:, None] * freqs[None]
  return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], -1)


class ResBlock(nn.Module):
  width: int

  @nn.compact
  def __call__(self, h, temb):
    y = nn.Conv(self.width, (3, 3), name="conv1")(nn.silu(h))
    y = y + nn.Dense(self.width, name="time")(nn.silu(temb))[:, None, None]
    y = nn.Conv(self.width, (3, 3), name="conv2")(nn.silu(
        nn.GroupNorm(4, name="norm")(y)))
    skip = h if h.shape[-1] == self.width else nn.Conv(
        self.width, (1, 1), name="skip")(h)
    return skip + y


class UNet(nn.Module):
  """A small diffusion U-Net: down, middle, up with skips; time MLP."""

  @nn.compact
  def __call__(self, x, t):
    freqs = self.param("freqs", lambda _: jnp.exp(-jnp.arange(4.0)))
    temb = nn.Dense(16, name="time_out")(nn.silu(nn.Dense(
        16, name="time_in")(sinusoidal(t, freqs))))
    h = nn.Conv(8, (3, 3), name="conv_in")(x)
    skips = []
    for i in range(2):
      h = ResBlock(8, name=f"down_{i}")(h, temb)
      skips.append(h)
    h = ResBlock(8, name="mid")(h, temb)
    for i in range(2):
      h = ResBlock(8, name=f"up_{i}")(jnp.concatenate([h, skips.pop()], -1),
                                      temb)
    return nn.Conv(3, (3, 3), name="conv_out")(h)


def test_unet_time_frequencies_join_the_time_mlp_and_blocks_increase():
  x, t = jnp.ones((2, 8, 8, 3)), jnp.ones((2,))
  layer = t_of(lerac_jax.depths_from_model(UNet(), x, t))
  assert layer["freqs"] == layer["time_in/kernel"] == 0
  assert layer["conv_in/kernel"] == 0
  block = t_of(lerac_jax.depths_from_model(UNet(), x, t, group="block"))
  order = [block[f"{b}/conv1/kernel"] for b in (
      "down_0", "down_1", "mid", "up_0", "up_1")]
  assert order == sorted(order) and len(set(order)) == 5
  assert block["conv_in/kernel"] < order[0] < block["conv_out/kernel"]
  assert block["down_0/time/kernel"] == order[0]


class DiTBlock(nn.Module):

  @nn.compact
  def __call__(self, x, c):
    mod = nn.Dense(6 * 8, name="adaln")(nn.silu(c))[:, None]
    shift1, scale1, gate1, shift2, scale2, gate2 = jnp.split(mod, 6, -1)
    h = nn.LayerNorm(use_scale=False, use_bias=False)(x) * (1 + scale1)
    h = h + shift1
    x = x + gate1 * nn.MultiHeadDotProductAttention(2, name="attn")(h)
    h = nn.LayerNorm(use_scale=False, use_bias=False)(x) * (1 + scale2)
    h = h + shift2
    return x + gate2 * nn.Dense(8, name="fc2")(nn.gelu(nn.Dense(
        16, name="fc1")(h)))


class DiT(nn.Module):

  @nn.compact
  def __call__(self, patches, t, label):
    freqs = jnp.exp(-jnp.arange(4.0))
    c = nn.Dense(8, name="t_mlp")(sinusoidal(t, freqs))
    c = c + nn.Embed(10, 8, name="y_embed")(label)
    x = nn.Dense(8, name="patch_embed")(patches)
    for i in range(3):
      x = DiTBlock(name=f"block_{i}")(x, c)
    return nn.Dense(4, name="final")(x)


def test_dit_adaln_blocks_follow_the_residual_stream():
  patches, t = jnp.ones((2, 4, 12)), jnp.ones((2,))
  label = jnp.zeros((2,), jnp.int32)
  d = t_of(lerac_jax.depths_from_model(DiT(), patches, t, label,
                                       group="block"))
  blocks = [d[f"block_{i}/adaln/kernel"] for i in range(3)]
  assert d["patch_embed/kernel"] < blocks[0] < blocks[1] < blocks[2]
  assert blocks[2] < d["final/kernel"]
  assert all(d[f"block_{i}/fc2/kernel"] == blocks[i] for i in range(3))


# ---------------------------------------------------------------------------
# A model that overrides init; a model with an extra RNG stream.
# ---------------------------------------------------------------------------


class GPT(nn.Module):
  vocab: int = 16

  def setup(self):
    self.wte = nn.Embed(self.vocab, 8)
    self.blocks = [nn.Dense(8) for _ in range(2)]
    self.ln_f = nn.LayerNorm()

  def init(self, rng):  # pylint: disable=arguments-differ
    return super().init(rng, jnp.zeros((1, 4), jnp.int32))

  def __call__(self, tokens):
    x = self.wte(tokens)
    for block in self.blocks:
      x = x + nn.gelu(block(x))
    return self.wte.attend(self.ln_f(x))


def test_gpt_with_its_own_init_signature():
  model = GPT()
  variables = model.init(jax.random.key(0))  # its own init works as meant
  d = lerac_jax.depths_from_model(model, jnp.zeros((2, 4), jnp.int32))
  t = t_of(d)
  assert set(t) == {"/".join(k) for k in traverse_util.flatten_dict(
      variables["params"])}
  assert t["wte/embedding"] == 0
  assert t["blocks_0/kernel"] == 1 and t["blocks_1/kernel"] == 2


class Noisy(nn.Module):

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(4)(x)
    return nn.Dense(2)(x + jax.random.normal(self.make_rng("noise"),
                                             x.shape))


def test_linen_model_with_an_extra_rng_stream_gets_a_hint_at_rngs():
  with pytest.raises(ValueError, match=r"RNG stream 'noise'.*rngs=\{'params'"
                     r".*'noise': jax.random.key"):
    lerac_jax.depths_from_model(Noisy(), jnp.ones((1, 3)))
  d = lerac_jax.depths_from_model(
      Noisy(), jnp.ones((1, 3)),
      rngs={"params": jax.random.key(0), "noise": jax.random.key(1)})
  assert d.num_depths == 2


# ---------------------------------------------------------------------------
# nnx.LoRA.
# ---------------------------------------------------------------------------


class LoRAMLP(nnx.Module):

  def __init__(self, rngs):
    self.l1 = nnx.LoRA(4, 2, 8, base_module=nnx.Linear(4, 8, rngs=rngs),
                       rngs=rngs)
    self.l2 = nnx.LoRA(8, 2, 3, base_module=nnx.Linear(8, 3, rngs=rngs),
                       rngs=rngs)

  def __call__(self, x):
    return self.l2(nnx.relu(self.l1(x)))


def test_nnx_lora_factors_share_their_layers_depth():
  model = LoRAMLP(nnx.Rngs(0))
  d = lerac_jax.depths_from_model(model, jnp.ones((2, 4)))
  t = t_of(d)
  assert d.num_depths == 2
  for i, layer in enumerate(("l1", "l2")):
    assert t[f"{layer}/lora_a"] == t[f"{layer}/lora_b"] == i
    assert t[f"{layer}/base_module/kernel"] == i


def test_lora_only_optimizer_uses_the_depths_subset():
  model = LoRAMLP(nnx.Rngs(0))
  d = lerac_jax.depths_from_model(model, jnp.ones((2, 4)))
  tx = lerac_jax.lerac(optax.sgd(0.1), d, curriculum_steps=10)
  with pytest.raises(ValueError, match=r"only some of the parameters.*"
                     r"depths\.subset\(nnx\.state\(model, nnx\.LoRAParam"):
    nnx.Optimizer(model, tx, wrt=nnx.LoRAParam)
  lora = d.subset(nnx.state(model, nnx.LoRAParam))
  assert t_of(lora) == {"l1/lora_a": 0, "l1/lora_b": 0, "l2/lora_a": 1,
                        "l2/lora_b": 1}
  tx = lerac_jax.lerac(optax.sgd(0.1), lora, curriculum_steps=10)
  nnx.Optimizer(model, tx, wrt=nnx.LoRAParam)


def test_a_wide_linear_chain_is_not_taken_for_a_factorisation():
  def fn(p, x):
    return (x @ p["a"]) @ p["b"]  # 4 -> 8 -> 2: no narrow rank
  t = t_of(lerac_jax.depths_from_fn(
      fn, {"a": jnp.ones((4, 8)), "b": jnp.ones((8, 2))}, jnp.ones((1, 4))))
  assert t == {"a": 0, "b": 1}


# ---------------------------------------------------------------------------
# Mixtures of experts.
# ---------------------------------------------------------------------------

TOKENS, WIDTH, EXPERTS, HIDDEN = 6, 4, 3, 5
MOE = {"router": jnp.ones((WIDTH, EXPERTS)),
       "experts": jnp.ones((EXPERTS, WIDTH, HIDDEN)),
       "head": jnp.ones((HIDDEN, 2))}


def soft_moe(spec, order, optimize):
  def fn(p, x):
    logits = x @ p["router"]
    operands = {"x": x, "dispatch": jax.nn.softmax(logits, axis=0),
                "experts": p["experts"]}
    subscripts = {"x": "td", "dispatch": "te", "experts": "edh"}
    slots = jnp.einsum(",".join(subscripts[o] for o in order) + "->eh",
                       *(operands[o] for o in order), optimize=optimize)
    y = jnp.einsum("eh,te->th", slots, jax.nn.softmax(logits, axis=1))
    return y @ p["head"]
  del spec
  return fn


@pytest.mark.parametrize("order,optimize", [
    (("x", "dispatch", "experts"), False),
    (("x", "experts", "dispatch"), False),
    (("experts", "dispatch", "x"), False),
    (("dispatch", "x", "experts"), "greedy"),
    (("experts", "x", "dispatch"), "optimal"),
])
def test_soft_moe_depths_do_not_depend_on_the_contraction_order(order,
                                                                 optimize):
  t = t_of(lerac_jax.depths_from_fn(soft_moe(None, order, optimize), MOE,
                                    jnp.ones((TOKENS, WIDTH))))
  assert t == {"router": 0, "experts": 0, "head": 1}


def test_top1_gather_routing_puts_experts_at_their_routers_depth():
  def fn(p, x):
    logits = x @ p["router"]
    choice = jnp.argmax(logits, -1)
    gate = jax.nn.softmax(logits)[jnp.arange(TOKENS), choice]
    y = jnp.einsum("td,tdh->th", x, p["experts"][choice]) * gate[:, None]
    return y @ p["head"]
  t = t_of(lerac_jax.depths_from_fn(fn, MOE, jnp.ones((TOKENS, WIDTH))))
  assert t == {"router": 0, "experts": 0, "head": 1}


def test_embedding_lookup_is_still_a_layer():
  def fn(p, tokens):
    return p["embed"][tokens] @ p["head"]
  t = t_of(lerac_jax.depths_from_fn(
      fn, {"embed": jnp.ones((10, 4)), "head": jnp.ones((4, 2))},
      jnp.zeros((3,), jnp.int32)))
  assert t == {"embed": 0, "head": 1}


# ---------------------------------------------------------------------------
# Optimisation barrier; describe on a variables dict.
# ---------------------------------------------------------------------------


def test_optimization_barrier_keeps_layers_apart():
  def fn(p, x):
    h = jnp.tanh(x @ p["w1"])
    h, w2 = jax.lax.optimization_barrier((h, p["w2"]))
    return h @ w2
  t = t_of(lerac_jax.depths_from_fn(
      fn, {"w1": jnp.ones((4, 4)), "w2": jnp.ones((4, 2))},
      jnp.ones((1, 4))))
  assert t == {"w1": 0, "w2": 1}


class BNHead(nn.Module):

  @nn.compact
  def __call__(self, x):
    x = nn.BatchNorm(use_running_average=True)(nn.Dense(4)(x))
    return nn.Dense(2, kernel_init=nn.initializers.zeros, name="head")(x)


def test_describe_with_the_whole_variables_dict_still_checks_the_head():
  model = BNHead()
  variables = model.init(jax.random.key(0), jnp.ones((1, 3)))
  d = lerac_jax.depths_from_model(model, jnp.ones((1, 3)))
  text = lerac_jax.describe(d, variables)
  assert "['head/kernel'] are all zeros" in text
  other = lerac_jax.describe(d, {"unrelated": np.zeros((2, 2))})
  assert "no leaf of params has a depth" in other
