"""Tests for lerac_jax.depths: automatic depths, rules, matching, describe."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import lerac_jax
from lerac_jax import depths as depth_lib

X = jnp.ones((2, 8))


def leaf_depths(depths, params):
  """{path: depth} for every leaf, via the same matching the transform uses."""
  names = [p for p, _ in depth_lib.flatten_with_names(params)]
  return dict(zip(names, depth_lib.match(depths, params)))


def multipliers(depths, params, **kw):
  """What scale_by_lerac multiplies a ones-update by, leaf by leaf."""
  kw = {"curriculum_steps": 10, "min_scale": 1e-6, **kw}
  tx = lerac_jax.scale_by_lerac(depths, **kw)
  ones = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(ones, tx.init(params))
  return updates


# ---------------------------------------------------------------------------
# Models whose parameter names sort wrongly.
# ---------------------------------------------------------------------------


class Block(nn.Module):

  @nn.compact
  def __call__(self, x):
    y = nn.Dense(8)(x)
    y = nn.LayerNorm()(y)
    return x + nn.Dense(8)(nn.relu(y))


class StemBlocksHead(nn.Module):
  """`Block_10` sorts before `Block_2`, and `head` before `stem`."""

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(8, name="stem")(x)
    for i in range(12):
      x = Block(name=f"Block_{i}")(x)
    return nn.Dense(3, name="head")(x)


def test_stem_blocks_head_by_block():
  depths = lerac_jax.depths_from_model(StemBlocksHead(), X, group="block")
  assert depths.num_depths == 14
  table = depths.table
  assert table["stem/kernel"] == 0
  for i in range(12):
    assert table[f"Block_{i}/Dense_0/kernel"] == i + 1
    assert table[f"Block_{i}/LayerNorm_0/scale"] == i + 1
    assert table[f"Block_{i}/Dense_1/kernel"] == i + 1
  assert table["head/kernel"] == 13


def test_stem_blocks_head_by_layer_and_norm_merge():
  depths = lerac_jax.depths_from_model(StemBlocksHead(), X)
  table = depths.table
  assert depths.num_depths == 1 + 2 * 12 + 1
  assert table["Block_10/Dense_0/kernel"] == 1 + 2 * 10
  # The norm joins the Dense called just before it.
  assert table["Block_10/LayerNorm_0/scale"] == table["Block_10/Dense_0/kernel"]
  assert table["Block_10/Dense_1/bias"] == 2 + 2 * 10
  assert table["head/bias"] == depths.num_depths - 1
  # Initial multipliers fall monotonically along the forward pass.
  params = StemBlocksHead().init(jax.random.key(0), X)["params"]
  m = multipliers(depths, params)
  order = ["stem"] + [f"Block_{i}" for i in range(12)] + ["head"]
  firsts = [float(jax.tree.leaves(m[k])[0].ravel()[0]) for k in order]
  assert firsts == sorted(firsts, reverse=True) and firsts[0] == 1.0
  np.testing.assert_allclose(firsts[-1], 1e-6, rtol=1e-5)


class BasicBlock(nn.Module):
  """CBS/official-code ResNet-18 block."""
  features: int
  stride: int = 1

  @nn.compact
  def __call__(self, x):
    out = nn.relu(nn.BatchNorm(use_running_average=False, name="bn1")(
        nn.Conv(self.features, (3, 3), self.stride, name="conv1")(x)))
    out = nn.BatchNorm(use_running_average=False, name="bn2")(
        nn.Conv(self.features, (3, 3), name="conv2")(out))
    if self.stride != 1 or x.shape[-1] != self.features:
      x = nn.Conv(self.features, (1, 1), self.stride, name="shortcut_conv")(x)
      x = nn.BatchNorm(use_running_average=False, name="shortcut_bn")(x)
    return nn.relu(out + x)


class ResNet18(nn.Module):
  """3x3 stem, no max-pool; named like the official PyTorch code."""
  width: int = 4

  @nn.compact
  def __call__(self, x):
    x = nn.Conv(self.width, (3, 3), name="conv1_initial")(x)
    x = nn.relu(nn.BatchNorm(use_running_average=False, name="bn1_initial")(x))
    for stage in range(4):
      for i in range(2):
        stride = 2 if stage > 0 and i == 0 else 1
        x = BasicBlock(self.width * 2**stage, stride,
                       name=f"layer{stage + 1}_{i}")(x)
    return nn.Dense(10, name="linear")(x.mean(axis=(1, 2)))


def test_resnet18_blocks_match_official_grouping():
  depths = lerac_jax.depths_from_model(ResNet18(), jnp.ones((1, 8, 8, 3)),
                                       group="block")
  table = depths.table
  assert depths.num_depths == 10  # stem, 8 blocks, head
  assert table["conv1_initial/kernel"] == table["bn1_initial/scale"] == 0
  expected = {f"layer{s + 1}_{i}": 1 + 2 * s + i
              for s in range(4) for i in range(2)}
  for block, d in expected.items():
    assert table[f"{block}/conv1/kernel"] == d
    assert table[f"{block}/bn2/bias"] == d
  assert table["layer2_0/shortcut_conv/kernel"] == 3
  assert table["linear/kernel"] == 9  # 'linear' sorts between the layers


def test_resnet18_layers_norms_join_their_conv():
  depths = lerac_jax.depths_from_model(ResNet18(), jnp.ones((1, 8, 8, 3)))
  t = depths.table
  # 1 stem conv + 16 block convs + head; each 1x1 projection shortcut reads
  # its block's input, as conv1 does, so it shares conv1's depth.
  assert depths.num_depths == 1 + 16 + 1
  assert t["layer1_0/bn1/scale"] == t["layer1_0/conv1/kernel"]
  assert t["layer1_0/conv2/kernel"] == t["layer1_0/conv1/kernel"] + 1
  for block in ("layer2_0", "layer3_0", "layer4_0"):
    assert t[f"{block}/shortcut_conv/kernel"] == t[f"{block}/conv1/kernel"]
    assert t[f"{block}/shortcut_bn/scale"] == t[f"{block}/conv1/kernel"]
  assert t["linear/kernel"] == depths.num_depths - 1


class TiedEncoder(nn.Module):
  """A shared Dense, called at the input and again near the output."""

  @nn.compact
  def __call__(self, x):
    shared = nn.Dense(8, name="z_shared")
    x = nn.Dense(8, name="a_first")(x)
    x = shared(x)
    x = nn.Dense(8, name="b_middle")(x)
    x = shared(x)  # second call: keeps its first depth
    return nn.Dense(2, name="c_head")(x)


def test_shared_module_keeps_first_depth():
  t = lerac_jax.depths_from_model(TiedEncoder(), X).table
  assert t["a_first/kernel"] == 0
  assert t["z_shared/kernel"] == 1
  assert t["b_middle/kernel"] == 2
  assert t["c_head/kernel"] == 3


class NNXNet(nnx.Module):

  def __init__(self, rngs, n=11):
    self.stem = nnx.Linear(8, 8, rngs=rngs)
    self.layers = nnx.List([nnx.Linear(8, 8, rngs=rngs) for _ in range(n)])
    self.norm = nnx.LayerNorm(8, rngs=rngs)
    self.head = nnx.Linear(8, 3, rngs=rngs)

  def __call__(self, x):
    x = self.stem(x)
    for layer in self.layers:
      x = nnx.relu(layer(x))
    return self.head(self.norm(x))


def test_nnx_list_and_head_attribute():
  model = NNXNet(nnx.Rngs(0))
  depths = lerac_jax.depths_from_model(model, X)
  t = depths.table
  assert depths.num_depths == 13
  assert t["stem/kernel"] == 0
  assert [t[f"layers/{i}/kernel"] for i in range(11)] == list(range(1, 12))
  assert t["norm/scale"] == 11  # joins layers[10]
  assert t["head/kernel"] == 12  # 'head' sorts first, but is deepest


def test_nnx_optimizer_init_and_update_paths():
  """init sees `.value` paths (Variables), update sees plain arrays."""
  model = NNXNet(nnx.Rngs(0), n=2)
  depths = lerac_jax.depths_from_model(model, X)
  kw = dict(curriculum_steps=10, min_scale=1e-3)
  opt = nnx.Optimizer(model, lerac_jax.lerac(optax.sgd(1.0), depths, **kw),
                      wrt=nnx.Param)
  def snapshot():
    return jax.tree.map(np.array, nnx.to_pure_dict(nnx.state(model, nnx.Param)))

  before = snapshot()
  grads = jax.tree.map(jnp.ones_like, nnx.state(model, nnx.Param))
  opt.update(model, grads)
  delta = jax.tree.map(lambda a, b: a - b, snapshot(), before)
  np.testing.assert_allclose(delta["stem"]["bias"], -1.0, rtol=1e-6)
  np.testing.assert_allclose(delta["layers"][1]["bias"], -1e-3 ** (2 / 3),
                             rtol=1e-4)
  np.testing.assert_allclose(delta["head"]["bias"], -1e-3, rtol=1e-4)
  scales = lerac_jax.current_scales(opt.opt_state)
  assert scales.shape == (depths.num_depths,)
  np.testing.assert_allclose(scales[-1], 1e-3 ** (1 - 1 / 10), rtol=1e-5)


def test_nnx_abstract_model_and_inputs():
  abstract = nnx.eval_shape(lambda: NNXNet(nnx.Rngs(0)))
  x = jax.ShapeDtypeStruct((2, 8), jnp.float32)
  assert lerac_jax.depths_from_model(abstract, x).num_depths == 13


class ScanBody(nn.Module):

  @nn.compact
  def __call__(self, x, _):
    y = nn.LayerNorm()(x)  # pre-norm: joins the layer before the block
    y = nn.Dense(16)(y)
    y = nn.Dense(8)(nn.gelu(y))
    return x + y, None


class ScannedTransformer(nn.Module):
  axis: int = 0

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(8, name="embed")(x)
    x, _ = nn.scan(ScanBody, variable_axes={"params": self.axis},
                   split_rngs={"params": True}, length=5)(name="layers")(
                       x, None)
    return nn.Dense(3, name="head")(nn.LayerNorm(name="final_norm")(x))


class LoopTransformer(nn.Module):

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(8, name="embed")(x)
    for i in range(5):
      x, _ = ScanBody(name=f"layers_{i}")(x, None)
    return nn.Dense(3, name="head")(nn.LayerNorm(name="final_norm")(x))


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("group", ["layer", "block"])
def test_scanned_model_matches_python_loop(axis, group):
  scanned = ScannedTransformer(axis)
  d_scan = lerac_jax.depths_from_model(scanned, X, group=group)
  d_loop = lerac_jax.depths_from_model(LoopTransformer(), X, group=group)
  assert d_scan.num_depths == d_loop.num_depths
  assert isinstance(d_scan.table["layers/Dense_0/kernel"], lerac_jax.Stacked)
  assert d_scan.table["layers/Dense_0/kernel"].axis == axis
  p_scan = scanned.init(jax.random.key(0), X)["params"]
  p_loop = LoopTransformer().init(jax.random.key(0), X)["params"]
  m_scan = multipliers(d_scan, p_scan)
  m_loop = multipliers(d_loop, p_loop)
  for i in range(5):
    for name in ("LayerNorm_0/scale", "Dense_0/kernel", "Dense_1/bias"):
      module, leaf = name.split("/")
      got = np.take(np.asarray(m_scan["layers"][module][leaf]), i, axis=axis)
      np.testing.assert_allclose(got, m_loop[f"layers_{i}"][module][leaf],
                                 rtol=1e-6, err_msg=f"{group} {i} {name}")
  np.testing.assert_allclose(m_scan["head"]["kernel"],
                             m_loop["head"]["kernel"])


def test_ambiguous_stack_axis_uses_stack_axis_argument():
  # 8 layers stacked onto an (8, 8) kernel on axis 1: axis 0 fits too.
  class Body(nn.Module):
    @nn.compact
    def __call__(self, x, _):
      return nn.Dense(8, use_bias=False)(x), None

  class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
      return nn.scan(Body, variable_axes={"params": 1},
                     split_rngs={"params": True}, length=8)(name="s")(x, None)[0]

  d = lerac_jax.depths_from_model(Net(), X, stack_axis=1)
  assert d.table["s/Dense_0/kernel"] == lerac_jax.Stacked(tuple(range(8)), 1)


def test_no_parameters_are_materialised():
  class Huge(nn.Module):  # 4e10 parameters: 160 GB if allocated
    @nn.compact
    def __call__(self, x):
      x = nn.Dense(200_000, name="a")(x)
      return nn.Dense(200_000, name="b")(x)

  x = jax.ShapeDtypeStruct((1, 200_000), jnp.float32)
  depths = lerac_jax.depths_from_model(Huge(), x)
  assert depths.table == {"a/bias": 0, "a/kernel": 0, "b/bias": 1,
                          "b/kernel": 1}


def test_python_kwargs_stay_static():
  class WithFlag(nn.Module):
    @nn.compact
    def __call__(self, x, *, train: bool):
      x = nn.Dense(4)(x)
      if train:  # would fail on a traced bool
        x = nn.Dropout(0.5, deterministic=False)(x)
      return nn.Dense(2)(x)

  d = lerac_jax.depths_from_model(WithFlag(), X, train=True)
  assert d.num_depths == 2


def test_bad_arguments():
  with pytest.raises(TypeError, match="expects a flax.linen.Module, "
                     "flax.nnx.Module or equinox.Module; got int"):
    lerac_jax.depths_from_model(3, X)
  with pytest.raises(ValueError, match="group must be 'layer' or 'block'"):
    lerac_jax.depths_from_model(StemBlocksHead(), X, group="stage")


# ---------------------------------------------------------------------------
# Rules, hand-given depths, describe.
# ---------------------------------------------------------------------------


def test_rules_numeric_order_and_first_match():
  params = StemBlocksHead().init(jax.random.key(0), X)["params"]
  rules = [(r"^stem", 0), (r"^Block_(\d+)", 1), (r"^head", 2)]
  t = lerac_jax.depths_from_rules(params, rules).table
  assert t["stem/kernel"] == 0
  assert t["Block_2/Dense_0/kernel"] == 3 and t["Block_10/Dense_1/bias"] == 11
  assert t["head/kernel"] == 13
  # First match wins: a catch-all after a specific rule changes nothing.
  t2 = lerac_jax.depths_from_rules(params, rules + [(r".*", 99)]).table
  assert t2 == t


def test_rules_callable_and_default():
  params = StemBlocksHead().init(jax.random.key(0), X)["params"]
  d = lerac_jax.depths_from_rules(
      params, [(r"^Block_(\d+)", lambda i: i // 4 + 1)], default=0)
  assert d.num_depths == 4
  assert d.table["Block_3/Dense_0/kernel"] == 1
  assert d.table["Block_4/Dense_0/kernel"] == 2
  assert d.table["stem/kernel"] == 0 and d.table["head/kernel"] == 0


def test_rules_unmatched_parameters_are_named():
  params = StemBlocksHead().init(jax.random.key(0), X)["params"]
  with pytest.raises(ValueError, match=r"2 parameter\(s\) match no depth rule:"
                     r" \['head/bias', 'head/kernel'\]"):
    lerac_jax.depths_from_rules(params, [(r"^stem", 0), (r"^Block_(\d+)", 1)])


def test_reversed_depths():
  d = lerac_jax.as_depths({"a": 0, "b": 1, "c": 2}).reversed()
  assert d.table == {"a": 2, "b": 1, "c": 0}


def test_describe_table():
  depths = lerac_jax.depths_from_model(TiedEncoder(), X)
  text = lerac_jax.describe(depths, curriculum_steps=1000, min_scale=1e-6)
  lines = text.splitlines()
  assert lines[0].split() == ["depth", "r_j(0)", "r_j(k/2)", "modules"]
  row = {l.split()[0]: l.split()[1:] for l in lines[1:-1]}
  assert row["0"] == ["1", "1", "a_first"]
  assert row["1"][2:] == ["z_shared"]
  assert row["3"] == ["1e-06", "0.001", "c_head"]
  assert "4 depths" in lines[-1]
  assert "WARNING" not in text


class NNXBlock(nnx.Module):

  def __init__(self, rngs):
    self.norm = nnx.LayerNorm(8, rngs=rngs)
    self.fc1 = nnx.Linear(8, 16, rngs=rngs)
    self.fc2 = nnx.Linear(16, 8, rngs=rngs)

  def __call__(self, x):
    return x + self.fc2(nnx.gelu(self.fc1(self.norm(x))))


class NNXScanned(nnx.Module):
  """Layers built with nnx.vmap and run with nnx.scan."""

  def __init__(self, rngs, n=5):
    self.embed = nnx.Linear(8, 8, rngs=rngs)

    @nnx.split_rngs(splits=n)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def make(rngs):
      return NNXBlock(rngs)

    self.layers = make(rngs)
    self.head = nnx.Linear(8, 3, rngs=rngs)

  def __call__(self, x):
    @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
    def body(x, block):
      return block(x)
    return self.head(body(self.embed(x), self.layers))


class NNXLoop(nnx.Module):

  def __init__(self, rngs, n=5):
    self.embed = nnx.Linear(8, 8, rngs=rngs)
    self.layers = nnx.List([NNXBlock(rngs) for _ in range(n)])
    self.head = nnx.Linear(8, 3, rngs=rngs)

  def __call__(self, x):
    x = self.embed(x)
    for block in self.layers:
      x = block(x)
    return self.head(x)


def test_nnx_scan_matches_python_loop():
  scanned, loop = NNXScanned(nnx.Rngs(0)), NNXLoop(nnx.Rngs(0))
  d_scan = lerac_jax.depths_from_model(scanned, X)
  d_loop = lerac_jax.depths_from_model(loop, X)
  assert d_scan.num_depths == d_loop.num_depths == 1 + 2 * 5 + 1
  assert d_scan.table["layers/fc1/kernel"] == lerac_jax.Stacked(
      (1, 3, 5, 7, 9), 0)
  m_scan = multipliers(d_scan, nnx.to_pure_dict(nnx.state(scanned, nnx.Param)))
  m_loop = multipliers(d_loop, nnx.to_pure_dict(nnx.state(loop, nnx.Param)))
  for i in range(5):
    for module, leaf in (("norm", "scale"), ("fc1", "kernel"), ("fc2", "bias")):
      np.testing.assert_allclose(m_scan["layers"][module][leaf][i],
                                 m_loop["layers"][i][module][leaf], rtol=1e-6)


def test_describe_reads_one_curriculum_and_refuses_two():
  depths = {"stem": 0, "head": 1}
  curriculum = lerac_jax.Curriculum(curriculum_steps=60, min_scale=1e-4)
  text = lerac_jax.describe(depths, curriculum=curriculum)
  assert text == lerac_jax.describe(depths, curriculum_steps=60,
                                    min_scale=1e-4)
  assert "k = 60 steps" in text and "0.0001" in text
  bare = lerac_jax.describe(depths)  # no settings: no ratio columns
  assert bare.splitlines()[0].split() == ["depth", "modules"]
  assert "pass the curriculum settings" in bare
  with pytest.raises(ValueError, match="either curriculum= or"):
    lerac_jax.describe(depths, curriculum=curriculum, min_scale=1e-4)
  with pytest.raises(ValueError, match="min_scale"):
    lerac_jax.describe(depths, curriculum_steps=60, min_scale=5.0)
