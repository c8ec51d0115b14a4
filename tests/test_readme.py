# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The Python blocks of the READMEs run as written, and print what they show.

Every ```` ```python ```` block of README.md, examples/README.md and docs/*.md
runs, unless the line before it is ``<!-- not-run -->`` (a fragment that
needs a mesh, a checkpoint, ...). A ```` ```text ```` block preceded by
``<!-- output -->`` is what the last block that ran prints; ``...`` in it
matches anything (doctest's ELLIPSIS), for numbers that vary by machine.
"""

import contextlib
import doctest
import glob
import io
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# docs/recipes.md is run, with checks of what each recipe does, by
# tests/test_recipes.py; running it here too would only double its time.
DOCUMENTS = ['README.md', 'examples/README.md'] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'docs',
                                                             '*.md'))
    if os.path.basename(p) != 'recipes.md')
NOT_RUN = '<!-- not-run -->'
OUTPUT = '<!-- output -->'
# A fenced block, with the non-blank line before it (the marker, if any).
FENCE = re.compile(r'(?:^(?P<before>[^\n]*\S[^\n]*)\n)?^(?P<indent>[ \t]*)'
                   r'```(?P<info>[\w+-]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$',
                   re.M | re.S)


def code_blocks(text):
  """(info, marker, body) of every fenced block, in order."""
  blocks = []
  for m in FENCE.finditer(text):
    before = (m.group('before') or '').strip()
    marker = before if before in (NOT_RUN, OUTPUT) else None
    indent = m.group('indent')
    body = ''.join(line[len(indent):] if line.startswith(indent) else line
                   for line in m.group('body').splitlines(keepends=True))
    blocks.append((m.group('info'), marker, body))
  return blocks


def runnable_examples(text):
  """[(code, expected output or None)] of the blocks meant to run."""
  examples = []
  for info, marker, body in code_blocks(text):
    if info == 'python' and marker != NOT_RUN:
      examples.append([body, None])
    elif marker == OUTPUT:
      assert examples, 'an output block must follow a block that runs'
      examples[-1][1] = body
  return [tuple(e) for e in examples]


def test_the_markers_select_the_blocks_that_run():
  text = '\n'.join([
      'Intro.', '', '```python', 'x = 1', '```', '', '<!-- output -->',
      '```text', '1 ...', '```', '', NOT_RUN, '```python', 'undefined_name',
      '```', '', '```bash', 'ls', '```', '', '- item:', '', '  ```python',
      '  y = 2', '  ```', ''])
  assert runnable_examples(text) == [('x = 1\n', '1 ...\n'), ('y = 2\n', None)]
  assert [b[0] for b in code_blocks(text)] == ['python', 'text', 'python',
                                              'bash', 'python']


def test_ellipsis_output_check_can_fail():
  checker = doctest.OutputChecker()
  assert checker.check_output('a ...\nb\n', 'a 123\nb\n', doctest.ELLIPSIS)
  assert not checker.check_output('a ...\nb\n', 'a 123\nc\n',
                                  doctest.ELLIPSIS)


CASES = [(doc, i, code, want) for doc in DOCUMENTS
         for i, (code, want) in enumerate(
             runnable_examples(open(os.path.join(ROOT, doc)).read()))]


def test_the_readme_has_a_quick_start_that_runs_and_prints():
  assert any(doc == 'README.md' and want for doc, _, _, want in CASES)


@pytest.mark.parametrize('doc,index,code,want', CASES,
                         ids=[f'{c[0]}#{c[1]}' for c in CASES])
def test_block_runs_as_written(doc, index, code, want, tmp_path,
                               monkeypatch):
  del index  # in the test id only
  monkeypatch.chdir(tmp_path)  # a block that writes files writes them here
  stdout = io.StringIO()
  with contextlib.redirect_stdout(stdout):
    exec(compile(code, doc, 'exec'), {'__name__': '__readme__'})  # pylint: disable=exec-used
  if want is not None:
    checker = doctest.OutputChecker()
    got = stdout.getvalue()
    assert checker.check_output(want, got, doctest.ELLIPSIS), (
        checker.output_difference(doctest.Example('', want), got,
                                  doctest.ELLIPSIS))


def test_ci_runs_the_readme_test_command():
  readme = open(os.path.join(ROOT, 'README.md')).read()
  ci = open(os.path.join(ROOT, '.ci', 'run')).read()
  command = "pip install -e '.[test]' && python -m pytest"
  assert f'\n{command}\n' in readme
  assert "python -m pip install -q -e '.[test]' && python -m pytest\n" in ci
