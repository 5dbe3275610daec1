#!/usr/bin/env python3
"""Writes a synthetic dataset directory in the exact layout of the public Small CNN Zoo files
(BENCHMARKS.md section 1), at full size by default, for measuring `hyperrep zoo import --from
smallcnnzoo` (time and peak memory). Needs python3-numpy (`tools/install_deps.sh --python`). The full size takes 5.4 GB (float32
weights.npy of 270,000 x 4970) plus as much again for the imported zoo.

  /usr/bin/python3 bench/smallcnnzoo_synthetic.py OUT_DIR [--runs 30000] [--nan-rows 25]
  /usr/bin/time -v build/bin/hyperrep zoo import --from smallcnnzoo OUT_DIR --out ZOO

Weights are random normals (scaled per tensor), metrics plausible random numbers, configuration
columns drawn from the published choices; a few rows get NaN weights so the importer's drop
path runs at scale. The metrics are gzip-compressed as published.
"""
import argparse
import gzip
import os

import numpy as np

STEPS = [0, 1, 2, 3, 20, 40, 60, 80, 86]
LAYOUT = [  # varname, shape (bias first, then kernel; TensorFlow order)
    ("sequential/conv2d/bias:0", (16,)), ("sequential/conv2d/kernel:0", (3, 3, 1, 16)),
    ("sequential/conv2d_1/bias:0", (16,)), ("sequential/conv2d_1/kernel:0", (3, 3, 16, 16)),
    ("sequential/conv2d_2/bias:0", (16,)), ("sequential/conv2d_2/kernel:0", (3, 3, 16, 16)),
    ("sequential/dense/bias:0", (10,)), ("sequential/dense/kernel:0", (16, 10)),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--runs", type=int, default=30000)
    ap.add_argument("--nan-rows", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    cols = sum(int(np.prod(s)) for _, s in LAYOUT)
    rows = args.runs * len(STEPS)

    with open(os.path.join(args.out, "layout.csv"), "w") as f:
        f.write("varname,start_idx,end_idx,shape\n")
        start = 0
        for name, shape in LAYOUT:
            n = int(np.prod(shape))
            f.write('%s,%d,%d,"%s"\n' % (name, start, start + n, str(shape)))
            start += n

    w = np.lib.format.open_memmap(os.path.join(args.out, "weights.npy"), mode="w+", dtype=np.float32, shape=(rows, cols))
    block = 9000
    for r0 in range(0, rows, block):
        r1 = min(rows, r0 + block)
        w[r0:r1] = rng.standard_normal((r1 - r0, cols), dtype=np.float32) * 0.1
    for r in rng.choice(rows, size=min(args.nan_rows, rows), replace=False):
        w[r, rng.integers(cols)] = np.nan
    w.flush()
    del w

    activations = ["relu", "tanh"]
    inits = ["he_normal", "glorot_normal", "RandomNormal", "orthogonal", "truncated_normal", "glorot_uniform", "he_uniform"]
    optimizers = ["adam", "sgd", "rmsprop"]
    fractions = [0.1, 0.25, 0.5, 1.0]
    header = ("," + ",".join(["modeldir", "step", "test_accuracy", "test_loss", "train_accuracy", "train_loss",
                              "config.activation", "config.w_init", "config.b_init", "config.init_std",
                              "config.optimizer", "config.learning_rate", "config.l2reg", "config.dropout",
                              "config.train_fraction", "config.dataset", "config.dnn_architecture", "config.epochs",
                              "config.epochs_between_checkpoints", "config.num_layers", "config.num_units",
                              "config.random_seed"]) + "\n")
    with gzip.open(os.path.join(args.out, "metrics.csv.gz"), "wt", compresslevel=6) as f:
        f.write(header)
        index = 0
        for run in range(args.runs):
            cfg = [activations[rng.integers(2)], inits[rng.integers(len(inits))], "zeros",
                   "%.6g" % (10 ** rng.uniform(-3, 0)), optimizers[rng.integers(3)], "%.6g" % (10 ** rng.uniform(-4, -2)),
                   "%.6g" % (10 ** rng.uniform(-8, -2)), "%.6g" % rng.uniform(0, 0.7), "%g" % fractions[rng.integers(4)],
                   "fashion_mnist", "cnn", "86", "20", "3", "16", str(run)]
            lines = []
            for step in STEPS:
                test = rng.uniform(0.1, 0.9)
                train = min(1.0, test + rng.uniform(0, 0.1))
                lines.append("%d,%s,%d,%.9g,%.9g,%.9g,%.9g,%s\n" % (
                    index, "trained/fashion_mnist/cnn/%d" % run, step, test, rng.uniform(0.2, 2.3), train,
                    rng.uniform(0.1, 2.3), ",".join(cfg)))
                index += 1
            f.write("".join(lines))
    print("wrote %s: %d rows x %d columns" % (args.out, rows, cols))


if __name__ == "__main__":
    main()
