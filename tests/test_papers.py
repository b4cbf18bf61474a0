"""Networks from papers, written as a new user writes them from the docs alone
(tests/papers/*.yaml, tiny widths): each checks, its static shapes and parameter counts
are what torch builds, and it trains, the generated script reproducing build's metrics,
and exports to ONNX (verified by onnxruntime). Where torchvision has the paper's block,
the spec's block is that block, output for output, with the same weights; where it has the
whole network, a full-size spec is that network (TORCHVISION)."""

from __future__ import annotations

import pytest
import torch
import torchvision

import specdl

from . import paper_references as ref
from .conftest import ROOT, run_cli
from .test_codegen import assert_script_reproduces_build
from .test_fuzz import forward_matches_check

PAPERS = sorted((ROOT / "tests" / "papers").glob("*.yaml"))
# full size, 1000 classes: compared with torchvision, not trained: spec -> (builder, its
# arguments, parameters); all but one under slow (seconds each)
TORCHVISION = {
    "squeezenet1_1": ("squeezenet1_1", {}, 1_235_496),
    "regnetx_400mf": ("regnet_x_400mf", {}, 5_495_976),
    "shufflenetv2_x1": ("shufflenet_v2_x1_0", {}, 2_278_604),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": False}, 6_624_904),
    "mobilenetv3_small": ("mobilenet_v3_small", {}, 2_542_856),
    "efficientnet_b0": ("efficientnet_b0", {}, 5_288_548),
    "efficientnet_v2_s": ("efficientnet_v2_s", {}, 21_458_488),
    "resnext50": ("resnext50_32x4d", {}, 25_028_904),
}
HEAVY = tuple(n for n in TORCHVISION if n != "squeezenet1_1")
REFERENCE = tuple(TORCHVISION)


def paper(name):
    return ROOT / "tests" / "papers" / f"{name}.yaml"


def batch_of(a, n: int = 3) -> dict:
    """A batch of each named input: token ids below the input's own bound."""
    return {i.name: (torch.randint(0, i.max_token + 1, (n, *i.feat)) if i.dtype == "int64"
                     else torch.randn(n, *i.feat)) for i in a.data.inputs}


def forward_matches_heads(a):
    """forward_matches_check for named inputs and several outputs: each head's shape is the
    one check inferred for its layer. The model."""
    model = specdl.build_model(a.spec).eval()
    x = batch_of(a) if a.graph.named else {"x": torch.randn(3, *a.graph.input.shape[1:])}
    with torch.no_grad():
        out = model(**x) if a.graph.named else model(*x.values())
    heads = a.spec.model.outputs or {"": a.graph.output.name}
    nodes = {n.name: n for n in a.graph.nodes}
    got = out if isinstance(out, tuple) else (out,)
    assert [tuple(o.shape) for o in got] == [(3, *nodes[h].out.shape[1:]) for h in heads.values()]
    return model


@pytest.mark.parametrize("spec", [p for p in PAPERS if p.stem not in REFERENCE], ids=lambda p: p.stem)
def test_static_shapes_and_parameters_are_torchs(spec):
    a = specdl.check(spec)
    one = not a.graph.named and not a.spec.model.outputs
    model = forward_matches_check(a, high=2) if one else forward_matches_heads(a)
    assert sum(p.numel() for p in model.parameters()) == a.graph.total_params()


@pytest.mark.slow  # 5 to 15 s each (ONNX export, a script run): CI runs them, pytest -m slow
@pytest.mark.parametrize("spec", [p for p in PAPERS if p.stem not in REFERENCE], ids=lambda p: p.stem)
def test_trains_and_the_script_reproduces_it(spec, tmp_path):
    """One epoch (the specs say so), ONNX export verified in the run, then the script."""
    run = assert_script_reproduces_build(spec, tmp_path)
    assert (run / "model.onnx").is_file()


