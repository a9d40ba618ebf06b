#!/usr/bin/env python3
"""Makes the ONNX import fixtures: a small sensor-like data set (a user data folder) and
four small PyTorch networks trained on it, each exported to ONNX, with a few inputs and
the outputs onnxruntime computes for them, so that the Rust tests need no Python.

Needs PyTorch, onnx, onnxscript, onnxruntime and numpy (not in CI; the fixtures are
committed). Run from the repository root:

    /tmp/torchenv/bin/python scripts/make-onnx-fixtures.py [OUT_DIR]

OUT_DIR defaults to host/onnx/tests/fixtures. Everything is seeded: the data set is the
same on every run; the trained weights may differ in the last bits between PyTorch
versions, which is why the expected outputs are saved beside the ONNX files.

What it writes:
  sensor6/{train_x,train_y,test_x,test_y}.npy, sensor6/classes.txt
      3-axis accelerometer windows [N, 3, 64] (float32), 6 classes (int64 labels).
  MODEL.{VARIANT}.onnx    VARIANT = dynamo-b1 (fixed batch 1), dynamo-dyn (dynamic
                          batch axis), legacy-dyn (the TorchScript exporter, dynamo=False,
                          dynamic batch axis), legacy-nofold (the same without constant
                          folding: batch norm and the shape arithmetic stay in the graph).
  MODEL.inputs.npy        a few test windows [K, 3, 64].
  MODEL.{VARIANT}.outputs.npy  what onnxruntime computes for them [K, 6].
  fixtures.txt            per model: parameters and test accuracy in PyTorch.
"""
import logging
import os
import sys
import warnings

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

CLASSES = ["still", "walk", "run", "stairs_up", "stairs_down", "cycle"]
AXES, STEPS = 3, 64
TRAIN, TEST = 900, 300
KEEP = 4  # inputs saved per model for the Rust tests


def make_data(seed):
    """Windows of 3-axis acceleration: per class a base frequency and amplitude per
    axis, a random phase, per-window gain and offset jitter, and Gaussian noise."""
    rng = np.random.default_rng(seed)
    freq = np.array([0.0, 1.6, 2.8, 1.2, 1.4, 2.0])  # Hz at 32 Hz sampling
    amp = np.array(
        [
            [0.05, 0.05, 0.05],
            [0.6, 0.3, 0.2],
            [1.2, 0.7, 0.5],
            [0.5, 0.6, 0.3],
            [0.6, 0.4, 0.5],
            [0.3, 0.2, 0.8],
        ]
    )
    harmonic = np.array([0.0, 0.2, 0.4, 0.5, 0.1, 0.3])
    t = np.arange(STEPS) / 32.0

    def split(n):
        y = rng.integers(0, len(CLASSES), size=n)
        x = np.empty((n, AXES, STEPS), dtype=np.float32)
        for i, c in enumerate(y):
            f = freq[c] * rng.uniform(0.85, 1.15)
            for a in range(AXES):
                phase = rng.uniform(0, 2 * np.pi)
                wave = np.sin(2 * np.pi * f * t + phase)
                wave += harmonic[c] * np.sin(4 * np.pi * f * t + 2 * phase)
                gain = amp[c, a] * rng.uniform(0.8, 1.2)
                offset = (1.0 if a == 2 else 0.0) + rng.normal(0, 0.1)
                x[i, a] = gain * wave + offset + rng.normal(0, 0.15, STEPS)
        return x, y.astype(np.int64)

    return split(TRAIN), split(TEST)


class Cnn1d(nn.Module):
    """1-D CNN with batch norm, global average pooling and dropout."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(AXES, 16, 5, padding=2)
        self.bn1 = nn.BatchNorm1d(16)
        self.pool1 = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(16, 32, 5, padding=2)
        self.bn2 = nn.BatchNorm1d(32)
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc1 = nn.Linear(32, 32)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(32, len(CLASSES))

    def forward(self, x):
        x = self.pool1(torch.relu(self.bn1(self.conv1(x))))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = torch.flatten(self.gap(x), 1)
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


class Cnn2d(nn.Module):
    """Plain 2-D CNN over the window as a one-channel [axes, steps] image."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, (3, 5), padding=(1, 2))
        self.pool1 = nn.MaxPool2d((1, 2))
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool2 = nn.AvgPool2d((1, 4))
        self.fc = nn.Linear(16 * AXES * 8, len(CLASSES))

    def forward(self, x):
        x = x.unsqueeze(1)
        x = self.pool1(torch.relu(self.conv1(x)))
        x = self.pool2(torch.tanh(self.conv2(x)))
        return self.fc(x.reshape(x.shape[0], -1))


