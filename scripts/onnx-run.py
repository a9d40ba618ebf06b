#!/usr/bin/env python3
"""Runs an ONNX model in onnxruntime on a batch: the engine check of `deepiot export`.

    onnx-run.py MODEL.onnx IN.npy [IN2.npy ...] OUT.npy

One float32 .npy per graph input, in the graph's input order, each with the batch axis
first; the output goes to OUT.npy (float32). A model with several outputs needs OUT to end
in .npz, which then holds every output under its name. Needs only numpy and onnxruntime
(`pip install onnxruntime numpy`); scripts/test.sh makes a venv with them for the tests.
Exit codes: 0 done, 2 bad arguments or files, 3 onnxruntime refused or failed the model.
"""
import sys


def fail(code, message):
    print(f"onnx-run.py: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv):
    if len(argv) < 3 or argv[0] in ("-h", "--help"):
        fail(2, "usage: onnx-run.py MODEL.onnx IN.npy [IN2.npy ...] OUT.npy")
    model, inputs, out = argv[0], argv[1:-1], argv[-1]
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        fail(2, f"{e}; install them with `pip install onnxruntime numpy`")

    try:
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        fail(3, f"onnxruntime cannot load {model}: {e}")
    wanted = session.get_inputs()
    if len(inputs) != len(wanted):
        names = ", ".join(i.name for i in wanted)
        fail(2, f"{model} has {len(wanted)} input(s) ({names}) but {len(inputs)} .npy file(s) were given")
    feed = {}
    for spec, path in zip(wanted, inputs):
        try:
            x = np.load(path, allow_pickle=False)
        except Exception as e:
            fail(2, f"{path}: not a .npy array: {e}")
        if x.dtype != np.float32:
            fail(2, f"{path}: dtype {x.dtype}, expected float32")
        feed[spec.name] = x
    try:
        results = session.run(None, feed)
    except Exception as e:
        fail(3, f"onnxruntime failed to run {model}: {e}")
    names = [o.name for o in session.get_outputs()]
    if out.endswith(".npz"):
        np.savez(out, **dict(zip(names, results)))
    elif len(results) == 1:
        np.save(out, results[0].astype(np.float32))
    else:
        fail(2, f"{model} has {len(results)} outputs ({', '.join(names)}); give OUT as a .npz")


if __name__ == "__main__":
    main(sys.argv[1:])
