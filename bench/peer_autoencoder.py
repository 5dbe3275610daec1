#!/usr/bin/python3
"""The peer of bench_autoencoder: the same hyper-representation autoencoder step written plainly in
PyTorch eager, so that hyperrep's C++ step is timed against what a researcher would write.

One step: two augmented views of a batch of flat weight vectors (a neuron permutation from a
pool, erasing with p 0.5 of 2-33 % of the vector; the benchmark's augment defaults), neuron tokens
embedded per layer, compression token, learned positions, pre-norm blocks (d_model, 4 heads,
d_ff, dropout 0.1), tanh bottleneck, decoder mirror with per-layer de-embeddings, the projection
head (Linear-BN-ReLU, Linear-BN), layer-normalised MSE + NT-Xent (tau 0.1) mixed with gamma 0.5,
backward and an Adam step. Run by bench_autoencoder with /usr/bin/python3 and Debian's
python3-torch (tools/install_deps.sh --python); --threads and --blas-threads (OpenBLAS,
bench/peer_blas.py) as hyperrep runs; prints one line per case:
  peer <case> threads <n> blas <m> batch <b> steps <s> <seconds> s/step
"""
import argparse
import math
import time

import torch
from peer_blas import set_blas_threads
import torch.nn as nn
import torch.nn.functional as F

# (kind, in, out, kernel): the member layers with parameters, in order; conv kernels k x k.
CASES = {
    "tetris": dict(layers=[("linear", 16, 5, 1, False), ("linear", 5, 4, 1, False)],
                   d_model=256, d_ff=512, latent=50),
    "mnist": dict(layers=[("conv", 1, 8, 5, True), ("conv", 8, 6, 5, True), ("conv", 6, 4, 2, True),
                          ("linear", 36, 20, 1, True), ("linear", 20, 10, 1, True)],
                  d_model=800, d_ff=900, latent=700),
}


def flat_layout(layers):
    """Per layer: (weight offset, weight shape, bias offset or None); and the total length."""
    out, off = [], 0
    for kind, cin, cout, k, bias in layers:
        shape = (cout, cin, k, k) if kind == "conv" else (cout, cin)
        n = math.prod(shape)
        out.append((off, shape, off + n if bias else None))
        off += n + (cout if bias else 0)
    return out, off


def permutation_pool(layers, size, gen):
    """size flat index maps, each a random function-preserving permutation of every hidden layer's
    neurons (rows and bias of layer i, the matching input columns of layer i + 1)."""
    layout, total = flat_layout(layers)
    pool = torch.empty(size, total, dtype=torch.int64)
    for s in range(size):
        idx = torch.arange(total)
        for i in range(len(layers) - 1):
            cout = layers[i][2]
            p = torch.randperm(cout, generator=gen)
            off, shape, boff = layout[i]
            n = math.prod(shape)
            idx[off:off + n] = idx[off:off + n].view(shape)[p].reshape(-1)
            if boff is not None:
                idx[boff:boff + cout] = idx[boff:boff + cout][p]
            noff, nshape, _ = layout[i + 1]
            nn_ = math.prod(nshape)  # inputs of the next layer in groups of cout (channels x positions)
            idx[noff:noff + nn_] = idx[noff:noff + nn_].view(nshape[0], cout, -1)[:, p].reshape(-1)
        pool[s] = idx
    return pool, layout


class Block(nn.Module):
    def __init__(self, d, heads, d_ff, dropout):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff1, self.ff2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)
        self.drop = nn.Dropout(dropout)

    def attention(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), -1)
        return self.out((a @ v).transpose(1, 2).reshape(b, t, d))

    def forward(self, x):
        x = x + self.drop(self.attention(self.norm1(x)))
        return x + self.drop(self.ff2(F.relu(self.ff1(self.norm2(x)))))


