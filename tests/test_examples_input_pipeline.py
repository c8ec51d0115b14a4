# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""Tests of examples/input_pipeline.py: local data, TFDS paths, errors."""

import os
import sys

import numpy as np
import pytest

from examples import input_pipeline as ip
from tests.idx_helpers import fake_fashion_dir
from tests.idx_helpers import write_idx

tfds = pytest.importorskip('tensorflow_datasets')


# ----------------------------------------------------------------- digits


def test_digits_splits_are_deterministic_and_disjoint():
  a = ip.load('digits')
  b = ip.load('digits')
  assert a.input_shape == (8, 8, 1) and a.num_classes == 10
  assert a.train[0].dtype == np.float32
  assert -1.0 <= a.train[0].min() and a.train[0].max() <= 1.0
  for s in ('train', 'validation', 'test'):
    np.testing.assert_array_equal(getattr(a, s)[0], getattr(b, s)[0])
  n = sum(len(getattr(a, s)[0]) for s in ('train', 'validation', 'test'))
  assert n == 1797
  keys = [{x.tobytes() for x in getattr(a, s)[0]}
          for s in ('train', 'validation', 'test')]
  # A few digits images are exact duplicates, so allow a handful.
  assert len(keys[0] & keys[2]) < 10 and len(keys[0] & keys[1]) < 10


def test_batches_cover_each_example_once_per_epoch():
  x = np.arange(100)
  seen = np.concatenate([b for b, _ in ip.batches(
      x, x, 10, np.random.default_rng(0))])
  assert sorted(seen.tolist()) == list(range(100))
  assert not np.array_equal(seen, x)  # shuffled


# ---------------------------------------------------------- fashion_mnist


def test_read_idx_round_trip(tmp_path):
  a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
  write_idx(str(tmp_path / 'a.gz'), a)
  np.testing.assert_array_equal(ip.read_idx(str(tmp_path / 'a.gz')), a)


def test_fashion_mnist_from_data_dir(tmp_path, monkeypatch):
  monkeypatch.delenv(ip.FASHION_MNIST_ENV, raising=False)
  d = fake_fashion_dir(str(tmp_path / 'fm'))
  ds = ip.load('fashion_mnist', data_dir=d, validation_fraction=0.1)
  assert ds.input_shape == (28, 28, 1)
  assert (len(ds.train[0]), len(ds.validation[0]), len(ds.test[0])) == (
      27, 3, 10)


def test_fashion_mnist_from_env_var(tmp_path, monkeypatch):
  d = fake_fashion_dir(str(tmp_path / 'env'))
  monkeypatch.setenv(ip.FASHION_MNIST_ENV, d)
  assert ip.find_fashion_mnist() == d


def test_fashion_mnist_missing_lists_where_it_looked(tmp_path, monkeypatch):
  monkeypatch.setenv(ip.FASHION_MNIST_ENV, str(tmp_path / 'env_dir'))
  monkeypatch.setattr(ip, 'FASHION_MNIST_SYSTEM_DIR', str(tmp_path / 'sys'))
  with pytest.raises(ip.DataNotFoundError) as e:
    ip.load_fashion_mnist()
  msg = str(e.value)
  for where in ('env_dir', 'sys'):
    assert str(tmp_path / where) in msg
  assert 'apt-get install dataset-fashion-mnist' in msg
  assert '--data_dir' in msg and ip.FASHION_MNIST_ENV in msg


@pytest.mark.skipif(
    not os.path.exists(os.path.join(ip.FASHION_MNIST_SYSTEM_DIR,
                                    'train-labels-idx1-ubyte.gz')),
    reason='Debian dataset-fashion-mnist not installed')
def test_real_fashion_mnist_if_installed(monkeypatch):
  monkeypatch.delenv(ip.FASHION_MNIST_ENV, raising=False)
  ds = ip.load_fashion_mnist(max_train_examples=100)
  assert len(ds.test[0]) == 10000 and len(ds.validation[0]) == 6000
  assert np.bincount(ds.test[1]).tolist() == [1000] * 10


# ------------------------------------------------------------------- text


def test_pydoc_text_windows_are_shifted_by_one():
  ds = ip.load_pydoc_text(seq_len=32)
  x, y = ds.train
  assert ds.task == 'lm' and x.shape[1] == 32
  np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
  text = ''.join(ds.vocab[i] for i in x[0])
  assert text == ip.pydoc_text()[:32]
  assert ds.num_classes == len(ds.vocab) > 50


# ------------------------------------------------------------------- TFDS


def test_cifar10_through_data_source_under_mock_data():
  had_tf = 'tensorflow' in sys.modules
  with tfds.testing.mock_data(num_examples=20):
    ds = ip.load('cifar10', reader='data_source', validation_fraction=0.1)
  assert had_tf or 'tensorflow' not in sys.modules
  assert ds.input_shape == (32, 32, 3) and ds.num_classes == 10
  assert (len(ds.train[0]), len(ds.validation[0]), len(ds.test[0])) == (
      18, 2, 20)
  assert ds.train[0].dtype == np.float32


