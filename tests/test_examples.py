"""The example specs of the model language, against the same networks written by hand
in torch: equal parameter counts and output shapes; each also trains for one epoch
and generates code."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import specdl

from .conftest import ROOT


def cbr(cin, c):
    return nn.Sequential(nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a, self.conv, self.bn = cbr(c, c), nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(x + self.bn(self.conv(self.a(x))))


class Down(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(cin, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c),
                                  nn.ReLU(), nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.proj = nn.Sequential(nn.Conv2d(cin, c, 1, stride=2, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return torch.relu(self.main(x) + self.proj(x))


def resnet_small():
    return nn.Sequential(cbr(3, 16), Residual(16), Residual(16), Down(16, 32), Residual(32), Down(32, 64),
                         Residual(64), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def double_conv(cin, c):
    return nn.Sequential(nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU())


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1, self.enc2, self.mid = double_conv(1, 8), double_conv(8, 16), double_conv(16, 32)
        self.up2, self.dec2 = nn.ConvTranspose2d(32, 16, 2, stride=2), double_conv(32, 16)
        self.up1, self.dec1 = nn.ConvTranspose2d(16, 8, 2, stride=2), double_conv(16, 8)
        self.out = nn.Conv2d(8, 1, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(nn.functional.max_pool2d(e1, 2))
        m = self.mid(nn.functional.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.out(d1)


class TextCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.conv, self.fc = nn.Embedding(100, 32), nn.Conv1d(32, 64, 3, padding=1), nn.Linear(64, 4)

    def forward(self, x):
        h = torch.relu(self.conv(self.emb(x).permute(0, 2, 1)))
        return self.fc(h.mean(dim=2))


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(8, 32, num_layers=2, batch_first=True, dropout=0.1), nn.Linear(32, 3)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.fc(h[-1])


class TransformerClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 32)
        layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.1, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.fc = nn.Linear(32, 3)

    def forward(self, x):
        return self.fc(self.enc(self.emb(x)).mean(dim=1))


def resnet18_head3():
    import torchvision

    m = torchvision.models.resnet18()
    m.fc = nn.Linear(512, 3)
    return m


TWINS = {"resnet_small": resnet_small, "unet_small": UNet, "text_cnn": TextCNN,
         "lstm_classifier": LSTMClassifier, "transformer_classifier": TransformerClassifier,
         "resnet18_transfer": resnet18_head3}


def sample(a, n=3):
    inp = a.graph.input
    if inp.dtype == "int64":
        return torch.randint(0, 10, (n, *inp.shape[1:]))
    return torch.randn(n, *inp.shape[1:])


@pytest.mark.parametrize("name", sorted(TWINS))
def test_matches_hand_written_twin(name):
    a = specdl.check(ROOT / "specs" / f"{name}.yaml")
    twin = TWINS[name]().eval()
    model = specdl.build_model(a.spec).eval()
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model) == count(twin) == a.graph.total_params()
    x = sample(a)
    with torch.no_grad():
        assert model(x).shape == twin(x).shape == (3, *a.graph.output.out.shape[1:])


# the two ResNets train ~3 s each: CI's slow run
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n.startswith("resnet") else n
                                  for n in sorted(TWINS)])
def test_trains_one_epoch(name, tmp_path):
    metrics, run = specdl.train(ROOT / "specs" / f"{name}.yaml", out=tmp_path / "r",
                                overrides=["train.epochs=1"])
    assert json.loads((run / "report.json").read_text())["epochs_run"] == 1
    assert all(v == v for v in metrics.values())  # no NaN
