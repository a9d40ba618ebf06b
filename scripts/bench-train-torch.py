#!/usr/bin/env python3
"""PyTorch's training step beside `deepiot bench-train`: LeNet-5, DeepSense UserID, bi-LSTM.

Times forward + backward + AdamW on one fixed batch, the way `deepiot bench-train` does,
for each model and thread count, and with --deepiot BIN runs that binary's bench-train
(our convolution and recurrence ops) alternately in the same run, so that the ratio sees
one load:

    scripts/bench-train-torch.py --deepiot target/release/deepiot --threads 1,2 --rounds 3

Needs PyTorch (pip install torch; a CPU-only build is enough). The networks are the zoo's
(`host/src/models/zoo.rs`), layer for layer:
  - mnist-lenet5: the paper's LeNet-5 (Caffe's MNIST variant, no activation after the
    convolutions), input [1, 28, 28], 10 classes;
  - userid-deepsense: three 1x3 convolutions of 64 with ReLU over [3 axes, 8 intervals,
    13 samples], each interval's features flattened, two GRUs of 120 (the second averaged
    over time), dense over 15 people;
  - speech-bilstm: two bidirectional LSTMs of 64 per direction over [100 frames, 40 mel
    bands] (the second averaged over time), dense over 10 digits.
"""
import argparse
import json
import subprocess
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 2)
        x = F.max_pool2d(self.conv2(x), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class DeepSense(nn.Module):
    def __init__(self, classes=15, intervals=8, samples=13):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, (1, 3))
        self.conv2 = nn.Conv2d(64, 64, (1, 3))
        self.merge = nn.Conv2d(64, 64, (1, 3))
        self.gru1 = nn.GRU(64 * (samples - 6), 120, batch_first=True)
        self.gru2 = nn.GRU(120, 120, batch_first=True)
        self.fc = nn.Linear(120, classes)

    def forward(self, x):
        x = F.relu(self.merge(F.relu(self.conv2(F.relu(self.conv1(x))))))
        # [N, 64, T, S] -> [N, T, 64 * S], as the zoo's permute + reshape
        x = x.permute(0, 2, 1, 3).flatten(2)
        x, _ = self.gru1(x)
        x, _ = self.gru2(x)
        return self.fc(x.mean(1))


class BiLstm(nn.Module):
    def __init__(self, features=40, classes=10):
        super().__init__()
        self.lstm1 = nn.LSTM(features, 64, batch_first=True, bidirectional=True)
        self.lstm2 = nn.LSTM(128, 64, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(128, classes)

    def forward(self, x):
        x, _ = self.lstm1(x)
        x, _ = self.lstm2(x)
        return self.fc(x.mean(1))


# task -> (module, per-example input shape, classes)
MODELS = {
    "mnist-lenet5": (LeNet5, (1, 28, 28), 10),
    "userid-deepsense": (DeepSense, (3, 8, 13), 15),
    "speech-bilstm": (BiLstm, (100, 40), 10),
}


def torch_step_ms(task, threads, batch, iterations, warmup):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    module, shape, classes = MODELS[task]
    net = module()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)
    x = torch.randn(batch, *shape)
    y = torch.randint(0, classes, (batch,))
    times = []
    for i in range(warmup + iterations):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append((time.perf_counter() - t) * 1e3)
    return sum(times) / len(times)


def deepiot_step_ms(binary, task, threads, batch, iterations, warmup):
    out = subprocess.run(
        [binary, "bench-train", "--task", task, "--only", "im2col",
         "--threads", str(threads), "--batch", str(batch), "-n", str(iterations),
         "-w", str(warmup), "--json"],
        check=True, capture_output=True, text=True,
        env={"RAYON_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"},
    ).stdout
    return json.loads(out)["results"][0]["mean_ms"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--deepiot", help="a deepiot binary to time alternately")
    p.add_argument("--tasks", default=",".join(MODELS), help="comma-separated, of: " + ", ".join(MODELS))
    p.add_argument("--threads", default="1,2")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("-n", "--iterations", type=int, default=40)
    p.add_argument("-w", "--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    tasks = a.tasks.split(",")
    unknown = [t for t in tasks if t not in MODELS]
    if unknown:
        p.error(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    print(f"training step, batch {a.batch}, mean over {a.iterations} steps; "
          f"PyTorch {torch.__version__}")
    for task in tasks:
        params = sum(p.numel() for p in MODELS[task][0]().parameters())
        print(f"{task}: {params} parameters (deepiot bench-train prints its own count)")
        for threads in [int(t) for t in a.threads.split(",")]:
            for r in range(1, a.rounds + 1):
                t = torch_step_ms(task, threads, a.batch, a.iterations, a.warmup)
                line = f"{task} threads {threads} round {r}: PyTorch {t:.1f} ms"
                if a.deepiot:
                    d = deepiot_step_ms(a.deepiot, task, threads, a.batch, a.iterations, a.warmup)
                    line += f", deepiot {d:.1f} ms, ratio deepiot/PyTorch {d / t:.2f}"
                print(line, flush=True)


if __name__ == "__main__":
    main()