def copy_by_order(tensors, dst):
    """dst's parameters and buffers from ``tensors``, matched by order (names differ)."""
    a, b = list(tensors), dst.state_dict()
    assert [t.shape for t in a] == [t.shape for t in b.values()]
    dst.load_state_dict(dict(zip(b, a)))


def cnblock():
    from torchvision.models.convnext import CNBlock

    block = CNBlock(16, layer_scale=1e-6, stochastic_depth_prob=0.1)
    with torch.no_grad():
        block.layer_scale.normal_()  # 1e-6 would hide a difference in the block
    return block, [*block.block.state_dict().values(), block.layer_scale]  # its scale: its own last


def mbconv():
    from torchvision.models.efficientnet import MBConv, MBConvConfig

    block = MBConv(MBConvConfig(4, 3, 1, 16, 16, 1), 0.2, torch.nn.BatchNorm2d)
    return block, block.state_dict().values()


def shuffle_unit():
    from torchvision.models.shufflenetv2 import InvertedResidual

    block = InvertedResidual(16, 16, 1)
    return block, block.state_dict().values()


@pytest.mark.parametrize(("name", "call", "reference"), [("convnext", "block_4", cnblock),
                                                         ("efficientnet", "mbconv_3", mbconv),
                                                         ("shufflenetv2", "basic_4", shuffle_unit)])
def test_block_is_torchvisions(name, call, reference):
    """ConvNeXt's block (layer scale, drop path), EfficientNet's MBConv (squeeze-and-
    excitation, SiLU, drop path) and ShuffleNetV2's unit (a channel split by `narrow`, a
    shuffle), as torchvision has them: the same output with the same weights, in training
    (the same drop-path draws for the same seed) and in evaluation."""
    model = specdl.build_model(specdl.check(paper(name)).spec)
    theirs, tensors = reference()
    ours = getattr(model, call)[0]
    copy_by_order(tensors, ours)
    x = torch.randn(8, 16, 5, 5)
    for train in (True, False):
        ours.train(train), theirs.train(train)
        torch.manual_seed(3)
        want = theirs(x)
        torch.manual_seed(3)
        torch.testing.assert_close(ours(x), want, rtol=1e-5, atol=1e-5)


def reviews_vocabulary(a):
    return ref.KimCNN(a.data.inputs[0].max_token + 1)


# spec -> (its torch reference, parameters, its inputs), the references and inputs given the analysed spec
TORCH = {
    "deit": (lambda a: ref.DeiT(), 24_232, lambda a: (torch.randn(2, 3, 32, 32),)),
    "perceiver": (lambda a: ref.Perceiver(), 6_511, lambda a: (torch.randn(2, 12, 6),)),
    "wav2letter": (lambda a: ref.Wav2Letter(), 247_830, lambda a: (torch.randn(2, 13, 64),)),
    "tabnet": (lambda a: ref.TabNet(), 6_816, lambda a: (torch.randn(5, 12),)),
    "two_tower": (lambda a: ref.TwoTower(), 2_576, lambda a: (torch.randint(0, 50, (2, 1)), torch.randn(2, 4),
                                                       torch.randint(0, 40, (2, 1)), torch.randn(2, 3))),
    "mmoe": (lambda a: ref.MMoE(), 1_182, lambda a: (torch.randn(2, 10),)),
    "kim_cnn": (reviews_vocabulary, None, lambda a: (torch.randint(0, a.data.inputs[0].max_token + 1, (2, 16)),)),
    "bahdanau_encoder": (lambda a: ref.BahdanauEncoder(), 4_963, lambda a: (torch.randint(0, 30, (2, 12)),)),
    "senet154": (lambda a: ref.SENet154(), 49_448, lambda a: (torch.randn(2, 3, 32, 32),)),
    "coatnet": (lambda a: ref.CoAtNet(), 47_688, lambda a: (torch.randn(2, 3, 32, 32),)),
}


