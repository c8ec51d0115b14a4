"""Float32 update trajectories of fixed LeRaC settings, as sha256 digests.

``python tests/numerics_golden.py`` prints the digests; ``test_numerics.py``
checks them, so a change to the library that moves any float32 update by a
single bit fails.
"""

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

import lerac_jax

CASES = {
    "exponential-geometric": dict(curriculum_steps=20, min_scale=1e-4),
    "linear-decay": dict(curriculum_steps=15, schedule="linear",
                         initial_ratios="decay", decay_factor=0.3,
                         min_scale=1e-3),
    "log-explicit": dict(curriculum_steps=12, schedule="log",
                         initial_ratios=None),
    "cosine": dict(curriculum_steps=25.5, schedule="cosine", min_scale=1e-7),
    "staircase": dict(curriculum_steps=24, schedule="staircase",
                      min_scale=1e-6),
    "staircase-events": dict(curriculum_steps=24, schedule="staircase",
                             steps_per_event=5, staircase_factor=4.0,
                             min_scale=1e-5),
}
NUM_LEAVES = 70  # more single-leaf depths than one chunk of the picker
STEPS = 30


def make_problem():
  rng = np.random.default_rng(0)
  params = {f"l{i:02d}": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)
            for i in range(NUM_LEAVES)}
  params["stack"] = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
  depths = {f"l{i:02d}": i % 37 for i in range(NUM_LEAVES)}
  depths["stack"] = lerac_jax.Stacked((0, 10, 20, 40))
  return params, depths


def digest(name: str, inject: bool = False) -> str:
  params, depths = make_problem()
  kw = dict(CASES[name])
  if kw.get("initial_ratios", "") is None:
    kw["initial_ratios"] = tuple(np.geomspace(1.0, 1e-5, 38).tolist())
  if inject:
    tx = optax.inject_hyperparams(lerac_jax.lerac, static_args=(
        "schedule", "initial_ratios"))(optax.adam(1e-2), depths, **kw)
  else:
    tx = lerac_jax.lerac(optax.adam(1e-2), depths, **kw)
  state = tx.init(params)

  @jax.jit
  def step(params, state, t):
    grads = jax.tree.map(lambda p: jnp.cos(p * t) + 0.1 * p, params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, updates

  h = hashlib.sha256()
  for t in range(STEPS):
    params, state, updates = step(params, state, jnp.float32(t))
    for leaf in jax.tree.leaves(updates):
      h.update(np.asarray(leaf, np.float32).tobytes())
  return h.hexdigest()[:16]


if __name__ == "__main__":
  for name in CASES:
    for inject in (False, True):
      print(f"    ({name!r}, {inject}): {digest(name, inject)!r},")