class GruNet(nn.Module):
    """GRU classifier on the last step of the output sequence."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(AXES, 32, batch_first=True)
        self.fc = nn.Linear(32, len(CLASSES))

    def forward(self, x):
        y, _ = self.gru(x.transpose(1, 2))
        return self.fc(y[:, -1, :])


class BiLstmNet(nn.Module):
    """Bidirectional LSTM classifier on both directions' final states."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(AXES, 24, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(48, len(CLASSES))

    def forward(self, x):
        _, (h, _) = self.lstm(x.transpose(1, 2))
        return self.fc(torch.cat([h[0], h[1]], dim=1))


class BiGruMean(nn.Module):
    """A per-step dense layer (exported as MatMul + Add), a bidirectional GRU, and the
    mean of its outputs over the steps."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(AXES, 8)
        self.gru = nn.GRU(8, 16, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(32, len(CLASSES))

    def forward(self, x):
        x = torch.tanh(self.embed(x.transpose(1, 2)))
        y, _ = self.gru(x)
        return self.fc(y.mean(dim=1))


MODELS = {
    "cnn1d": Cnn1d,
    "cnn2d": Cnn2d,
    "gru": GruNet,
    "bilstm": BiLstmNet,
    "bigru_mean": BiGruMean,
}


def train(model, x, y, epochs, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=gen).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(torch.from_numpy(x)).argmax(1).numpy() == y).mean()


def export(model, path, dynamo, dynamic, fold=True):
    example = (torch.zeros(1, AXES, STEPS),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            shapes = {"x": {0: torch.export.Dim("batch", min=1)}} if dynamic else None
            torch.onnx.export(
                model,
                example,
                path,
                input_names=["x"],
                output_names=["logits"],
                dynamo=True,
                dynamic_shapes=shapes,
                external_data=False,
                verbose=False,
            )
        else:
            axes = {"x": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
            torch.onnx.export(
                model,
                example,
                path,
                input_names=["x"],
                output_names=["logits"],
                dynamo=False,
                dynamic_axes=axes,
                opset_version=17,
                do_constant_folding=fold,
            )


def ort_outputs(path, inputs):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    shape = sess.get_inputs()[0].shape
    if isinstance(shape[0], int):
        rows = [sess.run(None, {"x": inputs[i : i + 1]})[0] for i in range(len(inputs))]
        return np.concatenate(rows).astype(np.float32)
    return sess.run(None, {"x": inputs})[0].astype(np.float32)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "host/onnx/tests/fixtures"
    data_dir = os.path.join(out, "sensor6")
    os.makedirs(data_dir, exist_ok=True)
    torch.manual_seed(1)
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)  # the exporter's notes on torchvision ops
    (train_x, train_y), (test_x, test_y) = make_data(seed=15)
    for name, arr in [
        ("train_x", train_x),
        ("train_y", train_y),
        ("test_x", test_x),
        ("test_y", test_y),
    ]:
        np.save(os.path.join(data_dir, name + ".npy"), arr)
    with open(os.path.join(data_dir, "classes.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")

    summary = []
    inputs = test_x[:KEEP].copy()
    for name, cls in MODELS.items():
        torch.manual_seed(2)
        model = cls()
        recurrent = name not in ("cnn1d", "cnn2d")
        train(model, train_x, train_y, epochs=20 if recurrent else 8, lr=0.01)
        acc = accuracy(model, test_x, test_y)
        params = sum(p.numel() for p in model.parameters())
        line = f"{name}: {params} PyTorch parameters (batch-norm weights included), test accuracy {acc:.4f}"
        print(line)
        summary.append(line)
        np.save(os.path.join(out, f"{name}.inputs.npy"), inputs)
        for variant, dynamo, dynamic, fold in [
            ("dynamo-b1", True, False, True),
            ("dynamo-dyn", True, True, True),
            ("legacy-dyn", False, True, True),
            ("legacy-nofold", False, True, False),
        ]:
            path = os.path.join(out, f"{name}.{variant}.onnx")
            export(model, path, dynamo, dynamic, fold)
            got = ort_outputs(path, inputs)
            with torch.no_grad():
                want = model(torch.from_numpy(inputs)).numpy()
            diff = np.abs(got - want).max()
            print(f"  {variant}: onnxruntime vs PyTorch max |diff| {diff:.2e}")
            np.save(os.path.join(out, f"{name}.{variant}.outputs.npy"), got)
    with open(os.path.join(out, "fixtures.txt"), "w") as f:
        f.write("\n".join(summary) + "\n")


if __name__ == "__main__":
    main()
