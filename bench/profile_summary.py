#!/usr/bin/python3
"""Where the time of one profiled step goes: reads a Chrome trace written by LibTorch's autograd
profiler (bench_autoencoder --profile PREFIX) or by torch.profiler (peer_autoencoder.py
--profile FILE), computes every op's self time (its duration minus that of the ops it called),
and prints self time by phase (augment, forward, loss, backward, optimizer: the user scopes
named "phase:*"), by kind of work, and the ops that cost most. Standard library only.

usage: profile_summary.py TRACE.json [--top 25]
"""
import argparse
import collections
import json
import re

# Kind of work by op name (first match wins); anything else is "elementwise and other".
KINDS = [
    ("GEMM", r"^aten::(mm|bmm|addmm|baddbmm|addbmm|matmul|linear|_addmm_activation)$"),
    ("attention softmax", r"softmax"),
    ("layer norm", r"layer_norm"),
    ("batch norm", r"batch_norm"),
    ("copies and layout", r"^aten::(copy_|contiguous|clone|cat|stack|index|index_select|gather|scatter_?|index_put_?|"
                          r"_index_put_impl_|masked_fill_?|masked_scatter_?|narrow|slice|select|transpose|permute|view|"
                          r"reshape|_reshape_alias|expand|as_strided|unsqueeze|squeeze|t|flip|unfold|"
                          r"constant_pad_nd|split|chunk|empty|empty_strided|resize_|zeros|zeros_like|ones_like|"
                          r"empty_like|fill_|zero_|to|_to_copy|detach|alias|unbind)$"),
    ("reductions", r"^aten::(sum|mean|logsumexp|norm|linalg_vector_norm|max|amax|min|var|std|var_mean)$"),
]
OPTIMIZER_OPS = r"^aten::(add_|addcmul_|addcdiv_|mul_|div_|sqrt|lerp_|_foreach_.*)$"


def kind_of(name):
    for kind, pattern in KINDS:
        if re.search(pattern, name):
            return kind
    if name.startswith("autograd::engine") or name.endswith("Backward0") or name.endswith("Backward1"):
        return "autograd bookkeeping"
    return "elementwise and other"


def self_times(events):
    """Per thread, nest complete events by time and return (name, phase, self_us) per op."""
    by_tid = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            by_tid[e.get("tid")].append(e)
    out = []
    for evs in by_tid.values():
        evs.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack = []  # [end, name, phase, child_us, dur]

        def close(item):
            end, name, phase, child, dur = item
            if not name.startswith("phase:"):
                out.append((name, phase, max(0.0, dur - child)))
            if stack:
                stack[-1][3] += dur

        for e in evs:
            ts, dur, name = float(e["ts"]), float(e["dur"]), e["name"]
            while stack and stack[-1][0] <= ts + 1e-9:
                close(stack.pop())
            phase = name[6:] if name.startswith("phase:") else (stack[-1][2] if stack else "outside")
            stack.append([ts + dur, name, phase, 0.0, dur])
        while stack:
            close(stack.pop())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    with open(a.trace) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    ops = self_times(events)
    total = sum(t for _, _, t in ops)
    print(f"{a.trace}: {len(ops)} ops, {total / 1e3:.1f} ms of self time")

    def table(title, key):
        acc = collections.Counter()
        for name, phase, t in ops:
            acc[key(name, phase)] += t
        print(f"\n| {title} | ms | % |\n|---|---:|---:|")
        for k, t in acc.most_common():
            print(f"| {k} | {t / 1e3:.1f} | {100 * t / total:.1f} |")

    table("phase", lambda n, p: p)
    table("kind of work", lambda n, p: "optimizer" if p == "optimizer" and re.search(OPTIMIZER_OPS, n) else kind_of(n))
    counts = collections.Counter(n for n, _, _ in ops)
    acc = collections.Counter()
    for name, phase, t in ops:
        acc[(name, phase)] += t
    print(f"\n| op (phase) | calls | ms | % |\n|---|---:|---:|---:|")
    for (name, phase), t in acc.most_common(a.top):
        print(f"| {name} ({phase}) | {counts[name]} | {t / 1e3:.1f} | {100 * t / total:.1f} |")


if __name__ == "__main__":
    main()