def shake_norms(model):
    """Norms' scales, shifts and running statistics away from their initial 1 and 0, so that
    a norm copied to the wrong place shows."""
    norms = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.LayerNorm)
    with torch.no_grad():
        for m in (m for m in model.modules() if isinstance(m, norms)):
            m.weight.uniform_(0.5, 1.5), m.bias.normal_(0, 0.2)
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.2), m.running_var.uniform_(0.5, 1.5)
    return model


def swap_tokens(tensors):
    """DeiT's [cls, dist] positions for the spec's [dist, cls] (tokens are prepended)."""
    out = [t.clone() for t in tensors]
    pos = next(i for i, t in enumerate(out) if t.dim() == 3 and t.shape[1] == 18)
    out[pos][:, [0, 1]] = out[pos][:, [1, 0]]
    return out


@pytest.mark.parametrize("name", sorted(TORCH))
def test_paper_is_its_torch_reference(name):
    """DeiT's distillation token, Perceiver's cross-attention from a wider latent array to
    the input's own width, Wav2Letter, TabNet's GLU feature transformer, a two-tower
    recommender over named inputs, MMoE's two heads, Kim's CNN over a text column,
    RNNsearch's bidirectional GRU encoder and additive attention, SENet-154's grouped SE
    bottlenecks, CoAtNet's MBConv and Transformer downsampling blocks: the spec's parameters are the reference's, and with its weights copied
    in (the BatchNorm statistics too), its outputs."""
    make, params, inputs = TORCH[name]
    a = specdl.check(paper(name))
    theirs = shake_norms(make(a)).eval()
    counted = sum(p.numel() for p in theirs.parameters())
    assert a.graph.total_params() == counted == (params or counted)
    ours = specdl.build_model(a.spec).eval()
    tensors = list(theirs.state_dict().values())
    copy_by_order(swap_tokens(tensors) if name == "deit" else tensors, ours)
    xs = inputs(a)
    with torch.no_grad():
        want, got = theirs(*xs), ours(*xs) if not a.graph.named else ours(**dict(zip(a.graph.sources, xs)))
    torch.testing.assert_close(got, want)


def test_kim_cnn_reads_the_reviews_vocabulary():
    """The embedding's rows are the vocabulary fitted on the train split (2 + its words)."""
    a = specdl.check(paper("kim_cnn"))
    words = a.data.inputs[0].max_token + 1
    assert 2 < words < 200
    assert a.graph.total_params() == 16 * words + sum(8 * 16 * k + 8 for k in (3, 4, 5)) + 24 * 2 + 2


@pytest.mark.parametrize("name", ["perceiver", "linformer", "conformer"])
def test_attention_macs_are_torchs_over_the_keys_own_steps_and_width(name):
    """An attention node's static multiply-adds are what torch's FlopCounterMode counts
    for its module: Perceiver's key of another width (kdim), Linformer's shorter key, and
    Conformer's self-attention."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    a = specdl.check(paper(name))
    model = specdl.build_model(a.spec)
    nodes = [n for g in [a.graph, *(g for n in a.graph.nodes for g in n.subgraphs)] for n in g.nodes]
    node = next(n for n in nodes if n.type == "multihead_attention")
    q, *kv = [torch.randn(1, *t.shape[1:]) for t in node.in_types]
    attention = next(m for m in model.modules() if isinstance(m, torch.nn.MultiheadAttention)).train()  # no fused path
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc, torch.no_grad():
        attention(q, *(kv or [q]) * 2, need_weights=False)
    assert node.macs() == fc.get_total_flops() // 2 > 0


@pytest.mark.parametrize(("written", "said"), [
    ("embed_dim: 8, kdim: 4, vdim: 4", None),
    ("kdim: 8", "5:49: error: model.layers[1].kdim (multihead_attention): `kdim` is inferred as 4 "
                "from the input [N, 6, 4]; remove it (got 8)"),
    ("vdim: 5", "5:49: error: model.layers[1].vdim (multihead_attention): `vdim` is inferred as 4 "
                "from the input [N, 6, 4]; remove it (got 5)")])
def test_attention_takes_torchs_kdim_and_vdim_where_they_agree(written, said, tmp_path):
    """Perceiver ported from torch code names the key's width (kdim, vdim): accepted where
    it is the key's, else one located line."""
    spec = tmp_path / "s.yaml"
    spec.write_text("data: {source: synthetic, shape: [6, 8], classes: 2, size: 64}\nmodel:\n  layers:\n"
                    "    - linear: {out_features: 4, name: k}\n"
                    f"    - {{type: multihead_attention, num_heads: 2, {written}, inputs: [input, k]}}\n"
                    "    - mean: 1\n    - linear: 2\nloss: cross_entropy\n")
    r = run_cli("check", spec)
    if said is None:
        assert r.returncode == 0, r.stderr
        assert specdl.check(spec).graph.total_params() == 36 + (8 * (2 * 8 + 4 + 4) + 4 * 8) + 18
    else:
        assert r.returncode == 2 and r.stderr.splitlines() == [f"{spec}:{said}", "1 error"]


