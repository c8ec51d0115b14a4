# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""What ``examples.main`` and ``examples.compare`` share on the command line.

Both take ``--config=<file>`` and ``--config.<field>=<value>`` from
``ml_collections.config_flags``. absl's own ``--help`` exits with status 1
and does not list the config fields, so :func:`parse_flags` answers
``--help`` itself: the program's flags, then the fields of the selected
config that this program reads, with their values, and exit status 0.
:func:`check_config` validates the config before any work
(:mod:`examples.config_check`).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from absl import app
from absl import flags
import ml_collections
from ml_collections import config_flags

from examples import config_check

HELP_FLAGS = ('-h', '-?', '--help', '--helpshort', '--helpfull')

# Defined here, once, for both programs (absl refuses a flag defined twice,
# and the doctests import both modules into one process).
CONFIG = config_flags.DEFINE_config_file(
    'config', os.path.join(os.path.dirname(__file__), 'configs', 'default.py'),
    'Experiment configuration file (a Python file with get_config()).',
    lock_config=True)


def config_fields(config: ml_collections.ConfigDict,
                  prefix: str = 'config') -> Iterator[tuple[str, Any]]:
  """Yields ``('config.a.b', value)`` for every leaf field, depth first.

  Example:
    >>> c = ml_collections.ConfigDict({'lr': 0.1, 'lerac': {'k': 5}})
    >>> list(config_fields(c))
    [('config.lerac.k', 5), ('config.lr', 0.1)]
  """
  for name in sorted(config.keys()):
    value = config[name]
    if isinstance(value, ml_collections.ConfigDict) and value.keys():
      yield from config_fields(value, f'{prefix}.{name}')
    else:
      yield f'{prefix}.{name}', value


def help_text(config: ml_collections.ConfigDict,
              program: str = 'main') -> str:
  """The main module's docstring and flags, then the fields it reads.

  The other program's fields (``regime``/``seed`` for compare,
  ``regimes``/``seeds`` for main) are left out: this one ignores them.
  """
  skipped = {f'config.{field}'
             for other, fields in config_check.PROGRAM_FIELDS.items()
             if other != program for field in fields}
  fields = '\n'.join(f'  --{name}={value!r}'
                     for name, value in config_fields(config)
                     if name not in skipped)
  doc = (sys.modules['__main__'].__doc__ or '').strip()
  own_flags = '\n'.join(
      flags.FLAGS.module_help(module).strip()
      for module in (sys.argv[0], __name__))
  return (f'{doc}\n\n{own_flags}\n\n'
          'Config fields (override any with --config.<field>=<value>; '
          'a tuple takes a comma-separated list, e.g. '
          + ('--config.seeds=0,1,2' if program == 'compare' else
             '--config.step_decay_epochs=30,60') + '):\n' + fields)


def parse_flags(argv: Sequence[str], program: str = 'main') -> list[str]:
  """absl's flag parsing, except that ``--help`` lists the config fields.

  Pass as ``app.run(main, flags_parser=parse_flags)``, or with
  ``functools.partial(parse_flags, program='compare')``.

  Args:
    argv: the command line, program name first.
    program: ``'main'`` or ``'compare'``: whose config fields to list.

  Returns:
    The arguments left after the flags, as ``app.run`` expects.
  """
  if not any(arg in HELP_FLAGS for arg in argv[1:]):
    return app.parse_flags_with_usage(argv)
  rest = [arg for arg in argv if arg not in HELP_FLAGS]
  try:
    flags.FLAGS(rest)
  except flags.Error:
    pass  # e.g. a required flag is missing: still show the help
  config = flags.FLAGS['config'].value
  if not isinstance(config, ml_collections.ConfigDict):
    flags.FLAGS['config'].parse(flags.FLAGS['config'].default)
    config = flags.FLAGS['config'].value
  print(help_text(config, program))
  sys.exit(0)


def route_config_warnings() -> None:
  """Prints each :class:`examples.config_check.ConfigWarning` as one line.

  ``warning: <message>`` on stderr (instead of Python's file:line form), for
  the rest of the program; other warnings are shown as before.
  """
  show = warnings.showwarning

  def show_config_warning(message, category, *args, **kwargs):
    if issubclass(category, config_check.ConfigWarning):
      print(f'warning: {message}', file=sys.stderr)
    else:
      show(message, category, *args, **kwargs)

  warnings.showwarning = show_config_warning
  warnings.simplefilter('always', config_check.ConfigWarning)


def check_config(config: ml_collections.ConfigDict, program: str) -> None:
  """Validates the config; prints every problem and exits 2 if it is bad.

  Args:
    config: the parsed config.
    program: ``'main'`` or ``'compare'``.
  """
  route_config_warnings()
  try:
    config_check.validate(config, program)
  except config_check.ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


def quiet_jax_logging() -> None:
  """Keeps JAX's INFO lines (e.g. 'Unable to initialize backend tpu') out."""
  logging.getLogger('jax').setLevel(logging.WARNING)
