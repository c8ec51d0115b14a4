# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
r"""LeRaC vs conventional vs warm-up vs CBS: regimes x seeds, in one command.

    python -m examples.compare                      # digits, small CNN, CPU
    python -m examples.compare --config=examples/configs/fashion_mnist.py
    python -m examples.compare --config.regimes=conventional,lerac,lerac/linear \
        --config.lerac.min_scale=1e-4 --config.seeds=0,1,2,3,4

Any config field can be overridden with ``--config.<field>=<value>``, as in
``examples.main``; ``--help`` lists those this program reads. The config is
validated before any work (``examples/config_check.py``). Trains every regime
with every seed (same initial weights and batch order per seed), prints a
table (mean ± std of the test metric, difference from ``conventional``,
paired t-test, Wilcoxon and McNemar p-values) and writes to ``--out``
(default ``runs/compare-<timestamp>``):

* ``results.json``, ``results.md``, ``config.json``, ``depths.txt``;
* ``lr_curves.png``: per-depth learning rates read back from the optimizer
  state; ``learning_curves.png``: validation metric vs step;
* ``runs/<regime>/seed_<s>/``: ``steps.jsonl`` (per-step loss, base lr and
  per-depth multipliers), ``eval.jsonl`` and TensorBoard event files.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from absl import app
from absl import flags
from absl import logging
import ml_collections
import numpy as np

from examples import cli

FLAGS = flags.FLAGS

flags.DEFINE_string('out', None,
                    'Output folder (default runs/compare-<timestamp>).')


def _jsonable(x):
  """JSON-ready, strict: NaN (a test not run, e.g. too few seeds) is null."""
  if isinstance(x, (float, np.floating)) and math.isnan(x):
    return None
  if isinstance(x, dict):
    return {str(k): _jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_jsonable(v) for v in x]
  if isinstance(x, np.ndarray):
    return x.tolist()
  if isinstance(x, (np.floating, np.integer, np.bool_)):
    return x.item()
  return x


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
  """A run without its bulky per-example and per-step arrays."""
  out = {k: v for k, v in run.items() if k not in ('lr_log', 'best', 'final')}
  out['final'] = {k: v for k, v in run['final'].items()
                  if k != 'test_correct'}
  out['best'] = {k: v for k, v in run['best'].items()
                 if k != 'test_correct'}
  return out


def write_markdown(path: str, table: str, config, dataset, setup_info,
                   wall: float, baseline: str) -> None:
  from examples import stats  # pylint: disable=g-import-not-at-top
  lines = [
      '# LeRaC comparison', '',
      f'- data: {dataset.summary()}',
      f"- model: {config.model}, {setup_info['num_depths']} depths "
      f"({config.lerac.group} grouping); optimizer {config.optimizer}, "
      f'eta0 = {config.learning_rate}, base schedule {config.lr_schedule}, '
      f'batch {config.batch_size}, {config.num_epochs} epochs '
      f"({setup_info['steps_per_epoch']} steps/epoch)",
      f"- curriculum: k = {config.k_epochs} epochs = "
      f"{setup_info['k_steps']} steps; LeRaC schedule "
      f'{config.lerac.schedule}, min_scale {config.lerac.min_scale}; CBS '
      f'sigma {config.cbs.sigma} x {config.cbs.decay} every '
      f'{config.cbs.every_epochs} epochs',
      f'- seeds: {list(config.seeds)}; wall time {wall:.0f} s', '',
      table, '',
      'Final epoch: the model after the last epoch. Best-val epoch: the '
      'epoch with the best validation metric (model selection never looks '
      'at test). Paired t and Wilcoxon tests pair runs by seed (same initial '
      'weights, same batch order) and need at least '
      f"{stats.MIN_PAIRS['t']} and {stats.MIN_PAIRS['wilcoxon']} seeds "
      '(fewer: n/a, no inference); Holm and BH adjust the table\'s t-tests '
      'as one family. McNemar: exact test on per-example test predictions '
      f'(final epoch) against {baseline} with the same seed, descriptive (it '
      'tests one pair of trained networks, not the variation across seeds); '
      'the count of seeds with p < 0.05 is shown, the per-seed p-values are '
      'in results.json.', '',
      '![per-depth learning rates](lr_curves.png)', '',
      '![learning curves](learning_curves.png)', '']
  with open(path, 'w') as f:
    f.write('\n'.join(lines))


def run(config: ml_collections.ConfigDict, out: str | None = None,
        progress: bool | None = None,
        argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Runs the comparison; returns the results dict written to results.json.

  Args:
    config: the experiment config (``regimes``, ``seeds`` and the rest).
    out: output folder; None makes ``runs/compare-<timestamp>``.
    progress: one progress bar per run; None shows them when stderr is a
      terminal, and logs one line per run otherwise.
    argv: the command line, recorded in results.json.

  Returns:
    The results (JSON-ready).
  """
  import lerac_jax  # pylint: disable=g-import-not-at-top
  from examples import config_check  # pylint: disable=g-import-not-at-top
  from examples import plots  # pylint: disable=g-import-not-at-top
  from examples import regimes as regimes_lib  # pylint: disable=g-import-not-at-top
  from examples import stats  # pylint: disable=g-import-not-at-top
  from examples import train  # pylint: disable=g-import-not-at-top

  config_check.validate(config, 'compare')  # before any work
  if progress is None:
    progress = train.show_progress_bar()
  out = out or os.path.join(
      'runs', 'compare-' + datetime.datetime.now().strftime('%Y%m%d-%H%M%S'))
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'config.json'), 'w') as f:
    f.write(config.to_json(indent=2))
  t0 = time.time()
  regimes = regimes_lib.parse_regimes(config.regimes)  # validate early
  dataset = train.load_dataset(config)
  baseline = 'conventional'
  print(f'{dataset.summary()}; model {config.model}; regimes '
        f"{', '.join(r.name for r in regimes)}; seeds {list(config.seeds)}",
        flush=True)
  runs, setup = [], None
  num_runs = len(regimes) * len(config.seeds)
  for regime in regimes:
    setup = train.create_setup(config, regime, dataset)
    if regime is regimes[0]:
      config_check.check_run_length(config, setup.steps_per_epoch)
    if regime.lerac and not os.path.exists(os.path.join(out, 'depths.txt')):
      with open(os.path.join(out, 'depths.txt'), 'w') as f:
        f.write(lerac_jax.describe(
            setup.depths, **train.lerac_kwargs(config, regime,
                                               setup.steps_per_epoch)) + '\n')
    for seed in config.seeds:
      workdir = os.path.join(out, 'runs', regime.name.replace('/', '_'),
                             f'seed_{seed}')
      result = train.train_and_evaluate(config, workdir, setup, seed=seed,
                                        progress=progress)
      runs.append(result)
      if not progress:
        logging.info('[%d/%d] %s seed %d: test %s %.4f (%.1f s)', len(runs),
                     num_runs, regime.name, seed,
                     stats.metric_label(result['metric'],
                                        result['higher_is_better']),
                     result['final']['test'], result['wall_time'])
  wall = time.time() - t0

  rows = stats.summarise(runs, baseline)
  table = stats.format_table(rows, baseline)
  metric = runs[0]['metric']
  plots.plot_lr_curves(runs, os.path.join(out, 'lr_curves.png'))
  plots.plot_learning_curves(runs, os.path.join(out, 'learning_curves.png'),
                             metric)
  setup_info = {'num_depths': setup.depths.num_depths,
                'steps_per_epoch': setup.steps_per_epoch,
                'k_steps': train.curriculum_steps(config,
                                                  setup.steps_per_epoch)}
  results = {
      'config': json.loads(config.to_json()), 'dataset': dataset.summary(),
      'metric': metric, 'baseline': baseline, 'wall_time_s': wall,
      **setup_info, 'table': rows,
      'runs': [_run_summary(r) for r in runs],
      'argv': list(sys.argv if argv is None else argv),
  }
  with open(os.path.join(out, 'results.json'), 'w') as f:
    json.dump(_jsonable(results), f, indent=1)
  write_markdown(os.path.join(out, 'results.md'), table, config, dataset,
                 setup_info, wall, baseline)
  print()
  print(table)
  print(f'\n{len(runs)} runs in {wall:.0f} s; results, figures and logs in '
        f'{out}', flush=True)
  return _jsonable(results)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.quiet_jax_logging()
  cli.route_config_warnings()
  from examples import config_check  # pylint: disable=g-import-not-at-top
  from examples import input_pipeline  # pylint: disable=g-import-not-at-top
  try:
    run(cli.CONFIG.value, FLAGS.out, argv=sys.argv)
  except (config_check.ConfigError, input_pipeline.DataNotFoundError,
          input_pipeline.DataFileError) as e:
    # A bad config, a missing or damaged dataset: usage, not a crash.
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  app.run(main, flags_parser=functools.partial(cli.parse_flags,
                                               program='compare'))
