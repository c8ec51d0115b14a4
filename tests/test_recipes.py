# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Every recipe in docs/recipes.md runs and does what the page says.

tests/test_readme.py runs the page's blocks and compares what they print with
the page. Here each recipe runs again and its claims that printing cannot
show are checked on the objects it built: the curriculum ends when it
should, the spec tree has the state's structure and shards a real ``init``,
schedule-free's evaluation params follow the curriculum only with ``lerac``
inside, and so on. Every section of the page must have a check.
"""

import contextlib
import io
import os
import re

import jax
from jax.sharding import PartitionSpec as P
import numpy as np
import optax
import pytest

import lerac_jax
from tests.test_readme import runnable_examples

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, 'docs', 'recipes.md')


def sections():
  """{heading: [code of each block that runs]} of the page's ## sections."""
  text = open(PAGE).read()
  parts = re.split(r'^## (.+)$', text, flags=re.M)
  return {heading: [code for code, _ in runnable_examples(body)]
          for heading, body in zip(parts[1::2], parts[2::2])}


def run(code):
  """The globals a block leaves, and what it printed."""
  namespace = {'__name__': '__recipe__'}
  stdout = io.StringIO()
  with contextlib.redirect_stdout(stdout):
    exec(compile(code, PAGE, 'exec'), namespace)  # pylint: disable=exec-used
  return namespace, stdout.getvalue()


def is_spec(x):
  return isinstance(x, P)


def check_nnx_optimizer(blocks):
  (code,) = blocks
  ns, out = run(code)
  first = [float(r) for r in out.splitlines()[0].split('rates')[1].split()]
  assert first == sorted(first, reverse=True) and first[-1] < first[0]
  # k is one epoch, and three were trained: every depth is at the base rate.
  np.testing.assert_array_equal(
      lerac_jax.current_scales(ns['optimizer'].opt_state), 1.0)
  assert ns['accuracy'] > 0.8


def check_partition_specs(blocks):
  rule_code, optax_code = blocks
  rule = run(rule_code)[0]['lerac_state_partition_rule']
  state = lerac_jax.scale_by_lerac(
      {'a': 0, 'b': 1}, curriculum_steps=3).init({'a': 1.0, 'b': 1.0})
  specs = rule(state, params_axes=None)
  assert type(specs) is lerac_jax.LeracState  # pylint: disable=unidiomatic-typecheck
  assert all(v is None for v in specs)  # t5x: not partitioned

  ns, _ = run(optax_code)
  state_axes, state_shape = ns['state_axes'], ns['state_shape']
  assert (jax.tree.structure(state_axes, is_leaf=is_spec)
          == jax.tree.structure(state_shape))
  assert state_axes[-1] == lerac_jax.LeracState(count=P(), scales=P())
  param_axes = jax.tree.leaves(ns['param_axes'], is_leaf=is_spec)
  adam = state_axes[0][0]
  for moment in (adam.mu, adam.nu):
    assert jax.tree.leaves(moment, is_leaf=is_spec) == param_axes
  # The specs shard a real init: logical -> mesh axes -> NamedSharding.
  nn = ns['nn']
  mesh = jax.make_mesh((1,), ('model',))
  shardings = nn.logical_to_mesh_sharding(state_axes, mesh, ns['rules'])
  params = nn.unbox(ns['model'].init(jax.random.key(0), ns['x'])['params'])
  opt_state = jax.jit(ns['tx'].init, out_shardings=shardings)(params)
  assert opt_state[-1].scales.sharding.spec == P()


def check_contrib(blocks):
  (code,) = blocks
  ns, _ = run(code)
  # Inside: the head of the evaluation params has barely moved in 10 steps.
  assert ns['moved']['head'] < 1e-4 < 1e-2 < ns['moved']['hidden']
  # Outside, as the page warns, the evaluation params ignore the curriculum.
  outside = lerac_jax.lerac(optax.contrib.schedule_free_sgd(0.1),
                            ns['depths'], curriculum_steps=100)
  params, state = ns['train'](outside)
  eval_params = optax.contrib.schedule_free_eval_params(state[0], params)
  head = np.linalg.norm(eval_params['head']['kernel']
                        - ns['params0']['head']['kernel'])
  assert head > 100 * ns['moved']['head']
  want = lerac_jax.Curriculum(curriculum_steps=100).multipliers(
      10, num_depths=2)
  for state in (ns['state'], ns['muon_state']):
    np.testing.assert_allclose(lerac_jax.current_scales(state), want,
                               rtol=1e-6)


def check_multisteps(blocks):
  (code,) = blocks
  ns, out = run(code)
  # One line per real update, k of them, and the curriculum is over.
  assert len(out.splitlines()) == ns['k']
  np.testing.assert_array_equal(lerac_jax.current_scales(ns['state']), 1.0)
  assert int(ns['state'].gradient_step) == ns['k']


CHECKS = {
    'An `nnx.Optimizer` training loop': check_nnx_optimizer,
    'Partition specs for the state (t5x, paxml, Flax logical axes)':
        check_partition_specs,
    '`optax.contrib`: schedule-free and Muon': check_contrib,
    '`optax.MultiSteps`: gradient accumulation': check_multisteps,
}


def test_every_recipe_is_checked():
  assert set(sections()) == set(CHECKS)
  assert all(sections().values()), 'a recipe without a block that runs'


@pytest.mark.parametrize('heading', list(CHECKS))
def test_recipe(heading):
  CHECKS[heading](sections()[heading])
