"""Scalar pieces the Numba kernels share: bit reinterpretations, a float32 exp and a maximum that
vectorise, prefetch hints, and which vector registers the host has (the kernels' sizes that
depend on it are keyed by ``HOST_VECTORS``).

Numba's scalar ``np.exp`` compiles to a libm call per element (no SIMD on this toolchain), far
slower than NumPy's vectorised exp; a loop that calls ``exp_float32`` instead vectorises.
NumPy reinterprets bits with ``.view`` on whole arrays; Numba has no scalar ``view``, so the two
bit intrinsics below emit the LLVM instructions directly (a register operation, no memory).
"""

from __future__ import annotations

import llvmlite.binding
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def host_vectors() -> str:
    """"avx512" or "avx2 or less": the host's vector registers as LLVM sees them (numba compiles
    for that view).  A host whose features LLVM cannot read counts as "avx2 or less"."""
    try:
        features = llvmlite.binding.get_host_cpu_features()
    except RuntimeError:
        return "avx2 or less"
    return "avx512" if features.get("avx512f", False) else "avx2 or less"


HOST_VECTORS = host_vectors()

_F = np.float32
_LOG2E = _F(1.4426950408889634)
_LN2_HIGH = _F(0.693359375)  # ln 2 split in two so that n * ln2_high is exact in float32
_LN2_LOW = _F(-2.12194440e-4)
_EXP_FLOOR = _F(-88.0)  # rounds to n = -127, whose exponent field 0 makes 2^n (and the result) exactly 0


@intrinsic
def float32_from_bits(typing_context, bits):  # pragma: no cover - compiled
    """The float32 whose bit pattern is ``bits``, taken as an int32 (Numba's integer arithmetic
    widens to int64; the signature converts back)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, arguments):
        return builder.bitcast(arguments[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def bfloat16_to_float32(typing_context, bits):  # pragma: no cover - compiled
    """A bfloat16 bit pattern (uint16) -> its float32 value, exactly: zero-extend to 32 bits,
    shift left by 16 (a bfloat16 is the top half of a float32), reinterpret."""
    if not isinstance(bits, types.Integer) or bits.bitwidth != 16:
        return None

    def codegen(context, builder, signature, arguments):
        word = builder.zext(arguments[0], ir.IntType(32))
        word = builder.shl(word, ir.Constant(ir.IntType(32), 16))
        return builder.bitcast(word, ir.FloatType())

    return types.float32(bits), codegen


@numba.njit(nogil=True, cache=True, inline="always")
def exp_float32(x):  # pragma: no cover - compiled
    """exp(x) in float32, relative error below 3e-7 (about 2 ulp); arguments <= -88 give exactly 0.

    exp(x) = 2^n exp(r) with n = round(x / ln 2) and r = x - n ln 2 in [-ln2/2, ln2/2] (ln 2 in
    two parts so that n * ln2_high is exact: Cody and Waite's range reduction); exp(r) by a
    degree-6 polynomial; 2^n is the float32 whose exponent field is n + 127.  Meant for
    arguments <= 0 (a softmax's shifted scores); no overflow check.
    """
    x = _EXP_FLOOR if x < _EXP_FLOOR else x  # a NaN stays NaN (and gives NaN)
    n = np.floor(x * _LOG2E + _F(0.5))
    r = x - n * _LN2_HIGH - n * _LN2_LOW
    p = _F(1.9875691500e-4)
    p = p * r + _F(1.3981999507e-3)
    p = p * r + _F(8.3334519073e-3)
    p = p * r + _F(4.1665795894e-2)
    p = p * r + _F(1.6666665459e-1)
    p = p * r + _F(5.0000001201e-1)
    return (p * r * r + r + _F(1.0)) * float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))


@intrinsic
def larger(typing_context, a, b):  # pragma: no cover - compiled
    """The larger of two floats of one type (LLVM's maxnum: a NaN argument gives the other one).
    A loop of these is a max-reduction that LLVM vectorises; a compare-and-select chain
    (``a if a > b else b``) it keeps scalar, one element at a time."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, signature, arguments):
        value_type = context.get_value_type(signature.args[0])
        function_type = ir.FunctionType(value_type, [value_type, value_type])
        function = cgutils.get_or_insert_function(builder.module, function_type, f"llvm.maxnum.f{a.bitwidth}")
        return builder.call(function, arguments)

    return a(a, b), codegen


@intrinsic
def prefetch_to_l2(typing_context, address):  # pragma: no cover - compiled
    """Ask the CPU to bring the cache line at ``address`` (an integer, e.g. ``array.ctypes.data +
    offset``) into L2 for a read soon (LLVM's prefetch with locality 2, x86 prefetcht1); no effect
    on any value.  For a kernel that computes from L1 while the data it needs next is in memory:
    the hardware prefetchers follow the reads they see, and there are none while it computes.  The
    decoding kernels measured faster with this hint than with the L1 one (docs/kernels.md)."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, arguments):
        pointer_type = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [pointer_type, int32, int32, int32])
        function = cgutils.get_or_insert_function(builder.module, function_type, "llvm.prefetch.p0")
        # read (0), locality 2 (L2 and outwards), data cache (1)
        builder.call(function, [builder.inttoptr(arguments[0], pointer_type), int32(0), int32(2), int32(1)])
        return context.get_dummy_value()

    return types.void(types.intp), codegen


@numba.njit(nogil=True, cache=True, inline="always")
def prefetch_range_to_l2(start, n_bytes, part, n_parts):  # pragma: no cover - compiled
    """``prefetch_to_l2`` every cache line of part ``part`` of ``n_parts`` (equal shares, in lines)
    of the ``n_bytes`` from address ``start``; part 0 of 1 is the whole range.  A kernel that
    computes in several passes asks for one share per pass."""
    n_lines = (n_bytes + 63) // 64
    for line in range(part * n_lines // n_parts, (part + 1) * n_lines // n_parts):
        prefetch_to_l2(start + 64 * line)
