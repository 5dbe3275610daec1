#!/usr/bin/python3
"""The peer of bench_population: zoo generation the way the published zoos were made, one network
at a time in PyTorch eager (torch.nn + torch.optim.Adam at batch 10, a shuffled epoch, then loss
and accuracy on the train, val and test images), on the same Fashion-MNIST subset sizes.

Run by bench_population with /usr/bin/python3 and Debian's python3-torch (tools/install_deps.sh
--python); --threads and --blas-threads (OpenBLAS, bench/peer_blas.py) as hyperrep runs; prints
one line per network:
  peer <network> threads <n> blas <m> train <images> epochs <e> <rate> member-epochs/s
"""
import argparse
import gzip
import struct
import time

import torch
from peer_blas import set_blas_threads
import torch.nn as nn
import torch.nn.functional as F

NETWORKS = {
    "cnn_s": lambda: nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.MaxPool2d(2), nn.Tanh(), nn.Conv2d(8, 6, 5), nn.MaxPool2d(2), nn.Tanh(),
        nn.Conv2d(6, 4, 2), nn.Tanh(), nn.Flatten(), nn.Linear(36, 20), nn.Tanh(), nn.Linear(20, 10)),
    "small_cnn_zoo": lambda: nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2), nn.Tanh(), nn.Conv2d(16, 16, 3, stride=2), nn.Tanh(),
        nn.Conv2d(16, 16, 3, stride=2), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)),
}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).view(*shape)


def load(directory, train, val, test):
    x = read_idx(f"{directory}/train-images-idx3-ubyte.gz").float().div(255).unsqueeze(1)
    y = read_idx(f"{directory}/train-labels-idx1-ubyte.gz").long()
    xt = read_idx(f"{directory}/t10k-images-idx3-ubyte.gz").float().div(255).unsqueeze(1)
    yt = read_idx(f"{directory}/t10k-labels-idx1-ubyte.gz").long()
    p = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(42))
    mean, std = x.mean(), x.std()
    norm = lambda t: (t - mean) / std
    return {"train": (norm(x[p[:train]]), y[p[:train]]), "val": (norm(x[p[train:train + val]]), y[p[train:train + val]]),
            "test": (norm(xt[:test]), yt[:test])}


def rate(network, data, batch, epochs):
    torch.manual_seed(1)
    model = NETWORKS[network]()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    x, y = data["train"]
    n = x.shape[0]
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n)
        for i in range(0, n - batch + 1, batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for split in ("train", "val", "test"):
                xs, ys = data[split]
                logits = model(xs)
                F.cross_entropy(logits, ys).item(), logits.argmax(1).eq(ys).sum().item()
    return epochs / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--network", choices=sorted(NETWORKS), default="cnn_s")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blas-threads", type=int, default=1, help="OpenBLAS threads (hyperrep's default: 1)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    blas = set_blas_threads(a.blas_threads)
    data = load(a.data, a.train, a.train // 4, a.train // 2)
    r = rate(a.network, data, a.batch, a.epochs)
    print(f"peer {a.network} threads {torch.get_num_threads()} blas {blas} train {a.train} epochs {a.epochs} {r:.3f} member-epochs/s "
          f"torch {torch.__version__}", flush=True)


if __name__ == "__main__":
    main()
