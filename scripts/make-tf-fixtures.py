#!/usr/bin/env python3
"""Makes the TensorFlow side of the ONNX import fixtures: two Keras networks trained on
the `sensor6` data folder (written by make-onnx-fixtures.py), converted with tf2onnx the
way TensorFlow users export, with a few inputs and the outputs TensorFlow computes for
them, so that the Rust tests need no Python.

Needs tensorflow-cpu, tf2onnx and numpy (not in CI; the fixtures are committed). Made
with TensorFlow 2.21 (Keras 3.15) and tf2onnx 1.17 at opset 13. Run from the repository
root:

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu tf2onnx
    /tmp/tfvenv/bin/python scripts/make-tf-fixtures.py [OUT_DIR]

What it writes (OUT_DIR defaults to host/onnx/tests/fixtures):
  tf_cnn1d.onnx            Permute to channels-last, Conv1D(16, 5) + ReLU, MaxPooling1D,
                           Conv1D(32, 5) + ReLU, GlobalAveragePooling1D, Dense(32) + ReLU,
                           Dense(6). tf2onnx writes each Conv1D as Unsqueeze, a 2-D Conv
                           without bias, Squeeze, then the bias as an Add.
  tf_gru.onnx              Permute, GRU(24), Dense(6). With Keras 3, tf2onnx writes the
                           GRU as a Loop over the steps, not an ONNX GRU: deepiot refuses
                           it, naming the op.
  MODEL.inputs.npy         a few training windows [K, 3, 64].
  MODEL.outputs.npy        what TensorFlow computes for them [K, 6] (logits).
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402

KEEP = 8


def cnn1d():
    i = tf.keras.Input((3, 64))
    h = tf.keras.layers.Permute((2, 1))(i)
    h = tf.keras.layers.Conv1D(16, 5, padding="same", activation="relu")(h)
    h = tf.keras.layers.MaxPooling1D(2)(h)
    h = tf.keras.layers.Conv1D(32, 5, padding="same", activation="relu")(h)
    h = tf.keras.layers.GlobalAveragePooling1D()(h)
    h = tf.keras.layers.Dense(32, activation="relu")(h)
    return tf.keras.Model(i, tf.keras.layers.Dense(6)(h))


def gru():
    i = tf.keras.Input((3, 64))
    h = tf.keras.layers.Permute((2, 1))(i)
    h = tf.keras.layers.GRU(24)(h)
    return tf.keras.Model(i, tf.keras.layers.Dense(6)(h))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "host/onnx/tests/fixtures"
    data = os.path.join("host/onnx/tests/fixtures", "sensor6")
    x = np.load(os.path.join(data, "train_x.npy"))
    y = np.load(os.path.join(data, "train_y.npy"))
    tf.random.set_seed(1)
    np.random.seed(1)
    for name, make in [("tf_cnn1d", cnn1d), ("tf_gru", gru)]:
        model = make()
        model.compile(
            "adam",
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(x, y, epochs=5, batch_size=64, verbose=0)
        spec = (tf.TensorSpec((None, 3, 64), tf.float32, name="x"),)

        @tf.function(input_signature=spec)
        def forward(t):
            return model(t, training=False)

        path = os.path.join(out, f"{name}.onnx")
        proto, _ = tf2onnx.convert.from_function(
            forward, input_signature=spec, opset=13, output_path=path
        )
        xs = x[:KEEP].astype(np.float32)
        np.save(os.path.join(out, f"{name}.inputs.npy"), xs)
        np.save(
            os.path.join(out, f"{name}.outputs.npy"),
            model(xs, training=False).numpy().astype(np.float32),
        )
        ops = sorted({n.op_type for n in proto.graph.node})
        print(f"{path}: ops {ops}")


if __name__ == "__main__":
    main()
