"""Build tfc's CMSIS-NN runtime into a shared library and call its kernels from numpy.

The ctypes structures mirror arm_nn_types.h field for field; each call_* function takes the
same arguments as the matching tfc.quant.reference kernel and returns the C output array.
"""
from __future__ import annotations

import ctypes as C
import subprocess
from pathlib import Path

import numpy as np

from tfc.quant.kernel_params import (
    AddParams, BatchMatmulParams, ConvParams, DepthwiseConvParams, FullyConnectedParams,
    MulParams, PoolParams, SoftmaxParams, conv_output_size,
)

RUNTIME = Path(__file__).resolve().parents[3] / "tfc" / "backends" / "cmsis" / "runtime"
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]


def build(out_dir: Path, *, dsp: bool, sanitize: bool = False) -> Path:
    """Compile every runtime source into one .so; fails the test on any warning."""
    name = f"libtfcnn_{'dsp' if dsp else 'portable'}{'_san' if sanitize else ''}.so"
    lib = out_dir / name
    cmd = ["gcc", *WARNINGS, "-O2", "-fPIC", "-shared", f"-I{RUNTIME / 'include'}"]
    if dsp:
        cmd.append("-DTFC_EMULATE_DSP")
    if sanitize:
        cmd += SANITIZE
    cmd += [str(p) for p in sorted((RUNTIME / "src").glob("*.c"))] + ["-o", str(lib)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise AssertionError(f"runtime build failed:\n{' '.join(cmd)}\n{res.stderr}")
    return lib


class Tile(C.Structure):
    _fields_ = [("w", C.c_int32), ("h", C.c_int32)]


class Context(C.Structure):
    _fields_ = [("buf", C.c_void_p), ("size", C.c_int32)]


class Dims(C.Structure):
    _fields_ = [("n", C.c_int32), ("h", C.c_int32), ("w", C.c_int32), ("c", C.c_int32)]


class PerChannelQuant(C.Structure):
    _fields_ = [("multiplier", C.POINTER(C.c_int32)), ("shift", C.POINTER(C.c_int32))]


class PerTensorQuant(C.Structure):
    _fields_ = [("multiplier", C.c_int32), ("shift", C.c_int32)]


class Activation(C.Structure):
    _fields_ = [("min", C.c_int32), ("max", C.c_int32)]


class ConvStruct(C.Structure):
    _fields_ = [("input_offset", C.c_int32), ("output_offset", C.c_int32), ("stride", Tile),
                ("padding", Tile), ("dilation", Tile), ("activation", Activation)]


class DwConvStruct(C.Structure):
    _fields_ = [("input_offset", C.c_int32), ("output_offset", C.c_int32), ("ch_mult", C.c_int32),
                ("stride", Tile), ("padding", Tile), ("dilation", Tile), ("activation", Activation)]


class PoolStruct(C.Structure):
    _fields_ = [("stride", Tile), ("padding", Tile), ("activation", Activation)]


class FcStruct(C.Structure):
    _fields_ = [("input_offset", C.c_int32), ("filter_offset", C.c_int32), ("output_offset", C.c_int32),
                ("activation", Activation)]


class BmmStruct(C.Structure):
    _fields_ = [("adj_x", C.c_bool), ("adj_y", C.c_bool), ("fc_params", FcStruct)]


def _tile(hw) -> Tile:
    return Tile(w=hw[1], h=hw[0])


def _ptr(a: np.ndarray, ctype):
    return a.ctypes.data_as(C.POINTER(ctype)) if a is not None else None


def _i32(seq) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(seq, dtype=np.int32))


def _s8(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.int8))