def test_masked_convolutions_are_pixelcnns():
    """The shifted convolutions of gated_pixelcnn.yaml are PixelCNN's masked 3x3 ones
    (mask A, then B) with the kept taps copied in: the same output, and only the kept
    taps are parameters."""
    model = specdl.build_model(specdl.check(paper("gated_pixelcnn")).spec).eval()
    a, b = ref.MaskedConv2d("A", 1, 16), ref.MaskedConv2d("B", 16, 16)
    with torch.no_grad():
        model.conv2d_1.weight.copy_(a.weight[:, :, :1]), model.conv2d_1.bias.copy_(a.bias)
        model.conv2d_4.weight.copy_(a.weight[:, :, 1:2, :1])
        block = model.masked_b_8
        block.conv2d_1.weight.copy_(b.weight[:, :, :1]), block.conv2d_1.bias.copy_(b.bias)
        block.left.weight.copy_(b.weight[:, :, 1:2, :2])
    seen = {}
    model.h1.register_forward_hook(lambda m, i, o: seen.update(h1=o))
    block.register_forward_hook(lambda m, i, o: seen.update(b_in=i[0], b_out=o))
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        model(x)
        torch.testing.assert_close(seen["h1"], torch.relu(a(x)))
        torch.testing.assert_close(seen["b_out"], b(seen["b_in"]))
    kept = sum(p.numel() for m in (model.conv2d_1, model.conv2d_4) for p in m.parameters())
    assert kept == a.kept() == 16 * 4 + 16
    assert sum(p.numel() for p in block.parameters()) == b.kept() == 16 * 16 * 5 + 16


def test_patch_merging_is_swins():
    """The spec's merge block is torchvision's Swin PatchMerging, its 4C features in
    `pixel_unshuffle`'s order (channel c, row offset i, column offset j: 4c + 2i + j) where
    Swin concatenates x0..x3 ((i, j) = (0, 0), (1, 0), (0, 1), (1, 1): (i + 2j) C + c)."""
    from torchvision.models.swin_transformer import PatchMerging

    theirs, c = PatchMerging(16).eval(), 16
    ours = specdl.build_model(specdl.check(paper("swin_merging")).spec).eval().merge_5
    perm = [(i + 2 * j) * c + ch for ch in range(c) for i in (0, 1) for j in (0, 1)]
    with torch.no_grad():
        ours.layernorm_2.weight.copy_(theirs.norm.weight[perm]), ours.layernorm_2.bias.copy_(theirs.norm.bias[perm])
        ours.linear_3.weight.copy_(theirs.reduction.weight[:, perm])
        x = torch.randn(2, c, 4, 4)
        torch.testing.assert_close(ours(x), theirs(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters()) == 2_176


def test_stochastic_depth_drops_whole_samples_and_keeps_the_mean():
    layer = specdl.build_model(specdl.load({
        "name": "sd", "data": {"source": "synthetic", "shape": [4, 3], "outputs": [4, 3]},
        "model": {"layers": [{"stochastic_depth": 0.5}]}, "loss": "mse",
        "train": {"device": "cpu"}}), seed=False)
    x = torch.ones(4000, 4, 3)
    torch.manual_seed(0)
    y = layer.train()(x)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}  # a sample is dropped whole, or kept x 2
    assert (per_sample == per_sample[:, :1]).all()
    assert abs(y.mean().item() - 1.0) < 0.05
    assert torch.equal(layer.eval()(x), x)


