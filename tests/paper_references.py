"""Networks of tests/papers/*.yaml written directly in torch, as their papers (and timm,
torchaudio, pytorch-tabnet) build them: the independent references tests/test_papers.py
holds those specs to, parameter for parameter and output for output. Each module defines
its parameters in the spec's order, so weights copy across by order."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def pre_norm_encoder(d: int, layers: int = 2, heads: int = 2, ff: int | None = None, norm=True):
    layer = nn.TransformerEncoderLayer(d, heads, ff or 2 * d, 0.0, "gelu", batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d) if norm else None,
                                 enable_nested_tensor=False)


class Learned(nn.Module):
    """A learned tensor as a module of its own, so that it keeps its place in the order."""

    def __init__(self, *shape, std=0.02):
        super().__init__()
        self.value = nn.Parameter(torch.randn(*shape) * std)


class DeiT(nn.Module):
    """Touvron et al. 2021 (timm's DistilledVisionTransformer): [cls, dist, patches]."""

    def __init__(self, d=32, patch=8, tokens=16, classes=4):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, d, patch, patch)
        self.cls_token, self.dist_token = Learned(1, 1, d), Learned(1, 1, d)
        self.pos_embed = Learned(1, tokens + 2, d)
        self.blocks = pre_norm_encoder(d)
        self.head, self.head_dist = nn.Linear(d, classes), nn.Linear(d, classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = (self.cls_token.value.expand(len(x), -1, -1), self.dist_token.value.expand(len(x), -1, -1))
        x = self.blocks(torch.cat([*tokens, x], 1) + self.pos_embed.value)
        return (self.head(x[:, 0]) + self.head_dist(x[:, 1])) / 2


class Perceiver(nn.Module):
    """Jaegle et al. 2021: latents cross-attend to the input (kdim, vdim: its width)."""

    def __init__(self, width=6, d=16, latents=4, classes=3):
        super().__init__()
        self.input_norm = nn.LayerNorm(width)
        self.latents = Learned(1, latents, d)
        self.latent_norm = nn.LayerNorm(d)
        self.cross = nn.MultiheadAttention(d, 1, kdim=width, vdim=width, batch_first=True)
        self.mlp_norm = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.latent_transformer = pre_norm_encoder(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = self.input_norm(x)
        z = self.latents.value.expand(len(x), -1, -1)
        z = z + self.cross(self.latent_norm(z), x, x, need_weights=False)[0]
        z = z + self.mlp(self.mlp_norm(z))
        return self.head(self.latent_transformer(z).mean(1))


class Wav2Letter(nn.Module):
    """torchaudio.models.Wav2Letter's acoustic model (widths 250 and 2000 there), then the
    frames' mean."""

    def __init__(self, features=13, classes=5, width=25, wide=200):
        super().__init__()
        convs = [nn.Conv1d(features, width, 48, 2, 23), *[nn.Conv1d(width, width, 7, 1, 3) for _ in range(7)],
                 nn.Conv1d(width, wide, 32, 1, 16), nn.Conv1d(wide, wide, 1), nn.Conv1d(wide, classes, 1)]
        self.acoustic_model = nn.Sequential(*[m for c in convs for m in (c, nn.ReLU())])

    def forward(self, x):
        return self.acoustic_model(x).mean(2)


class GLULayer(nn.Module):
    """pytorch-tabnet's GLU_Layer (BatchNorm for its ghost BatchNorm)."""

    def __init__(self, inp, out):
        super().__init__()
        self.fc, self.bn = nn.Linear(inp, 2 * out, bias=False), nn.BatchNorm1d(2 * out)

    def forward(self, x):
        return F.glu(self.bn(self.fc(x)))


class FeatTransformer(nn.Module):
    def __init__(self, inp, out=16, layers=4):
        super().__init__()
        self.glu = nn.ModuleList([GLULayer(inp, out), *[GLULayer(out, out) for _ in range(layers - 1)]])

    def forward(self, x):
        x = self.glu[0](x)
        for layer in self.glu[1:]:
            x = (x + layer(x)) * math.sqrt(0.5)
        return x


class TabNet(nn.Module):
    """Arik & Pfister 2021 (pytorch-tabnet's TabNetNoEmbeddings), softmax for sparsemax,
    no shared layers, no prior scales."""

    def __init__(self, features=12, n_d=8, n_a=8, steps=2, classes=3):
        super().__init__()
        self.n_d = n_d
        self.initial_bn = nn.BatchNorm1d(features)
        self.initial_splitter = FeatTransformer(features, n_d + n_a)
        self.steps = nn.ModuleList(nn.ModuleList([nn.Linear(n_a, features, bias=False), nn.BatchNorm1d(features),
                                                  FeatTransformer(features, n_d + n_a)]) for _ in range(steps))
        self.final_mapping = nn.Linear(n_d, classes, bias=False)

    def forward(self, x):
        x = self.initial_bn(x)
        att, out = self.initial_splitter(x)[:, self.n_d:], 0
        for fc, bn, transformer in self.steps:
            h = transformer(torch.softmax(bn(fc(att)), 1) * x)
            out, att = out + F.relu(h[:, :self.n_d]), h[:, self.n_d:]
        return self.final_mapping(out)


def mlp(*widths):
    layers = [m for a, b in zip(widths, widths[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
    return nn.Sequential(*layers[:-1])


class TwoTower(nn.Module):
    """Yi et al. 2019: user and item towers, their dot product as the logit."""

    def __init__(self, users=50, items=40, d=8):
        super().__init__()
        self.user_emb, self.user_tower = nn.Embedding(users, d), mlp(d + 4, 32, 16)
        self.item_emb, self.item_tower = nn.Embedding(items, d), mlp(d + 3, 32, 16)

    def forward(self, user_id, user_feats, item_id, item_feats):
        u = self.user_tower(torch.cat([self.user_emb(user_id).flatten(1), user_feats], 1))
        v = self.item_tower(torch.cat([self.item_emb(item_id).flatten(1), item_feats], 1))
        return (u * v).sum(1, keepdim=True)


class MMoE(nn.Module):
    """Ma et al. 2018: shared experts, a softmax gate and a tower per task."""

    def __init__(self, features=10, experts=3, outs=(3, 1)):
        super().__init__()
        self.experts = nn.ModuleList(mlp(features, 16, 8) for _ in range(experts))
        self.tasks = nn.ModuleList(nn.ModuleList([nn.Linear(features, experts), mlp(8, 8, out)]) for out in outs)

    def forward(self, x):
        e = torch.stack([expert(x) for expert in self.experts], 1)          # [N, E, 8]
        return tuple(tower((e * torch.softmax(gate(x), 1)[..., None]).sum(1)) for gate, tower in self.tasks)


class KimCNN(nn.Module):
    """Kim 2014: filter widths 3, 4, 5, max-over-time pooling, dropout, the classes."""

    def __init__(self, vocabulary, d=16, filters=8, widths=(3, 4, 5), classes=2):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, d, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(d, filters, k) for k in widths)
        self.dropout, self.fc = nn.Dropout(0.5), nn.Linear(filters * len(widths), classes)

    def forward(self, sentence):
        x = self.embedding(sentence).transpose(1, 2)
        return self.fc(self.dropout(torch.cat([F.relu(c(x)).amax(2) for c in self.convs], 1)))


class MaskedConv2d(nn.Conv2d):
    """PixelCNN's masked 3x3 convolution (van den Oord et al. 2016), as its implementations
    write it: a full kernel times a mask; A keeps the rows above and the pixels to the left,
    B the centre too."""

    def __init__(self, mask_type: str, inp: int, out: int, bias=True):
        super().__init__(inp, out, 3, padding=1, bias=bias)
        mask = torch.ones(3, 3)
        mask[1, 1 + (mask_type == "B"):], mask[2:] = 0, 0
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=1)

    def kept(self) -> int:
        """The parameters the mask lets count."""
        return int(self.mask.sum()) * self.in_channels * self.out_channels + self.out_channels


class BahdanauEncoder(nn.Module):
    """RNNsearch's encoder and its decoder's first attention step (Bahdanau et al. 2015)."""

    def __init__(self, vocabulary=30, d=16, h=16, classes=3):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, d)
        self.encoder = nn.GRU(d, h, batch_first=True, bidirectional=True)
        self.init_state = nn.Linear(h, h)                        # W_s
        self.w, self.u = nn.Linear(h, h, bias=False), nn.Linear(2 * h, h)
        self.v = nn.Linear(h, 1, bias=False)
        self.out = nn.Linear(3 * h, classes)

    def forward(self, ids):
        annotations, h_n = self.encoder(self.embedding(ids))
        s0 = torch.tanh(self.init_state(h_n[1]))                 # the backward direction's final state
        a = torch.softmax(self.v(torch.tanh(self.w(s0)[:, None] + self.u(annotations))), 1)
        return self.out(torch.cat([(a * annotations).sum(1), s0], 1))


def conv_bn(inp, out, k, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(inp, out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(out))


class SEBottleneck(nn.Module):
    """pretrainedmodels' senet.SEBottleneck: 1x1 to 2 planes, grouped 3x3 to 4 planes, 1x1,
    SEModule (reduction 16), the shortcut's downsample where given."""

    def __init__(self, inp, planes, groups=4, stride=1, downsample_kernel=None):
        super().__init__()
        self.conv1, self.conv2 = conv_bn(inp, planes * 2, 1), conv_bn(planes * 2, planes * 4, 3, stride, groups)
        self.conv3 = conv_bn(planes * 4, planes * 4, 1)
        self.fc1, self.fc2 = nn.Conv2d(planes * 4, planes * 4 // 16, 1), nn.Conv2d(planes * 4 // 16, planes * 4, 1)
        self.downsample = conv_bn(inp, planes * 4, downsample_kernel, stride) if downsample_kernel else None

    def forward(self, x):
        out = self.conv3(F.relu(self.conv2(F.relu(self.conv1(x)))))
        out = out * torch.sigmoid(self.fc2(F.relu(self.fc1(out.mean((2, 3), keepdim=True)))))
        return F.relu(out + (self.downsample(x) if self.downsample else x))


class SENet154(nn.Module):
    """pretrainedmodels' senet154 (input_3x3 stem, downsample_kernel_size 3 after the first
    stage) at widths 8 and 16 and two blocks a stage."""

    def __init__(self, classes=4):
        super().__init__()
        self.layer0 = nn.Sequential(conv_bn(3, 8, 3, 2), nn.ReLU(), conv_bn(8, 8, 3), nn.ReLU(), conv_bn(8, 16, 3),
                                    nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True))
        self.layer1 = nn.Sequential(SEBottleneck(16, 8, downsample_kernel=1), SEBottleneck(32, 8))
        self.layer2 = nn.Sequential(SEBottleneck(32, 16, stride=2, downsample_kernel=3), SEBottleneck(64, 16))
        self.dropout, self.last_linear = nn.Dropout(0.2), nn.Linear(64, classes)

    def forward(self, x):
        x = self.layer2(self.layer1(self.layer0(x)))
        return self.last_linear(self.dropout(x.mean((2, 3))))


class CoAtNet(nn.Module):
    """Dai et al. 2021's equations, C-T: a pre-norm MBConv downsampling block and a
    Transformer downsampling block, plain attention (no relative bias)."""

    def __init__(self, classes=4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.GELU())
        self.c_proj, self.c_norm = nn.Conv2d(16, 32, 1), nn.BatchNorm2d(16)
        self.expand = nn.Sequential(nn.Conv2d(16, 64, 1, 2, bias=False), nn.BatchNorm2d(64), nn.GELU())
        self.depthwise = nn.Sequential(nn.Conv2d(64, 64, 3, 1, 1, groups=64, bias=False), nn.BatchNorm2d(64), nn.GELU())
        self.se = nn.Sequential(nn.Conv2d(64, 4, 1), nn.GELU(), nn.Conv2d(4, 64, 1), nn.Sigmoid())
        self.project = nn.Conv2d(64, 32, 1)
        self.t_proj, self.t_norm = nn.Conv2d(32, 64, 1), nn.LayerNorm(32)
        self.attention, self.attention_out = nn.MultiheadAttention(32, 2, batch_first=True), nn.Linear(32, 64)
        self.ffn = nn.Sequential(nn.LayerNorm(64), nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64))
        self.head = nn.Sequential(nn.LayerNorm(64), nn.Linear(64, classes))

    def forward(self, x):
        x = self.stem(x)
        h = self.depthwise(self.expand(self.c_norm(x)))
        x = self.c_proj(F.max_pool2d(x, 2)) + self.project(h * self.se(h.mean((2, 3), keepdim=True)))
        tokens = F.max_pool2d(self.t_norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), 2).flatten(2).transpose(1, 2)
        shortcut = self.t_proj(F.max_pool2d(x, 2)).flatten(2).transpose(1, 2)
        t = shortcut + self.attention_out(self.attention(tokens, tokens, tokens, need_weights=False)[0])
        return self.head((t + self.ffn(t)).mean(1))