class Runtime:
    """One loaded build of the runtime; `dsp` says which code path it runs."""

    def __init__(self, path: Path, dsp: bool):
        self.lib = C.CDLL(str(path))
        self.dsp = dsp
        self.path = path
        for fn in ("arm_convolve_s8_get_buffer_size", "arm_depthwise_conv_s8_opt_get_buffer_size"):
            getattr(self.lib, fn).argtypes = [C.POINTER(Dims), C.POINTER(Dims)]
        for fn in ("arm_convolve_1x1_s8_fast_get_buffer_size", "arm_fully_connected_s8_get_buffer_size"):
            getattr(self.lib, fn).argtypes = [C.POINTER(Dims)]
        self.lib.arm_avgpool_s8_get_buffer_size.argtypes = [C.c_int, C.c_int]
        self.lib.arm_softmax_s8.restype = None
        self.lib.tfc_softmax_s8.restype = None
        self.lib.arm_relu_q7.restype = None
        self.lib.arm_relu6_s8.restype = None

    # ---- buffer sizes ----
    def convolve_s8_buffer(self, input_c, kh, kw) -> int:
        return self.lib.arm_convolve_s8_get_buffer_size(C.byref(Dims(1, 1, 1, input_c)), C.byref(Dims(1, kh, kw, input_c)))

    def convolve_1x1_buffer(self, input_c) -> int:
        return self.lib.arm_convolve_1x1_s8_fast_get_buffer_size(C.byref(Dims(1, 1, 1, input_c)))

    def depthwise_opt_buffer(self, input_c, kh, kw) -> int:
        return self.lib.arm_depthwise_conv_s8_opt_get_buffer_size(C.byref(Dims(1, 1, 1, input_c)), C.byref(Dims(1, kh, kw, input_c)))

    def fully_connected_buffer(self, out_c) -> int:
        return self.lib.arm_fully_connected_s8_get_buffer_size(C.byref(Dims(16, 1, 1, out_c)))

    def avgpool_buffer(self, out_w, ch) -> int:
        return self.lib.arm_avgpool_s8_get_buffer_size(out_w, ch)

    # ---- kernels ----
    def _check(self, status: int, what: str) -> None:
        if status != 0:
            raise RuntimeError(f"{what} returned status {status}")

    def conv2d(self, x, w, bias, p: ConvParams, *, output_hw=None, upscale=(1, 1), fast_1x1=False):
        x, w = _s8(x), _s8(w)
        n, h, wd, cin = x.shape
        cout, kh, kw, ck = w.shape
        vh, vw = h * upscale[0], wd * upscale[1]
        if output_hw is None:
            output_hw = tuple(conv_output_size((vh, vw)[i], (kh, kw)[i], p.stride[i], p.padding[i], p.padding[i],
                                               p.dilation[i]) for i in range(2))
        out = np.zeros((n, *output_hw, cout), dtype=np.int8)
        mult, shift = _i32(p.multipliers), _i32(p.shifts)
        b = _i32(bias) if bias is not None else None
        params = ConvStruct(p.input_offset, p.output_offset, _tile(p.stride), _tile(p.padding), _tile(p.dilation),
                            Activation(p.activation.min, p.activation.max))
        q = PerChannelQuant(_ptr(mult, C.c_int32), _ptr(shift, C.c_int32))
        in_dims, f_dims = Dims(n, vh, vw, cin), Dims(cout, kh, kw, ck)
        out_dims, b_dims = Dims(n, output_hw[0], output_hw[1], cout), Dims(1, 1, 1, cout)
        if fast_1x1:
            size = self.convolve_1x1_buffer(cin)
        else:
            size = self.lib.arm_convolve_s8_get_buffer_size(C.byref(in_dims), C.byref(f_dims))
        scratch = np.zeros(max(size, 0), dtype=np.uint8)
        ctx = Context(scratch.ctypes.data if size > 0 else None, size)
        if fast_1x1:
            st = self.lib.arm_convolve_1x1_s8_fast(
                C.byref(ctx), C.byref(params), C.byref(q), C.byref(in_dims), _ptr(x, C.c_int8), C.byref(f_dims),
                _ptr(w, C.c_int8), C.byref(b_dims), _ptr(b, C.c_int32), C.byref(out_dims), _ptr(out, C.c_int8))
        else:
            up = Dims(1, upscale[0], upscale[1], 1)
            st = self.lib.arm_convolve_s8(
                C.byref(ctx), C.byref(params), C.byref(q), C.byref(in_dims), _ptr(x, C.c_int8), C.byref(f_dims),
                _ptr(w, C.c_int8), C.byref(b_dims), _ptr(b, C.c_int32), C.byref(up), C.byref(out_dims),
                _ptr(out, C.c_int8))
        self._check(st, "arm_convolve_s8")
        return out

    def depthwise_conv2d(self, x, w, bias, p: DepthwiseConvParams, *, output_hw=None, opt=False):
        x, w = _s8(x), _s8(w)
        n, h, wd, cin = x.shape
        _, kh, kw, cout = w.shape
        if output_hw is None:
            output_hw = tuple(conv_output_size((h, wd)[i], (kh, kw)[i], p.stride[i], p.padding[i], p.padding[i],
                                               p.dilation[i]) for i in range(2))
        out = np.zeros((n, *output_hw, cout), dtype=np.int8)
        mult, shift = _i32(p.multipliers), _i32(p.shifts)
        b = _i32(bias) if bias is not None else None
        params = DwConvStruct(p.input_offset, p.output_offset, p.ch_mult, _tile(p.stride), _tile(p.padding),
                              _tile(p.dilation), Activation(p.activation.min, p.activation.max))
        q = PerChannelQuant(_ptr(mult, C.c_int32), _ptr(shift, C.c_int32))
        in_dims, f_dims = Dims(n, h, wd, cin), Dims(1, kh, kw, cout)
        out_dims, b_dims = Dims(n, output_hw[0], output_hw[1], cout), Dims(1, 1, 1, cout)
        size = self.lib.arm_depthwise_conv_s8_opt_get_buffer_size(C.byref(in_dims), C.byref(f_dims)) if opt else 0
        scratch = np.zeros(max(size, 0), dtype=np.uint8)
        ctx = Context(scratch.ctypes.data if size > 0 else None, size)
        fn = self.lib.arm_depthwise_conv_s8_opt if opt else self.lib.arm_depthwise_conv_s8
        st = fn(C.byref(ctx), C.byref(params), C.byref(q), C.byref(in_dims), _ptr(x, C.c_int8), C.byref(f_dims),
                _ptr(w, C.c_int8), C.byref(b_dims), _ptr(b, C.c_int32), C.byref(out_dims), _ptr(out, C.c_int8))
        self._check(st, "arm_depthwise_conv_s8")
        return out

    def fully_connected(self, x, w, bias, p: FullyConnectedParams):
        w = _s8(w)
        out_c, depth = w.shape
        x = _s8(x).reshape(-1, depth)
        n = x.shape[0]
        out = np.zeros((n, out_c), dtype=np.int8)
        b = _i32(bias) if bias is not None else None
        params = FcStruct(p.input_offset, p.filter_offset, p.output_offset,
                          Activation(p.activation.min, p.activation.max))
        ctx = Context(None, 0)
        args_dims = (Dims(n, 1, 1, depth), Dims(depth, 1, 1, out_c), Dims(1, 1, 1, out_c), Dims(n, 1, 1, out_c))
        if p.per_channel:
            mult, shift = _i32(p.multipliers), _i32(p.shifts)
            q = PerChannelQuant(_ptr(mult, C.c_int32), _ptr(shift, C.c_int32))
            fn = self.lib.arm_fully_connected_per_channel_s8
        else:
            q = PerTensorQuant(p.multipliers[0], p.shifts[0])
            fn = self.lib.arm_fully_connected_s8
        st = fn(C.byref(ctx), C.byref(params), C.byref(q), C.byref(args_dims[0]), _ptr(x, C.c_int8),
                C.byref(args_dims[1]), _ptr(w, C.c_int8), C.byref(args_dims[2]), _ptr(b, C.c_int32),
                C.byref(args_dims[3]), _ptr(out, C.c_int8))
        self._check(st, "arm_fully_connected_s8")
        return out

    def batch_matmul(self, lhs, rhs_t, p: BatchMatmulParams):
        lhs, rhs_t = _s8(lhs), _s8(rhs_t)  # both 4-D: [n, h, rows, cols]
        on, oh = max(lhs.shape[0], rhs_t.shape[0]), max(lhs.shape[1], rhs_t.shape[1])
        out = np.zeros((on, oh, lhs.shape[2], rhs_t.shape[2]), dtype=np.int8)
        params = BmmStruct(False, False, FcStruct(p.input_offset, p.filter_offset, p.output_offset,
                                                  Activation(p.activation.min, p.activation.max)))
        q = PerTensorQuant(p.multiplier, p.shift)
        st = self.lib.arm_batch_matmul_s8(
            C.byref(Context(None, 0)), C.byref(params), C.byref(q), C.byref(Dims(*lhs.shape)), _ptr(lhs, C.c_int8),
            C.byref(Dims(*rhs_t.shape)), _ptr(rhs_t, C.c_int8), C.byref(Dims(*out.shape)), _ptr(out, C.c_int8))
        self._check(st, "arm_batch_matmul_s8")
        return out

    def _pool(self, fn, x, p: PoolParams, output_hw, buffer: bool):
        x = _s8(x)
        n, h, wd, c = x.shape
        if output_hw is None:
            output_hw = tuple(conv_output_size((h, wd)[i], p.filter[i], p.stride[i], p.padding[i], p.padding[i])
                              for i in range(2))
        out = np.zeros((n, *output_hw, c), dtype=np.int8)
        size = self.avgpool_buffer(output_hw[1], c) if buffer else 0
        scratch = np.zeros(max(size, 0), dtype=np.uint8)
        ctx = Context(scratch.ctypes.data if size > 0 else None, size)
        params = PoolStruct(_tile(p.stride), _tile(p.padding), Activation(p.activation.min, p.activation.max))
        st = fn(C.byref(ctx), C.byref(params), C.byref(Dims(n, h, wd, c)), _ptr(x, C.c_int8),
                C.byref(Dims(1, p.filter[0], p.filter[1], 1)), C.byref(Dims(n, output_hw[0], output_hw[1], c)),
                _ptr(out, C.c_int8))
        self._check(st, "pooling")
        return out

    def avg_pool(self, x, p: PoolParams, *, output_hw=None):
        return self._pool(self.lib.arm_avgpool_s8, x, p, output_hw, buffer=True)

    def max_pool(self, x, p: PoolParams, *, output_hw=None):
        return self._pool(self.lib.arm_max_pool_s8, x, p, output_hw, buffer=False)

    def softmax(self, x, p: SoftmaxParams):
        x = _s8(x)
        rows = int(np.prod(x.shape[:-1]))
        out = np.zeros_like(x)
        self.lib.arm_softmax_s8(_ptr(x, C.c_int8), rows, x.shape[-1], p.mult, p.shift, p.diff_min,
                                _ptr(out, C.c_int8))
        return out

    def tfc_softmax(self, x, p: SoftmaxParams):
        """tfc_softmax_s8 with the layer's table from tfc.quant.reference.softmax_exp_table."""
        from tfc.quant.reference import softmax_exp_table
        x = _s8(x)
        rows = int(np.prod(x.shape[:-1]))
        out = np.zeros_like(x)
        table = np.ascontiguousarray(softmax_exp_table(p), dtype=np.uint32)
        self.lib.tfc_softmax_s8(_ptr(x, C.c_int8), C.c_int32(rows), C.c_int32(x.shape[-1]),
                                _ptr(table, C.c_uint32), _ptr(out, C.c_int8))
        return out

    def add(self, a, b, p: AddParams):
        a, b = _s8(a), _s8(b)
        out = np.zeros_like(a)
        st = self.lib.arm_elementwise_add_s8(
            _ptr(a, C.c_int8), _ptr(b, C.c_int8), p.input_1_offset, p.input_1_mult, p.input_1_shift,
            p.input_2_offset, p.input_2_mult, p.input_2_shift, p.left_shift, _ptr(out, C.c_int8), p.out_offset,
            p.out_mult, p.out_shift, p.activation.min, p.activation.max, a.size)
        self._check(st, "arm_elementwise_add_s8")
        return out

    def mul(self, a, b, p: MulParams):
        a, b = _s8(a), _s8(b)
        out = np.zeros_like(a)
        st = self.lib.arm_elementwise_mul_s8(
            _ptr(a, C.c_int8), _ptr(b, C.c_int8), p.input_1_offset, p.input_2_offset, _ptr(out, C.c_int8),
            p.out_offset, p.out_mult, p.out_shift, p.activation.min, p.activation.max, a.size)
        self._check(st, "arm_elementwise_mul_s8")
        return out

    def relu(self, x):
        out = _s8(x).copy()
        self.lib.arm_relu_q7(_ptr(out, C.c_int8), C.c_uint16(out.size))
        return out

    def relu6(self, x):
        out = _s8(x).copy()
        self.lib.arm_relu6_s8(_ptr(out, C.c_int8), C.c_uint16(out.size))
        return out