def test_channel_shuffle_is_torchs():
    spec = specdl.load(paper("shufflenet"))
    layer = next(n.layer for n in specdl.check(spec).graph.nodes[2].subgraphs[0].nodes
                 if n.type == "channel_shuffle")
    x = torch.randn(2, 12, 3, 3)
    assert torch.equal(layer.apply(x), torch.nn.ChannelShuffle(3)(x))


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in HEAVY else [])
                                  for n in TORCHVISION])
def test_full_size_network_is_torchvisions(name):
    """The whole network as torchvision builds it, 224x224, 1000 classes: the same
    parameter count statically, and, with torchvision's weights copied in order, the
    same output in evaluation."""
    builder, kwargs, params = TORCHVISION[name]
    a = specdl.check(paper(name))
    theirs = getattr(torchvision.models, builder)(**kwargs).eval()
    assert a.graph.total_params() == sum(p.numel() for p in theirs.parameters()) == params
    ours = specdl.build_model(a.spec).eval()
    copy_by_order(theirs.state_dict().values(), ours)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize(("name", "want"), [
    ("inception", "[N, 28, 9, 9]"), ("siamese_conv", "[N, 2, 288]")])
def test_check_shows_the_papers_shapes(name, want):
    r = run_cli("check", paper(name))
    assert r.returncode == 0, r.stderr
    assert want in r.stdout


def test_the_papers_table_names_registered_layers():
    """docs/layers.md's "Networks from papers": every layer a row writes exists."""
    import re

    from specdl.components.base import REGISTRY
    from specdl.front.summary import PAPERS_SECTION

    rows = [ln for ln in PAPERS_SECTION.splitlines() if ln.startswith("| ") and "construct" not in ln]
    written = {n for r in rows for n in re.findall(r"`([a-z_0-9]+)(?::|`)", r.split(" | ")[-1])}
    assert len(rows) >= 20 and len(written) >= 25
    assert written - set(REGISTRY["layer"]) == {"dim", "groups", "inputs", "kernel_size", "repeat", "x0"}  # arguments, a name


def test_other_names_name_registered_layers():
    from specdl.components.base import REGISTRY
    from specdl.components.scope import ALIASES, OUT_OF_SCOPE

    layers = set(REGISTRY["layer"])
    assert set(ALIASES.values()) <= layers and not (set(ALIASES) | set(OUT_OF_SCOPE)) & layers


@pytest.mark.parametrize(("written", "said"), [
    ("drop_path", "it is called `stochastic_depth` here"), ("Swish", "it is called `silu` here"),
    ("transformer", "sequence-to-sequence decoding"), ("gru_cell", "stepped by hand"),
    ("max_unpool1d", "needs the pool's indices"), ("linaer", "did you mean `linear`?"),
    ("chunk", "it is called `narrow` here"), ("h_swish", "it is called `hardswish` here")])
def test_unknown_layers_say_what_they_know(written, said, tmp_path):
    """In process (tests/bad_specs/80-83 run these messages through the CLI)."""
    spec = tmp_path / "s.yaml"
    spec.write_text("data: {source: synthetic, shape: [4], classes: 2, size: 64}\n"
                    f"model:\n  layers:\n    - {written}\n    - linear: 2\nloss: cross_entropy\n")
    with pytest.raises(specdl.SpecError) as e:
        specdl.check(spec)
    [issue] = e.value.issues
    assert (issue.line, issue.col) == (4, 7)
    assert issue.message.startswith(f"unknown layer `{written}`") and said in issue.message


