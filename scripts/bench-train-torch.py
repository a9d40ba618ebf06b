#!/usr/bin/env python3
"""PyTorch's training step for LeNet-5 (batch 64, AdamW), beside `deepiot bench-train`.

Times forward + backward + AdamW on one fixed batch, the way `deepiot bench-train` does,
for each thread count, and with --deepiot BIN runs that binary's bench-train (our
im2col convolution) alternately in the same run, so that the ratio sees one load:

    scripts/bench-train-torch.py --deepiot target/release/deepiot --threads 1,2 --rounds 3

Needs PyTorch (CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu).
Only LeNet-5 is here; the network is the paper's (Caffe's MNIST variant, no activation
after the convolutions), as `shared/src/reference.rs` defines it.
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


def torch_step_ms(threads, batch, iterations, warmup):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    net = LeNet5()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
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


def deepiot_step_ms(binary, threads, batch, iterations, warmup):
    out = subprocess.run(
        [binary, "bench-train", "--task", "mnist-lenet5", "--only", "im2col",
         "--threads", str(threads), "--batch", str(batch), "-n", str(iterations),
         "-w", str(warmup), "--json"],
        check=True, capture_output=True, text=True,
        env={"RAYON_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"},
    ).stdout
    return json.loads(out)["results"][0]["mean_ms"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--deepiot", help="a deepiot binary to time alternately")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("-n", "--iterations", type=int, default=40)
    p.add_argument("-w", "--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    print(f"LeNet-5 training step, batch {a.batch}, mean over {a.iterations} steps; "
          f"PyTorch {torch.__version__}")
    for threads in [int(t) for t in a.threads.split(",")]:
        for r in range(1, a.rounds + 1):
            t = torch_step_ms(threads, a.batch, a.iterations, a.warmup)
            line = f"threads {threads} round {r}: PyTorch {t:.1f} ms"
            if a.deepiot:
                d = deepiot_step_ms(a.deepiot, threads, a.batch, a.iterations, a.warmup)
                line += f", deepiot {d:.1f} ms, ratio deepiot/PyTorch {d / t:.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