class Autoencoder(nn.Module):
    def __init__(self, layers, d, d_ff, latent, heads=4, blocks=2, dropout=0.1):
        super().__init__()
        self.layout, _ = flat_layout(layers)
        self.neurons = [l[2] for l in layers]
        self.dims = [math.prod(shape[1:]) + (1 if boff is not None else 0) for _, shape, boff in self.layout]
        t = sum(self.neurons)
        self.embed = nn.ModuleList(nn.Linear(n, d) for n in self.dims)
        self.deembed = nn.ModuleList(nn.Linear(d, n) for n in self.dims)
        self.compression = nn.Parameter(0.02 * torch.randn(1, 1, d))
        self.enc_pos = nn.Parameter(0.02 * torch.randn(1, t + 1, d))
        self.dec_pos = nn.Parameter(0.02 * torch.randn(1, t, d))
        self.encoder = nn.ModuleList(Block(d, heads, d_ff, dropout) for _ in range(blocks))
        self.decoder = nn.ModuleList(Block(d, heads, d_ff, dropout) for _ in range(blocks))
        self.bottleneck = nn.Linear(d, latent)
        self.decoder_input = nn.Linear(latent, t * d)
        self.drop = nn.Dropout(dropout)
        self.d = d

    def tokens(self, w):
        out = []
        for (off, shape, boff), n in zip(self.layout, self.neurons):
            tok = w[:, off:off + math.prod(shape)].reshape(w.shape[0], n, -1)
            if boff is not None:
                tok = torch.cat([tok, w[:, boff:boff + n].unsqueeze(2)], 2)
            out.append(tok)
        return out

    def detokenize(self, toks):
        parts = []
        for (off, shape, boff), tok in zip(self.layout, toks):
            if boff is None:
                parts.append(tok.reshape(tok.shape[0], -1))
            else:
                parts += [tok[:, :, :-1].reshape(tok.shape[0], -1), tok[:, :, -1]]
        return torch.cat(parts, 1)

    def encode(self, w):
        x = torch.cat([e(t) for e, t in zip(self.embed, self.tokens(w))], 1)
        x = torch.cat([self.compression.expand(x.shape[0], 1, self.d), x], 1) + self.enc_pos
        x = self.drop(x)
        for blk in self.encoder:
            x = blk(x)
        return torch.tanh(self.bottleneck(x[:, 0]))

    def decode(self, z):
        x = self.drop(self.decoder_input(z).view(z.shape[0], -1, self.d) + self.dec_pos)
        for blk in self.decoder:
            x = blk(x)
        toks, start = [], 0
        for de, n in zip(self.deembed, self.neurons):
            toks.append(de(x[:, start:start + n]))
            start += n
        return self.detokenize(toks)


def head(latent, hidden=400, out=50, layers=4):
    mods, n = [], latent
    for _ in range(layers - 1):
        mods += [nn.Linear(n, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
        n = hidden
    return nn.Sequential(*mods, nn.Linear(n, out), nn.BatchNorm1d(out))


def nt_xent(a, b, tau):
    z = F.normalize(torch.cat([a, b]), dim=1)
    m = a.shape[0]
    sim = (z @ z.t()) / tau
    sim = sim.masked_fill(torch.eye(2 * m, dtype=torch.bool), float("-inf"))
    twins = torch.cat([torch.arange(m, 2 * m), torch.arange(m)])
    return F.cross_entropy(sim, twins)


def erase(w, gen, p=0.5, lo=0.02, hi=0.33):
    b, n = w.shape
    u = torch.rand(b, 3, generator=gen)
    length = ((lo + (hi - lo) * u[:, 1]) * n).floor().long() * (u[:, 0] < p).long()
    start = (u[:, 2] * (n - length + 1)).floor().long()
    pos = torch.arange(n).unsqueeze(0)
    return w.masked_fill((pos >= start.unsqueeze(1)) & (pos < (start + length).unsqueeze(1)), 0.0)


def run(case, batch, steps, warmup, pool_size):
    c = CASES[case]
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    pool, layout = permutation_pool(c["layers"], pool_size, gen)
    total = pool.shape[1]
    ae = Autoencoder(c["layers"], c["d_model"], c["d_ff"], c["latent"])
    g = head(c["latent"])
    params = list(ae.parameters()) + list(g.parameters())
    opt = torch.optim.Adam(params, lr=1e-4, weight_decay=1e-9)
    layer_of = torch.cat([torch.full((math.prod(shape) + (shape[0] if boff is not None else 0),), i)
                          for i, (_, shape, boff) in enumerate(layout)])
    inv_var = 1.0 / torch.full((len(layout),), 0.01).clamp_min(1e-4)
    w = 0.1 * torch.randn(batch, total)

    def view():
        return erase(torch.gather(w, 1, pool[torch.randint(pool_size, (batch,), generator=gen)]), gen)

    def step():
        opt.zero_grad()
        v1, v2 = view(), view()
        z1, z2 = ae.encode(v1), ae.encode(v2)
        r1, r2 = ae.decode(z1), ae.decode(z2)
        recon = 0.5 * ((((r1 - v1) ** 2) * inv_var[layer_of]).mean() + (((r2 - v2) ** 2) * inv_var[layer_of]).mean())
        loss = 0.5 * nt_xent(g(z1), g(z2), 0.1) + 0.5 * recon
        loss.backward()
        opt.step()

    ae.train(), g.train()
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=sorted(CASES), default="tetris")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blas-threads", type=int, default=1, help="OpenBLAS threads (hyperrep's default: 1)")
    ap.add_argument("--pool", type=int, default=2000, help="permutations in the pool (hyperrep: 25,000; the cost per step is one gather either way)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    blas = set_blas_threads(a.blas_threads)
    s = run(a.case, a.batch, a.steps, a.warmup, a.pool)
    print(f"peer {a.case} threads {torch.get_num_threads()} blas {blas} batch {a.batch} steps {a.steps} {s:.4f} s/step torch {torch.__version__}",
          flush=True)


if __name__ == "__main__":
    main()
