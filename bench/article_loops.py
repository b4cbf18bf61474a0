"""The source article's three tabular programs, as written there (DataLoader over a
TensorDataset, no validation, torch's default threads), for side-by-side timing.

Only two things are added so the results are comparable: the same seeded split as the
specs (the article's split is unseeded), and a test evaluation at the end.
"""

from __future__ import annotations

import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, TensorDataset


class MLP(nn.Module):
    def __init__(self, in_features, hidden=16, out_features=3):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, out_features)

    def forward(self, x):
        x = self.act(self.fc1(x))
        return self.fc2(x)


class NeuralRegression(nn.Module):
    def __init__(self, in_features):
        super().__init__()
        self.seq = nn.Sequential(
            nn.Linear(in_features, 20), nn.ReLU(),
            nn.Linear(20, 10), nn.ReLU(),
            nn.Linear(10, 5), nn.ReLU(),
            nn.Linear(5, 1))

    def forward(self, x):
        return self.seq(x)


class DigitCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=2)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=2)
        self.drop = nn.Dropout(0.25)
        self.flat = nn.Flatten()
        self.fc1 = nn.Linear(20, 50)
        self.fc2 = nn.Linear(50, 10)
        self.logsoft = nn.LogSoftmax(dim=1)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.pool(x)
        x = F.relu(self.conv2(x))
        x = self.pool(x)
        x = self.drop(x)
        x = self.flat(x)
        x = F.relu(self.fc1(x))
        return self.logsoft(self.fc2(x))


def _train(model, criterion, opt, train_dl, epochs):
    t = time.perf_counter()
    for _epoch in range(epochs):
        for xb, yb in train_dl:
            opt.zero_grad()
            out = model(xb)
            loss = criterion(out, yb)
            loss.backward()
            opt.step()
    return time.perf_counter() - t


def iris(epochs: int, seed: int = 0):
    X, y = load_iris(return_X_y=True)
    X = torch.tensor(X, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.long)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    train_dl = DataLoader(TensorDataset(Xtr, ytr), batch_size=32, shuffle=True)
    model = MLP(in_features=X.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    secs = _train(model, nn.CrossEntropyLoss(), opt, train_dl, epochs)
    model.eval()
    with torch.no_grad():
        acc = accuracy_score(yte.numpy(), model(Xte).argmax(1).numpy())
    return secs, {"accuracy": acc}


def diabetes(epochs: int, seed: int = 0):
    X, y = load_diabetes(return_X_y=True)
    X = torch.tensor(X, dtype=torch.float32)
    y = torch.tensor(y.reshape(-1, 1), dtype=torch.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=seed)
    train_dl = DataLoader(TensorDataset(Xtr, ytr), batch_size=32, shuffle=True)
    torch.set_default_device("cpu")  # as the article does ("por ejemplo")
    try:
        model = NeuralRegression(X.shape[1])
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        secs = _train(model, nn.MSELoss(), opt, train_dl, epochs)
    finally:
        torch.set_default_device(None)
    model.eval()
    with torch.no_grad():
        r2 = r2_score(yte.numpy(), model(Xte).numpy())
    return secs, {"r2": r2}


def digits(epochs: int, seed: int = 0):
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X = torch.tensor(X, dtype=torch.float32).view(-1, 1, 8, 8)
    y = torch.tensor(y, dtype=torch.long)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    train_dl = DataLoader(TensorDataset(Xtr, ytr), batch_size=32, shuffle=True)
    model = DigitCNN()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    secs = _train(model, nn.NLLLoss(), opt, train_dl, epochs)
    model.eval()
    with torch.no_grad():
        acc = accuracy_score(yte.numpy(), model(Xte).argmax(1).numpy())
    return secs, {"accuracy": acc}


PROGRAMS = {"iris_mlp": iris, "diabetes_mlp": diabetes, "digits_cnn": digits}
