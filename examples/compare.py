# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
r"""LeRaC vs conventional vs warm-up vs CBS: regimes x seeds, in one command.

    python -m examples.compare                      # digits, small CNN, CPU
    python -m examples.compare --dataset fashion_mnist --model narrow_resnet \
        --epochs 3 --max_train_examples 10000
    python -m examples.compare --config examples/configs/char_lm.py
    python -m examples.compare --regimes conventional,lerac,lerac/linear \
        --set lerac.min_scale=1e-4

Trains every regime with every seed (same initial weights and batch order
per seed), prints a table (mean ± std of the test metric, difference from
``conventional``, paired t-test, Wilcoxon and McNemar p-values) and writes to
``--out`` (default ``runs/compare-<timestamp>``):

* ``results.json``, ``results.md``, ``config.json``, ``depths.txt``;
* ``lr_curves.png``: per-depth learning rates read back from the optimizer
  state; ``learning_curves.png``: validation metric vs step;
* ``runs/<regime>/seed_<s>/``: ``steps.jsonl`` (per-step loss, base lr and
  per-depth multipliers), ``eval.jsonl`` and TensorBoard event files.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import importlib.util
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import ml_collections
import numpy as np
import tqdm

DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), 'configs',
                              'default.py')


def load_config(path_or_name: str) -> ml_collections.ConfigDict:
  """``get_config()`` of a config file, or of ``examples/configs/<name>.py``."""
  path = path_or_name
  if not os.path.exists(path):
    candidate = os.path.join(os.path.dirname(DEFAULT_CONFIG),
                             path_or_name + '.py')
    if not os.path.exists(candidate):
      raise FileNotFoundError(f'no config file {path_or_name!r} (nor '
                              f'{candidate})')
    path = candidate
  spec = importlib.util.spec_from_file_location('_compare_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _set(config: ml_collections.ConfigDict, dotted: str, value: Any) -> None:
  *parents, leaf = dotted.split('.')
  node = config
  for p in parents:
    node = node[p]
  if leaf not in node:
    raise KeyError(f'unknown config field {dotted!r}')
  node[leaf] = value


def _parse_value(text: str) -> Any:
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
  p = argparse.ArgumentParser(
      prog='python -m examples.compare',
      description=__doc__.split('\n\n', 1)[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--config', default=DEFAULT_CONFIG,
                 help='config file, or a name in examples/configs/ '
                 '(default: default)')
  p.add_argument('--out', default=None,
                 help='output folder (default runs/compare-<timestamp>)')
  p.add_argument('--regimes', default=None,
                 help='comma-separated: conventional, warmup, lerac, '
                 'lerac_reverse, cbs, cbs+lerac; lerac/<schedule> too')
  p.add_argument('--seeds', default=None,
                 help='number of seeds (e.g. 3) or a list (e.g. 0,1,2)')
  p.add_argument('--dataset', help='digits, fashion_mnist, pydoc_text or a '
                 'TFDS name')
  p.add_argument('--data_dir', help='where to look for local data')
  p.add_argument('--download', action='store_true', default=None,
                 help='allow TFDS to download (off by default)')
  p.add_argument('--model', help='small_cnn, resnet18, narrow_resnet, wrn, '
                 'vit, char_transformer')
  p.add_argument('--epochs', type=int, help='number of epochs')
  p.add_argument('--k_epochs', type=float,
                 help='curriculum length k in epochs (warm-up uses the same)')
  p.add_argument('--schedule', help='LeRaC schedule: exponential, linear, '
                 'log, cosine, staircase')
  p.add_argument('--min_scale', type=float,
                 help='LeRaC eta_n(0)/eta0 (e.g. 1e-6)')
  p.add_argument('--group', choices=('layer', 'block'),
                 help='LeRaC depth grouping')
  p.add_argument('--optimizer', choices=('sgd', 'adam', 'adamw', 'adamax'))
  p.add_argument('--lr', type=float, help='base learning rate eta0')
  p.add_argument('--lr_schedule', choices=('constant', 'cosine', 'step'),
                 help='base schedule after the curriculum')
  p.add_argument('--batch_size', type=int)
  p.add_argument('--max_train_examples', type=int,
                 help='train on a fixed subset (0 = all)')
  p.add_argument('--num_train_steps', type=int,
                 help='stop every run after this many steps')
  p.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                 help='override any config field, e.g. lerac.min_scale=1e-4 '
                 '(repeatable)')
  p.add_argument('--no_progress', action='store_true',
                 help='no progress bars')
  p.add_argument('--no_tensorboard', action='store_true',
                 help='do not write TensorBoard event files')
  return p.parse_args(argv)


FLAG_TO_FIELD = {
    'dataset': 'dataset', 'data_dir': 'data_dir', 'download': 'download',
    'model': 'model', 'epochs': 'num_epochs', 'k_epochs': 'k_epochs',
    'schedule': 'lerac.schedule', 'min_scale': 'lerac.min_scale',
    'group': 'lerac.group', 'optimizer': 'optimizer', 'lr': 'learning_rate',
    'lr_schedule': 'lr_schedule', 'batch_size': 'batch_size',
    'max_train_examples': 'max_train_examples',
    'num_train_steps': 'num_train_steps',
}


def build_config(args: argparse.Namespace) -> ml_collections.ConfigDict:
  """The config file with the command-line overrides applied."""
  config = load_config(args.config)
  for flag, field in FLAG_TO_FIELD.items():
    value = getattr(args, flag)
    if value is not None:
      _set(config, field, value)
  if args.regimes:
    config.regimes = tuple(r.strip() for r in args.regimes.split(',') if r)
  if args.seeds:
    seeds = [int(s) for s in str(args.seeds).split(',') if s.strip()]
    config.seeds = tuple(range(seeds[0])) if len(seeds) == 1 else tuple(seeds)
  if args.no_tensorboard:
    config.tensorboard = False
  for item in args.set:
    key, _, value = item.partition('=')
    _set(config, key.strip(), _parse_value(value.strip()))
  return config


def _jsonable(x):
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
      'weights, same batch order); Holm and BH adjust the table\'s t-tests '
      'as one family. McNemar: exact test on per-example test predictions '
      f'(final epoch) against {baseline} with the same seed, descriptive (it '
      'tests one pair of trained networks, not the variation across seeds); '
      'the count of seeds with p < 0.05 is shown, the per-seed p-values are '
      'in results.json.', '',
      '![per-depth learning rates](lr_curves.png)', '',
      '![learning curves](learning_curves.png)', '']
  with open(path, 'w') as f:
    f.write('\n'.join(lines))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Runs the comparison; returns the results dict written to results.json."""
  args = parse_args(argv)
  config = build_config(args)
  # Imported here so that --help answers before JAX starts.
  import lerac_jax  # pylint: disable=g-import-not-at-top
  from examples import plots  # pylint: disable=g-import-not-at-top
  from examples import stats  # pylint: disable=g-import-not-at-top
  from examples import train  # pylint: disable=g-import-not-at-top

  out = args.out or os.path.join(
      'runs', 'compare-' + datetime.datetime.now().strftime('%Y%m%d-%H%M%S'))
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'config.json'), 'w') as f:
    f.write(config.to_json(indent=2))
  t0 = time.time()
  dataset = train.load_dataset(config)
  regimes = [train.Regime.parse(r) for r in config.regimes]  # validate early
  baseline = 'conventional'
  print(f'{dataset.summary()}; model {config.model}; regimes '
        f"{', '.join(r.name for r in regimes)}; seeds {list(config.seeds)}",
        flush=True)
  runs, setup = [], None
  bar = tqdm.tqdm(total=len(regimes) * len(config.seeds), desc='runs',
                  disable=args.no_progress)
  for regime in regimes:
    setup = train.create_setup(config, regime, dataset)
    if regime.lerac and not any(r.lerac for r in regimes[:regimes.index(
        regime)]):
      with open(os.path.join(out, 'depths.txt'), 'w') as f:
        f.write(lerac_jax.describe(
            setup.depths, **train.lerac_kwargs(config, regime,
                                               setup.steps_per_epoch)) + '\n')
    for seed in config.seeds:
      workdir = os.path.join(out, 'runs', regime.name.replace('/', '_'),
                             f'seed_{seed}')
      runs.append(train.train_and_evaluate(
          config, workdir, setup, seed=seed, progress=not args.no_progress))
      bar.update(1)
      bar.set_postfix({'last': f"{regime.name}: {runs[-1]['final']['test']:.4f}"})
  bar.close()
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


def _cli() -> None:
  from examples import input_pipeline  # pylint: disable=g-import-not-at-top
  try:
    main()
  except input_pipeline.DataNotFoundError as e:
    # A missing dataset is a usage problem, not a crash: no traceback.
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  _cli()
