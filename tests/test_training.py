"""A short real training run: a small Flax CNN on sklearn digits with lerac."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.datasets import load_digits

import lerac_jax


class CNN(nn.Module):

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Conv(16, (3, 3), name="conv_in")(x))
    x = nn.relu(nn.Conv(32, (3, 3), strides=2, name="conv_mid")(x))
    x = nn.relu(nn.Dense(64, name="dense")(x.reshape(x.shape[0], -1)))
    return nn.Dense(10, name="classifier")(x)


def digits_split():
  data = load_digits()
  x = (data.images / 16.0).astype(np.float32)[..., None]
  y = data.target.astype(np.int32)
  order = np.random.default_rng(0).permutation(len(x))
  x, y = x[order], y[order]
  return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def train(use_lerac, epochs=8, batch=64, seed=0):
  (x_tr, y_tr), (x_te, y_te) = digits_split()
  model = CNN()
  params = model.init(jax.random.key(seed), x_tr[:1])["params"]
  steps_per_epoch = len(x_tr) // batch
  base = optax.adam(3e-3)
  if use_lerac:
    depths = lerac_jax.depths_from_model(model, x_tr[:1])
    tx = lerac_jax.lerac(base, depths, curriculum_steps=2 * steps_per_epoch,
                         min_scale=1e-4)
  else:
    tx = base
  state = tx.init(params)

  @jax.jit
  def step(params, state, xb, yb):
    def loss_fn(p):
      logits = model.apply({"params": p}, xb)
      return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
    grads = jax.grad(loss_fn)(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  rng = np.random.default_rng(seed)
  for _ in range(epochs):
    order = rng.permutation(len(x_tr))
    for i in range(steps_per_epoch):
      idx = order[i * batch:(i + 1) * batch]
      params, state = step(params, state, x_tr[idx], y_tr[idx])
  logits = model.apply({"params": params}, x_te)
  return float((logits.argmax(-1) == y_te).mean()), state


def test_lerac_cnn_on_digits_reaches_high_accuracy():
  accuracy, state = train(use_lerac=True)
  # Measured 0.970, 0.980, 0.972 test accuracy for seeds 2, 1, 0: a margin below.
  assert accuracy >= 0.95, accuracy
  assert int(state[1].count) == 8 * (1400 // 64)
