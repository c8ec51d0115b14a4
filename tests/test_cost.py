"""The instructions the engine adds to a compiled Adam step, by depth count.

The compiled step's ENTRY computation is where each instruction is a kernel,
a parameter, a constant or a get-tuple-element (a buffer of a multi-output
kernel, no launch). The engine's per-depth multipliers come out of one
variadic reduction per block of ``PICK_CHUNK`` depths, one scalar buffer per
depth, so the update kernels of same-shaped layers stay identical (compiled
once) and the multiply is fused into the optimizer's last elementwise kernel.
What it adds is then: the count (a parameter), the ratios (a constant), the
reductions (the first one also gives the next count) and the next state's
multipliers (kernels), and one scalar buffer per depth. Picking the scalar with a slice fused into
each update kernel would add no buffer per depth but would make every layer's
kernel distinct (several times the compile time at 200 same-shaped layers).
"""

import math
import re

import jax
import jax.numpy as jnp
import optax
import pytest

import lerac_jax
from lerac_jax import engine

_INSTRUCTION = re.compile(r"^(ROOT\s+)?%?([\w.\-]+)\s*=\s*.*?\s([\w\-]+)\(")


def entry_instructions(text: str) -> dict:
  """ENTRY instructions of an HLO module's text, counted by kind."""
  counts = {"kernel": 0, "get-tuple-element": 0, "parameter": 0,
            "constant": 0, "tuple": 0}
  in_entry = False
  for line in text.splitlines():
    s = line.strip()
    if s.startswith("ENTRY"):
      in_entry = True
      continue
    if in_entry and s == "}":
      break
    m = _INSTRUCTION.match(s) if in_entry else None
    if m:
      opcode = m.group(3)
      counts[opcode if opcode in counts else "kernel"] += 1
  return counts


def compiled_step(tx, params):
  def step(params, state):
    updates, state = tx.update(params, state, params)
    return optax.apply_updates(params, updates), state

  return jax.jit(step).lower(params, tx.init(params)).compile().as_text()


@pytest.mark.parametrize("num_depths", [2, 24, 200])
def test_entry_instructions_added_to_adam(num_depths):
  params = {f"l{i:03d}": {"kernel": jnp.full((8, 8), 1.0 + i),
                          "bias": jnp.zeros(8)} for i in range(num_depths)}
  depths = {name: i for i, name in enumerate(params)}
  plain = entry_instructions(compiled_step(optax.adam(1e-3), params))
  lerac = entry_instructions(compiled_step(lerac_jax.lerac(
      optax.adam(1e-3), depths, curriculum_steps=100, min_scale=1e-4),
                                           params))
  added = {k: lerac[k] - plain[k] for k in plain}
  blocks = math.ceil(num_depths / engine.PICK_CHUNK)
  print(f"{num_depths} depths: ENTRY {sum(plain.values())} -> "
        f"{sum(lerac.values())}, added {added}")
  # No kernel per depth: the update kernels are the plain optimizer's.
  assert added["kernel"] <= 2 + blocks
  assert added["parameter"] == 1 and added["constant"] <= 1
  # One scalar per depth and the next count, out of the reductions.
  assert added["get-tuple-element"] <= num_depths + 1
