# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Damaged, mismatched and missing data files are refused, naming the file.

Every file here is built small in ``tmp_path``; none of the tests needs the
system's copy of Fashion-MNIST.
"""

import os
import shutil

import numpy as np
import pytest

from examples import input_pipeline as ip
from tests.idx_helpers import fake_fashion_dir
from tests.idx_helpers import write_idx

TRAIN_IMAGES, TRAIN_LABELS = ip.FASHION_MNIST_FILES['train']
TEST_IMAGES, TEST_LABELS = ip.FASHION_MNIST_FILES['test']


@pytest.fixture
def no_other_copy(tmp_path, monkeypatch):
  """No $FASHION_MNIST_DIR and an empty system folder: only data_dir."""
  monkeypatch.delenv(ip.FASHION_MNIST_ENV, raising=False)
  monkeypatch.setattr(ip, 'FASHION_MNIST_SYSTEM_DIR', str(tmp_path / 'sys'))


def test_test_images_copied_over_train_images_are_refused(tmp_path,
                                                          no_other_copy):
  d = fake_fashion_dir(tmp_path / 'fm')
  shutil.copy(os.path.join(d, TEST_IMAGES), os.path.join(d, TRAIN_IMAGES))
  with pytest.raises(ip.DataFileError) as e:
    ip.load_fashion_mnist(d)
  msg = str(e.value)
  assert os.path.join(d, TRAIN_IMAGES) in msg
  assert os.path.join(d, TRAIN_LABELS) in msg
  assert '10 images' in msg and '30 labels' in msg


def test_test_split_copied_over_train_split_is_refused(tmp_path,
                                                       no_other_copy):
  d = fake_fashion_dir(tmp_path / 'fm')
  for src, dst in ((TEST_IMAGES, TRAIN_IMAGES), (TEST_LABELS, TRAIN_LABELS)):
    shutil.copy(os.path.join(d, src), os.path.join(d, dst))
  with pytest.raises(ip.DataFileError, match='same images'):
    ip.load_fashion_mnist(d)


def test_too_few_labels_name_the_files(tmp_path, no_other_copy):
  d = fake_fashion_dir(tmp_path / 'fm')
  write_idx(os.path.join(d, TRAIN_LABELS), np.arange(20) % 10)
  with pytest.raises(ip.DataFileError) as e:
    ip.load_fashion_mnist(d)
  assert os.path.join(d, TRAIN_LABELS) in str(e.value)
  assert '20 labels' in str(e.value)


def test_truncated_gzip_names_the_file(tmp_path, no_other_copy):
  d = fake_fashion_dir(tmp_path / 'fm')
  path = os.path.join(d, TRAIN_IMAGES)
  data = open(path, 'rb').read()
  with open(path, 'wb') as f:
    f.write(data[:len(data) // 2])
  with pytest.raises(ip.DataFileError) as e:
    ip.load_fashion_mnist(d)
  assert path in str(e.value) and 'EOFError' in str(e.value)


@pytest.mark.parametrize('count', [29, 31])
def test_data_must_fill_the_header_exactly(tmp_path, count):
  path = str(tmp_path / 'x.gz')
  write_idx(path, np.zeros((30, 2, 2)), count=count)
  with pytest.raises(ip.DataFileError, match=f'{path}.*header gives shape '
                     fr'\({count}, 2, 2\)'):
    ip.read_idx(path)


@pytest.mark.parametrize('content', [b'', b'\x00\x00', b'not idx at all'])
def test_not_an_idx_file(tmp_path, content):
  path = str(tmp_path / 'x')
  with open(path, 'wb') as f:
    f.write(content)
  with pytest.raises(ip.DataFileError, match=path):
    ip.read_idx(path)


def test_labels_outside_the_classes_are_refused(tmp_path, no_other_copy):
  d = fake_fashion_dir(tmp_path / 'fm')
  write_idx(os.path.join(d, TRAIN_LABELS), np.full(30, 200))
  with pytest.raises(ip.DataFileError, match='label 200'):
    ip.load_fashion_mnist(d)


def test_mistyped_data_dir_does_not_fall_back(tmp_path, monkeypatch):
  # A complete copy elsewhere (as $FASHION_MNIST_DIR) must not be used.
  elsewhere = fake_fashion_dir(tmp_path / 'elsewhere')
  monkeypatch.setenv(ip.FASHION_MNIST_ENV, elsewhere)
  typo = str(tmp_path / 'fahsion')
  with pytest.raises(ip.DataNotFoundError) as e:
    ip.load('fashion_mnist', data_dir=typo)
  msg = str(e.value)
  assert f'{typo} (no such folder)' in msg
  assert 'Only the given data_dir is searched' in msg
  assert f'\n  {elsewhere}' not in msg  # not searched


def test_incomplete_data_dir_names_the_missing_files(tmp_path, monkeypatch):
  monkeypatch.setenv(ip.FASHION_MNIST_ENV,
                     fake_fashion_dir(tmp_path / 'elsewhere'))
  d = fake_fashion_dir(tmp_path / 'fm')
  os.remove(os.path.join(d, TEST_LABELS))
  with pytest.raises(ip.DataNotFoundError,
                     match=f'{d} \\(missing {TEST_LABELS}\\)'):
    ip.load('fashion_mnist', data_dir=d)


def test_intact_files_load(tmp_path, no_other_copy):
  d = fake_fashion_dir(tmp_path / 'fm')
  ds = ip.load('fashion_mnist', data_dir=d, validation_fraction=0.1)
  assert [len(s[0]) for s in (ds.train, ds.validation, ds.test)] == [27, 3,
                                                                       10]


@pytest.mark.parametrize('n', [-5, -100000])
def test_negative_max_train_examples_is_refused(n):
  with pytest.raises(ValueError, match=f'max_train_examples={n}'):
    ip.load('digits', max_train_examples=n)


@pytest.mark.parametrize('batch_size', [-4, 0])
def test_batches_refuse_a_batch_size_below_one(batch_size):
  x = np.arange(10)
  with pytest.raises(ValueError, match=f'batch_size={batch_size}'):
    next(ip.batches(x, x, batch_size))
  with pytest.raises(ValueError, match=f'batch_size={batch_size}'):
    ip.steps_per_epoch(10, batch_size)


def test_an_empty_split_is_refused_not_looped_over():
  x = np.arange(0)
  with pytest.raises(ValueError, match='empty'):
    next(ip.batches(x, x, 4))
  with pytest.raises(ValueError, match='empty'):
    ip.steps_per_epoch(0, 4)
