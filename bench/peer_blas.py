"""OpenBLAS threads for the plain-PyTorch peers (bench/peer_*.py).

torch.set_num_threads sets the intra-op threads only: Debian's OpenBLAS keeps its own pool, one
thread per core, so a peer run at "1 thread" ran its matrix products on every core. hyperrep
sizes OpenBLAS's pool itself (common/runtime.cpp); the benchmarks pass its count here so that
both sides run on the same cores.
"""
import ctypes


def set_blas_threads(n):
    """Sets OpenBLAS to n threads; returns the count it reports (0 when OpenBLAS is not the BLAS)."""
    for name in ("libblas.so.3", "libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_set_num_threads(int(n))
            return int(lib.openblas_get_num_threads())
        except (OSError, AttributeError):
            continue
    return 0
