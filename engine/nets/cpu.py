"""What the CPU computes natively, read once from /proc/cpuinfo: whether bf16 and int8
inference pay off on this machine."""

from __future__ import annotations

import functools


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo cannot be read, as on macOS)."""
    try:
        with open("/proc/cpuinfo") as f:
            return frozenset(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return frozenset()


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 in hardware (AVX512-BF16 or AMX); elsewhere bf16 on a
    CPU is emulated and slower than fp32."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cpu_has_vnni() -> bool:
    """True where the CPU has int8 dot products (AVX512-VNNI, AVX-VNNI or AMX). Without them
    the quantized kernels saturate at the full 8-bit activation range used here."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})
