# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""A ~7B-parameter LLaMA-like model, abstract only: depths and init, no memory.

The model (32 scanned decoder layers, width 4096, SwiGLU 11008, vocab 32000;
6.74e9 float32 parameters, 27 GB if allocated, more than this machine has)
exists only as ``jax.eval_shape`` output (linen ``nn.scan``, layer axis 0 or
1) or ``nnx.eval_shape`` output (NNX ``nnx.vmap`` + ``nnx.scan``).
``depths_from_model``, ``lerac(adamw).init`` (for NNX: an abstract
``nnx.Optimizer``) and one abstract ``update`` must work on it without
allocating: live JAX buffers and the process's peak RSS must not grow. The
times are printed (run with ``-s``).
"""

import resource
import time

from flax import nnx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lerac_jax

VOCAB, DIM, FFN, HEADS, LAYERS = 32000, 4096, 11008, 32, 32
SEQ = 16


class DecoderLayer(nn.Module):
  """Pre-norm attention + SwiGLU MLP, LLaMA style (no biases)."""

  @nn.compact
  def __call__(self, x, _):
    dense = lambda n, name: nn.Dense(n, use_bias=False, name=name)
    h = nn.RMSNorm(name="attention_norm")(x)
    b, s, _ = h.shape
    split = lambda t: t.reshape(b, s, HEADS, DIM // HEADS)
    q, k, v = (split(dense(DIM, n)(h)) for n in ("wq", "wk", "wv"))
    attn = nn.dot_product_attention(q, k, v).reshape(b, s, DIM)
    x = x + dense(DIM, "wo")(attn)
    h = nn.RMSNorm(name="ffn_norm")(x)
    gated = nn.silu(dense(FFN, "w1")(h)) * dense(FFN, "w3")(h)
    return x + dense(DIM, "w2")(gated), None


class Llama(nn.Module):
  stack_axis: int = 0

  @nn.compact
  def __call__(self, tokens):
    x = nn.Embed(VOCAB, DIM, name="tok_embeddings")(tokens)
    layers = nn.scan(DecoderLayer, variable_axes={"params": self.stack_axis},
                     split_rngs={"params": True}, length=LAYERS,
                     metadata_params={nn.PARTITION_NAME: None})
    x, _ = layers(name="layers")(x, None)
    x = nn.RMSNorm(name="norm")(x)
    return nn.Dense(VOCAB, use_bias=False, name="output")(x)


def peak_rss_bytes():
  # Linux reports KiB. A peak, so a transient allocation shows up too.
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def live_bytes():
  return sum(a.nbytes for a in jax.live_arrays())


def check_nothing_allocated(num_params, rss0, live0):
  """Prints the memory growth and asserts no parameter-sized allocation."""
  rss1, live1 = peak_rss_bytes(), live_bytes()
  print(f"peak RSS growth {(rss1 - rss0) / 2**20:.0f} MiB, live JAX buffers "
        f"growth {live1 - live0} bytes")
  assert 6.5e9 < num_params < 7.5e9
  # Nothing the size of a parameter was allocated.
  assert live1 - live0 < 2**20
  assert rss1 - rss0 < 2**30


@pytest.mark.parametrize("stack_axis", [0, 1])
def test_7b_abstract_depths_and_init_allocate_nothing(stack_axis):
  model = Llama(stack_axis=stack_axis)
  tokens = jax.ShapeDtypeStruct((1, SEQ), jnp.int32)
  rss0, live0 = peak_rss_bytes(), live_bytes()

  t0 = time.perf_counter()
  params = jax.eval_shape(model.init, jax.random.key(0), tokens)["params"]
  t1 = time.perf_counter()
  depths = lerac_jax.depths_from_model(model, tokens, group="block",
                                       stack_axis=stack_axis)
  t2 = time.perf_counter()
  tx = lerac_jax.lerac(optax.adamw(3e-4), depths, curriculum_steps=2000,
                       min_scale=1e-6)
  state = jax.eval_shape(tx.init, params)
  t3 = time.perf_counter()
  updates, new_state = jax.eval_shape(tx.update, params, state, params)
  t4 = time.perf_counter()
  lerac_state = lerac_jax.scale_by_lerac(
      depths, curriculum_steps=2000).init(params)  # plain call, no eval_shape
  t5 = time.perf_counter()

  n = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
  print(f"\n7B abstract model (stack_axis={stack_axis}): {n / 1e9:.2f}e9 params"
        f" ({4 * n / 2**30:.1f} GiB as float32); eval_shape(init) "
        f"{t1 - t0:.2f}s, depths_from_model {t2 - t1:.2f}s, "
        f"eval_shape(lerac(adamw).init) {t3 - t2:.2f}s, eval_shape(update) "
        f"{t4 - t3:.2f}s, scale_by_lerac.init {t5 - t4:.3f}s")
  check_nothing_allocated(n, rss0, live0)
  assert all(isinstance(x, jax.ShapeDtypeStruct)
             for x in jax.tree.leaves((params, state, updates, new_state)))

  # One depth for the embedding, one per layer, one for the head; the final
  # norm joins the last layer. Every layer leaf has per-slice depths 1..32.
  assert depths.num_depths == LAYERS + 2
  assert depths.table["tok_embeddings/embedding"] == 0
  assert depths.table["output/kernel"] == LAYERS + 1
  assert depths.table["norm/scale"] == LAYERS
  wq = depths.table["layers/wq/kernel"]
  assert isinstance(wq, lerac_jax.Stacked) and wq.axis == stack_axis
  assert wq.depths == tuple(range(1, LAYERS + 1))
  assert params["layers"]["wq"]["kernel"].shape[stack_axis] == LAYERS

  assert state[1].count.shape == () and state[1].count.dtype == jnp.int32
  assert lerac_state.count.shape == ()
  for p, u, mu in zip(jax.tree.leaves(params), jax.tree.leaves(updates),
                      jax.tree.leaves(state[0][0].mu)):
    assert p.shape == u.shape == mu.shape and p.dtype == u.dtype
  assert t2 - t1 < 60 and t3 - t2 < 60


class NNXDecoderLayer(nnx.Module):
  """:class:`DecoderLayer` in NNX."""

  def __init__(self, rngs):
    dense = lambda i, o: nnx.Linear(i, o, use_bias=False, rngs=rngs)
    self.attention_norm = nnx.RMSNorm(DIM, rngs=rngs)
    self.wq, self.wk, self.wv, self.wo = (dense(DIM, DIM) for _ in range(4))
    self.ffn_norm = nnx.RMSNorm(DIM, rngs=rngs)
    self.w1, self.w3 = dense(DIM, FFN), dense(DIM, FFN)
    self.w2 = dense(FFN, DIM)

  def __call__(self, x):
    h = self.attention_norm(x)
    b, s, _ = h.shape
    split = lambda t: t.reshape(b, s, HEADS, DIM // HEADS)
    attn = nnx.dot_product_attention(split(self.wq(h)), split(self.wk(h)),
                                     split(self.wv(h))).reshape(b, s, DIM)
    x = x + self.wo(attn)
    h = self.ffn_norm(x)
    return x + self.w2(nnx.silu(self.w1(h)) * self.w3(h))


class NNXLlama(nnx.Module):
  """Layers created with ``nnx.vmap`` and run with ``nnx.scan``."""

  def __init__(self, rngs):
    self.tok_embeddings = nnx.Embed(VOCAB, DIM, rngs=rngs)

    @nnx.split_rngs(splits=LAYERS)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def make_layers(rngs):
      return NNXDecoderLayer(rngs)

    self.layers = make_layers(rngs)
    self.norm = nnx.RMSNorm(DIM, rngs=rngs)
    self.output = nnx.Linear(DIM, VOCAB, use_bias=False, rngs=rngs)

  def __call__(self, tokens):
    @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
    def body(x, layer):
      return layer(x)

    x = body(self.tok_embeddings(tokens), self.layers)
    return self.output(self.norm(x))


def test_7b_abstract_nnx_model_and_optimizer_allocate_nothing():
  tokens = jax.ShapeDtypeStruct((1, SEQ), jnp.int32)
  rss0, live0 = peak_rss_bytes(), live_bytes()
  t0 = time.perf_counter()
  model = nnx.eval_shape(lambda: NNXLlama(nnx.Rngs(0)))
  t1 = time.perf_counter()
  depths = lerac_jax.depths_from_model(model, tokens, group="block")
  t2 = time.perf_counter()
  tx = lerac_jax.lerac(optax.adamw(3e-4), depths, curriculum_steps=2000)
  optimizer = nnx.eval_shape(
      lambda: nnx.Optimizer(NNXLlama(nnx.Rngs(0)), tx, wrt=nnx.Param))
  t3 = time.perf_counter()
  # What nnx.Optimizer.update passes: plain arrays, no Variables.
  params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  updates, _ = jax.eval_shape(tx.update, params,
                              jax.eval_shape(tx.init, params), params)
  t4 = time.perf_counter()
  n = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
  print(f"\n7B abstract NNX model: {n / 1e9:.2f}e9 params; "
        f"nnx.eval_shape(model) {t1 - t0:.2f}s, depths_from_model "
        f"{t2 - t1:.2f}s, nnx.eval_shape(nnx.Optimizer) {t3 - t2:.2f}s, "
        f"eval_shape(update) {t4 - t3:.2f}s")
  check_nothing_allocated(n, rss0, live0)
  assert depths.num_depths == LAYERS + 2
  assert depths.table["layers/wq/kernel"] == lerac_jax.Stacked(
      tuple(range(1, LAYERS + 1)), 0)
  count = optimizer.opt_state[1].count.get_value()
  assert count.shape == () and count.dtype == jnp.int32
  mu = optimizer.opt_state[0][0].mu["layers"]["w1"]["kernel"].get_value()
  assert isinstance(mu, jax.ShapeDtypeStruct)
  assert mu.shape == (LAYERS, DIM, FFN)
  for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params)):
    assert u.shape == p.shape and isinstance(u, jax.ShapeDtypeStruct)
