"""Float32 update trajectories of fixed LeRaC settings, and their reference.

``python tests/numerics_golden.py`` rewrites ``numerics_reference.npz``;
``test_numerics.py`` compares against it. Run it only for a deliberate change
of the numerics, and say so in the commit.

The reference keeps, for every step, the first element of each of the 70
single-depth leaves and the whole stacked leaf: every depth's multiplier is
checked at every step, in a file of about 60 KB.
"""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

import lerac_jax

REFERENCE = pathlib.Path(__file__).with_name("numerics_reference.npz")
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


def key(name: str, inject: bool) -> str:
  return f"{name}/{'inject' if inject else 'static'}"


def trajectory(name: str, inject: bool = False) -> np.ndarray:
  """The float32 updates of ``STEPS`` Adam steps, shape ``(STEPS, 82)``."""
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

  rows = []
  for t in range(STEPS):
    params, state, updates = step(params, state, jnp.float32(t))
    rows.append(np.concatenate(
        [np.asarray(updates[f"l{i:02d}"], np.float32).ravel()[:1]
         for i in range(NUM_LEAVES)]
        + [np.asarray(updates["stack"], np.float32).ravel()]))
  return np.stack(rows)


if __name__ == "__main__":
  np.savez_compressed(REFERENCE, **{
      key(name, inject): trajectory(name, inject)
      for name in CASES for inject in (False, True)})
  print(f"wrote {REFERENCE}")