def sequence_model(layer: dict, shape=(6, 8)):
    return specdl.build_model(specdl.load({
        "name": "seq", "data": {"source": "synthetic", "shape": list(shape), "outputs": list(shape)},
        "model": {"layers": [layer]}, "loss": "mse", "train": {"device": "cpu"}}), seed=False).eval()


CAUSAL = [{"multihead_attention": {"num_heads": 2, "is_causal": True}},
          {"transformer_encoder_layer": {"nhead": 2, "dim_feedforward": 16, "is_causal": True}},
          {"transformer_encoder": {"nhead": 2, "dim_feedforward": 16, "num_layers": 2,
                                   "norm_first": True, "final_norm": True, "is_causal": True}}]


@pytest.mark.parametrize("layer", CAUSAL, ids=lambda d: next(iter(d)))
def test_causal_attention_sees_only_the_steps_before(layer):
    """With is_causal, step t's output is the same whatever the later steps hold; without
    it, changing the last step changes every step."""
    x = torch.randn(4, 6, 8)
    later = x.clone()
    later[:, 3:] = torch.randn(4, 3, 8)
    name = next(iter(layer))
    for causal in (True, False):
        model = sequence_model({name: {**layer[name], "is_causal": causal}})
        with torch.no_grad():
            a, b = model(x), model(later)
        assert torch.equal(a[:, 3:] == b[:, 3:], torch.zeros_like(a[:, 3:], dtype=torch.bool))
        assert torch.allclose(a[:, :3], b[:, :3], atol=1e-6) == causal


def test_causal_encoder_layer_is_torchs_with_the_mask():
    """The same as torch's layer given the causal mask by hand (-inf above the diagonal)."""
    model = sequence_model(CAUSAL[1])
    layer = next(iter(model.children()))
    x = torch.randn(3, 6, 8)
    mask = torch.triu(torch.full((6, 6), float("-inf")), diagonal=1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), layer(x, src_mask=mask))


@pytest.mark.parametrize(("layer", "said"), [
    ({"multihead_attention": {"num_heads": 2, "attn_mask": True}}, "with `is_causal: true`"),
    ({"transformer_encoder": {"nhead": 2, "src_key_padding_mask": True}}, "padding masks"),
    ({"multihead_attention": {"num_heads": 2, "is_causal": True, "inputs": ["input", "keys"]}},
     "must have the query's length 6"),
    ({"narrow": {"start": 4, "length": 3, "inputs": ["input"]}}, "runs past the end of dimension 1"),
    ({"narrow": {"dim": 0, "length": 1}}, "dim=0 is the batch dimension"),
    ({"narrow": {"start": -9, "length": 1}}, "start=-9 is out of range"),
    ({"pair": {"inputs": ["input", "keys"]}}, "a block has one input, its `input`"),
    ({"expand": {"size": 4}}, "expand stretches a dimension of size 1; dimension 1 of [N, 3, 8]"),
    ({"relu": {"inplace": True}}, "`inplace` is not offered: a layer never overwrites"),
    ({"dropout": {"p": 0.1, "inplace": True}}, "`inplace` is not offered"),
])
def test_new_layers_masks_inplace_and_block_inputs_say_what_is_wrong(layer, said, tmp_path):
    """One located line each, through the CLI."""
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "data: {source: synthetic, shape: [6, 8], classes: 2, size: 64}\n"
        "model:\n  blocks:\n    pair: [linear: 8]\n  layers:\n"
        "    - linear: {out_features: 8, inputs: [input]}\n"
        "    - narrow: {dim: 1, length: 3, inputs: [input], name: keys}\n"
        f"    - {layer}\n"
        "    - mean: 1\n    - linear: 2\nloss: cross_entropy\n")
    r = run_cli("check", spec)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 2 and lines[1] == "1 error", r.stderr
    assert lines[0].startswith(f"{spec}:8:") and said in lines[0], lines[0]
