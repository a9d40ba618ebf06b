#!/usr/bin/env python3
"""onnxruntime's p50 on the peer benchmark's ONNX files: a reference line for
scripts/peer-bench.sh (x86-64, one thread; not the board's instruction set).

    ort-bench.py [--rounds R] [--iterations N] NAME=MODEL.safetensors,MODEL.onnx[,MODEL.int8.safetensors] ...
"""
import statistics
import sys
import time


def main(argv):
    rounds, iterations, cases = 9, 200, []
    it = iter(argv)
    for a in it:
        if a == "--rounds":
            rounds = int(next(it))
        elif a == "--iterations":
            iterations = int(next(it))
        else:
            name, files = a.split("=", 1)
            cases.append((name, files.split(",")[1]))
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sessions = []
    for name, path in cases:
        s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        spec = s.get_inputs()[0]
        shape = [1] + [int(d) for d in spec.shape[1:]]
        x = np.random.default_rng(42).uniform(-1, 1, shape).astype(np.float32)
        sessions.append((name, s, {spec.name: x}, []))
    for _ in range(rounds):
        for name, s, feed, times in sessions:
            for _ in range(iterations):
                t = time.perf_counter()
                s.run(None, feed)
                times.append((time.perf_counter() - t) * 1e6)
    print(f"| model | onnxruntime {ort.__version__} p50 (x86-64, 1 thread) |\n|---|---|")
    for name, _, _, times in sessions:
        print(f"| {name} | {statistics.median(times):.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
