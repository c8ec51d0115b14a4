# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
r"""Trains one config under one regime and seed (flax/examples style).

    python -m examples.main --workdir=/tmp/lerac_digits \
        --config=examples/configs/default.py --config.regime=lerac

Any field can be overridden with ``--config.<field>=<value>``; ``--help``
lists those this program reads. The config is validated before any work
(``examples/config_check.py``): a bad value stops with a message naming the
field, its valid range and an example, and exit status 2. Writes
``steps.jsonl``, ``eval.jsonl``, TensorBoard events and ``result.json`` to
``--workdir``. To compare regimes over seeds use
``python -m examples.compare``.
"""

import json
import os
import sys

from absl import app
from absl import flags

from examples import cli

FLAGS = flags.FLAGS

flags.DEFINE_string('workdir', None, 'Directory for logs and result.json.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  cli.quiet_jax_logging()
  config = cli.CONFIG.value
  cli.check_config(config, 'main')
  from examples import config_check  # pylint: disable=g-import-not-at-top
  from examples import input_pipeline  # pylint: disable=g-import-not-at-top
  from examples import train  # pylint: disable=g-import-not-at-top
  try:
    setup = train.create_setup(config, config.regime)
  except (input_pipeline.DataNotFoundError,
          input_pipeline.DataFileError) as e:
    # A missing or damaged dataset is a usage problem: no traceback.
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  config_check.check_run_length(config, setup.steps_per_epoch)
  result = train.train_and_evaluate(config, FLAGS.workdir, setup)
  metric = result['metric']
  print(f"{result['regime']} seed {result['seed']}: test {metric} "
        f"{result['final']['test']:.4f} after {result['epochs']} epochs "
        f"({result['steps']} steps); best validation epoch "
        f"{result['best']['epoch']}: test {metric} "
        f"{result['best']['test']:.4f}")
  if FLAGS.workdir:
    summary = {k: v for k, v in result.items() if k != 'lr_log'}
    summary['final'] = {k: v for k, v in result['final'].items()
                        if k != 'test_correct'}
    summary['best'] = {k: v for k, v in result['best'].items()
                       if k != 'test_correct'}
    with open(os.path.join(FLAGS.workdir, 'result.json'), 'w') as f:
      json.dump(summary, f, indent=1)


if __name__ == '__main__':
  flags.mark_flags_as_required(['workdir'])
  app.run(main, flags_parser=cli.parse_flags)