def test_tfds_images_can_be_resized():
  with tfds.testing.mock_data(num_examples=4):
    ds = ip.load('cifar10', reader='data_source', image_size=16)
  assert ds.input_shape == (16, 16, 3)


class DigitsBuilder(tfds.core.GeneratorBasedBuilder):
  """Real sklearn digits written as a TFDS dataset (test helper)."""

  VERSION = tfds.core.Version('1.0.0')
  name = 'lerac_test_digits'

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(8, 8, 1)),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {'train': self._generate_examples(0, 60),
            'test': self._generate_examples(60, 80)}

  def _generate_examples(self, start, stop):
    from PIL import Image
    from sklearn.datasets import load_digits
    d = load_digits()
    for i in range(start, stop):
      img = (d.images[i] * 255 / 16).astype(np.uint8)
      yield i, {'image': Image.fromarray(img), 'label': int(d.target[i])}


def test_array_record_round_trip_without_tensorflow(tmp_path, monkeypatch):
  had_tf = 'tensorflow' in sys.modules
  DigitsBuilder(data_dir=str(tmp_path),
                file_format='array_record').download_and_prepare()
  # The dataset is not registered: give tfds.builder its directory.
  real_builder = tfds.builder
  path = tmp_path / 'lerac_test_digits' / '1.0.0'
  monkeypatch.setattr(
      tfds, 'builder',
      lambda name, **kw: tfds.builder_from_directory(str(path))
      if name == 'lerac_test_digits' else real_builder(name, **kw))
  monkeypatch.setattr(
      tfds, 'data_source',
      lambda name, split, **kw: tfds.builder_from_directory(
          str(path)).as_data_source(split=split))
  assert ip.choose_tfds_reader('lerac_test_digits', str(tmp_path)) == (
      'data_source')
  ds = ip.load('lerac_test_digits', data_dir=str(tmp_path),
               validation_fraction=0.25)
  assert (len(ds.train[0]), len(ds.validation[0]), len(ds.test[0])) == (
      45, 15, 20)
  from sklearn.datasets import load_digits
  d = load_digits()
  # TFDS shuffles examples when preparing: compare as sets of pairs; pixels
  # survive the PNG round trip exactly.
  def pairs(images, labels):
    return sorted((int(l), np.round(im.ravel(), 5).tobytes())
                  for im, l in zip(images, labels))
  expected = (d.images[60:80] * 255 / 16).astype(np.uint8) / 255.0
  expected = ((expected - 0.5) / 0.5).astype(np.float32)[..., None]
  assert pairs(ds.test[0], ds.test[1]) == pairs(expected, d.target[60:80])
  assert had_tf or 'tensorflow' not in sys.modules


def test_unprepared_tfds_dataset_says_what_to_do(tmp_path):
  with pytest.raises(ip.DataNotFoundError) as e:
    ip.load('cifar10', data_dir=str(tmp_path))
  msg = str(e.value)
  assert 'not prepared' in msg and str(tmp_path) in msg
  assert '--download' in msg and 'array_record' in msg


class _FakeBuilder:

  def __init__(self, fmt):
    self.data_dir = '/somewhere/cifar10/3.0.2'
    self.info = type('Info', (), {'file_format': fmt})()

  def is_prepared(self):
    return True


def test_tfrecord_without_tensorflow_says_what_to_do(monkeypatch):
  monkeypatch.setattr(tfds, 'builder', lambda *a, **k: _FakeBuilder(
      tfds.core.FileFormat.TFRECORD))
  monkeypatch.setattr(ip, 'tensorflow_available', lambda: False)
  with pytest.raises(ip.DataNotFoundError) as e:
    ip.choose_tfds_reader('cifar10')
  msg = str(e.value)
  assert 'tfrecord' in msg and 'tensorflow-cpu' in msg
  assert "file_format='array_record'" in msg
  monkeypatch.setattr(ip, 'tensorflow_available', lambda: True)
  assert ip.choose_tfds_reader('cifar10') == 'load'


def test_array_record_is_read_with_data_source(monkeypatch):
  monkeypatch.setattr(tfds, 'builder', lambda *a, **k: _FakeBuilder(
      tfds.core.FileFormat.ARRAY_RECORD))
  assert ip.choose_tfds_reader('cifar10') == 'data_source'


def test_cifar10_through_tfds_load_with_tensorflow():
  pytest.importorskip('tensorflow')
  with tfds.testing.mock_data(num_examples=10):
    ds = ip.load('cifar10', reader='load', validation_fraction=0.2)
  assert ds.input_shape == (32, 32, 3) and len(ds.test[0]) == 10
