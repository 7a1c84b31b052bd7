"""Vectorizable transcendental functions written in LLVM IR.

libm's ``expf``/``logf``/``tanhf`` are scalar calls, so a loop that contains one never vectorizes
(``tanhf`` runs at ~64 M values/s here).  The functions below are straight-line IR (range
reduction, polynomials evaluated with ``llvm.fmuladd``, exponent manipulation through ``bitcast``
and ``select`` for special values), emitted as ``internal alwaysinline`` functions: after inlining
the loop vectorizer sees plain arithmetic and emits 8-wide (AVX2) or 16-wide (AVX-512) code.

Special values follow numpy / C99: ``exp(-inf) = 0``, ``exp(inf) = inf``, overflow gives ``inf``,
underflow gives denormals then ``0``; ``log(0) = -inf``, ``log(x < 0) = nan``, ``log(inf) = inf``,
denormal arguments are exact; ``tanh(+-inf) = +-1``, ``tanh(-0) = -0``; ``sigmoid(+-inf) = 1/0``
and ``sigmoid`` never overflows (``exp(-|x|)`` only); ``pow`` has C99's special cases (``pow(x, 0)
= 1``, ``pow(1, y) = 1``, negative bases with integer exponents, zeros and infinities); NaN
propagates everywhere else.  Accuracy (measured by ``tests/test_vecmath.py``): a few ulp at most.

Algorithms:

* ``exp``: ``n = round(x / ln2)`` with the 1.5*2**52 (2**23) "magic number" (no float->int
  conversion, which AVX2 lacks for 64-bit lanes), Cody-Waite ``r = x - n*ln2_hi - n*ln2_lo``;
  float32: Cephes' degree-6 polynomial; float64: fdlibm's rational form.  The result is scaled by
  ``2**n`` as two factors ``2**(n//2) * 2**(n - n//2)``, so gradual underflow and overflow need no
  branch (the argument is clamped to where the result is 0 / inf anyway).
* ``log``: ``x = 2**k * m`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` by integer arithmetic on the bits
  (musl's trick), then fdlibm's ``log(1+f) = f - f*f/2 + s*(f*f/2 + R(s*s))``, ``s = f/(2+f)``
  (FreeBSD's 4-term float32 / 7-term float64 polynomial).
* ``tanh``: Cephes: a polynomial (float32) / rational (float64) for ``|x| < 0.625``, else
  ``1 - 2/(exp(2|x|) + 1)`` with ``2|x|`` clamped to where tanh rounds to 1 (so that exp needs no
  special cases); the sign is copied from ``x``.  (An odd rational ``x*P(x*x)/Q(x*x)`` is 2x
  faster in float32 but 5 ulp off; evaluated in float64 it is accurate but halves the vector
  width of the whole loop on AVX2.)
* ``sigmoid``: ``e = exp(-|x|)``; ``1/(1+e)`` for ``x >= 0`` and ``e/(1+e)`` otherwise.
* ``pow`` (float32 only): ``exp(y*log|x|)`` evaluated in float64 by the functions above (29 spare
  bits make it correctly rounded in practice), then C99's special cases by ``select``.

float64 ``pow`` and ``sin``/``cos`` of both dtypes stay libm calls (accurate huge-argument
reduction for sin/cos and a double-double log for pow are not worth it yet): :func:`supports`
tells the renderer which ones exist here.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

from llvmlite import ir

__all__ = ["supports", "function", "FUNCTIONS"]

_F32, _F64 = ir.FloatType(), ir.DoubleType()
_I1, _I32, _I64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
_FLOAT = {"float32": _F32, "float64": _F64}
_INT = {"float32": _I32, "float64": _I64}
_SUFFIX = {"float32": "f32", "float64": "f64"}
_BYTES = {"float32": 4, "float64": 8}


class _Math:
    """An IRBuilder bound to one float dtype, with the few operations the algorithms need.
    No fast-math flags anywhere: the algorithms depend on the exact IEEE operations."""

    def __init__(self, module: ir.Module, builder: ir.IRBuilder, dtype: str):
        self.m, self.b, self.dtype = module, builder, dtype
        self.ft, self.it = _FLOAT[dtype], _INT[dtype]

    # constants
    def c(self, v: float) -> ir.Constant:
        return ir.Constant(self.ft, v)

    def ci(self, v: int) -> ir.Constant:
        return ir.Constant(self.it, v)

    # arithmetic
    def add(self, x, y):
        return self.b.fadd(x, y)

    def sub(self, x, y):
        return self.b.fsub(x, y)

    def mul(self, x, y):
        return self.b.fmul(x, y)

    def div(self, x, y):
        return self.b.fdiv(x, y)

    def neg(self, x):
        return self.b.fneg(x)

    def _intr(self, name: str, *args):
        ty = self.ft
        full = f"llvm.{name}.{_SUFFIX[self.dtype]}"
        fn = self.m.globals.get(full)
        if fn is None:
            fn = ir.Function(self.m, ir.FunctionType(ty, [ty] * len(args)), name=full)
        return self.b.call(fn, args)

    def fma(self, x, y, z):
        """x*y + z, fused where the target has FMA (``llvm.fmuladd`` never becomes a libcall)."""
        return self._intr("fmuladd", x, y, z)

    def abs(self, x):
        return self._intr("fabs", x)

    def copysign(self, mag, sign):
        return self._intr("copysign", mag, sign)

    def floor(self, x):
        return self._intr("floor", x)

    def horner(self, x, coeffs):
        """coeffs[0]*x**(n-1) + ... + coeffs[-1]."""
        acc = self.c(coeffs[0])
        for k in coeffs[1:]:
            acc = self.fma(acc, x, self.c(k))
        return acc

    # comparisons (ordered: false for NaN) and selection
    def lt(self, x, y):
        return self.b.fcmp_ordered("<", x, y)

    def le(self, x, y):
        return self.b.fcmp_ordered("<=", x, y)

    def gt(self, x, y):
        return self.b.fcmp_ordered(">", x, y)

    def ge(self, x, y):
        return self.b.fcmp_ordered(">=", x, y)

    def eq(self, x, y):
        return self.b.fcmp_ordered("==", x, y)

    def ne(self, x, y):
        return self.b.fcmp_ordered("!=", x, y)

    def isnan(self, x):
        return self.b.fcmp_unordered("uno", x, x)

    def select(self, c, x, y):
        return self.b.select(c, x, y)

    # bits
    def bits(self, x):
        return self.b.bitcast(x, self.it)

    def from_bits(self, i):
        return self.b.bitcast(i, self.ft)

    # calls of other functions of this module
    def call(self, op: str, *args):
        return self.b.call(function(self.m, op, self.dtype), args)


# ---------------------------------------------------------------------------------------------
# exp
#: float32: Cephes expf.  exp(r) = 1 + r + r*r*P(r) on |r| <= ln2/2
_EXPF_P = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
           1.6666665459e-1, 5.0000001201e-1)
#: float64: fdlibm exp.  c = r - r*r*P(r*r);  exp(r) = 1 - ((lo - r*c/(2 - c)) - hi)
_EXP_P = (4.13813679705723846039e-08, -1.65339022054652515390e-06, 6.61375632143793436117e-05,
          -2.77777777770155933842e-03, 1.66666666666666019037e-01)

_EXP_CONSTS = {
    #            clamp lo, clamp hi, ln2 hi (few bits: n*hi exact), ln2 lo, magic, bias, mbits
    "float32": (-104.0, 88.8, 0.693359375, -2.12194440e-4, 12582912.0, 127, 23),
    "float64": (-746.0, 710.0, 6.93147180369123816490e-01, 1.90821492927058770002e-10,
                6755399441055744.0, 1023, 52),
}
_LOG2E = 1.4426950408889634


def _exp(f: _Math, x):
    lo_clamp, hi_clamp = _EXP_CONSTS[f.dtype][:2]
    # clamp (NaN becomes hi_clamp here and is put back at the end); beyond the clamps the
    # result is 0 / inf anyway
    xc = f.select(f.lt(x, f.c(hi_clamp)), x, f.c(hi_clamp))
    xc = f.select(f.gt(xc, f.c(lo_clamp)), xc, f.c(lo_clamp))
    return f.select(f.isnan(x), x, _exp_core(f, xc, two_factors=True))


def _exp_core(f: _Math, xc, two_factors: bool):
    """exp of a clamped, non-NaN argument.  ``two_factors=False`` is for arguments whose result
    is a normal number (2**n is then one factor)."""
    ln2_hi, ln2_lo, magic, bias, mbits = _EXP_CONSTS[f.dtype][2:]
    # n = round(x / ln2): adding 1.5*2**mbits rounds to an integer held in the low mantissa bits
    t = f.fma(xc, f.c(_LOG2E), f.c(magic))
    nf = f.sub(t, f.c(magic))
    n = f.b.sub(f.bits(t), f.bits(f.c(magic)))
    hi = f.fma(nf, f.c(-ln2_hi), xc)  # exact: n*ln2_hi has few bits and is close to x
    if f.dtype == "float32":
        r = f.fma(nf, f.c(-ln2_lo), hi)
        z = f.mul(r, r)
        p = f.fma(f.horner(r, _EXPF_P), z, r)
        y = f.add(p, f.c(1.0))
    else:
        lo = f.mul(nf, f.c(ln2_lo))
        r = f.sub(hi, lo)
        t2 = f.mul(r, r)
        c = f.sub(r, f.mul(t2, f.horner(t2, _EXP_P)))
        q = f.div(f.mul(r, c), f.sub(f.c(2.0), c))
        y = f.sub(f.c(1.0), f.sub(f.sub(lo, q), hi))
    if not two_factors:
        return f.mul(y, f.from_bits(f.b.shl(f.b.add(n, f.ci(bias)), f.ci(mbits))))
    # 2**n as two normal factors: e1 = n//2 + bias, e2 = n - n//2 + bias (logical shift of the
    # biased value: AVX2 has no 64-bit arithmetic shift)
    biased = f.b.add(n, f.ci(2 * bias))
    e1 = f.b.lshr(biased, f.ci(1))
    e2 = f.b.sub(biased, e1)
    s1 = f.from_bits(f.b.shl(e1, f.ci(mbits)))
    s2 = f.from_bits(f.b.shl(e2, f.ci(mbits)))
    return f.mul(f.mul(y, s1), s2)


# ---------------------------------------------------------------------------------------------
# log
#: log(1+f) = f - hfsq + s*(hfsq + R(z)), s = f/(2+f), z = s*s, w = z*z
#: float32 (FreeBSD k_logf.h): t1 = w*(Lg2 + w*Lg4), t2 = z*(Lg1 + w*Lg3)
_LOGF_LG = (0xaaaaaa * 2.0 ** -24, 0xccce13 * 2.0 ** -25, 0x91e9ee * 2.0 ** -25,
            0xf89e26 * 2.0 ** -26)
#: float64 (fdlibm e_log.c): t1 = w*(Lg2 + w*(Lg4 + w*Lg6)), t2 = z*(Lg1 + w*(Lg3 + w*(Lg5 + w*Lg7)))
_LOG_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
           2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
           1.479819860511658591e-01)
_LOG_CONSTS = {
    #            ln2 hi, ln2 lo, bits of sqrt(1/2), scale for denormals, its log2, min normal
    "float32": (6.9313812256e-01, 9.0580006145e-06, 0x3f3504f3, 2.0 ** 25, 25, 2.0 ** -126),
    "float64": (6.93147180369123816490e-01, 1.90821492927058770002e-10, 0x3fe6a09e667f3bcd,
                2.0 ** 54, 54, 2.0 ** -1022),
}


def _log(f: _Math, x):
    ln2_hi, ln2_lo, sqrt_half, scale, scale_log2, tiny = _LOG_CONSTS[f.dtype]
    mbits = 23 if f.dtype == "float32" else 52
    one_bits = 0x3f800000 if f.dtype == "float32" else 0x3ff0000000000000
    bias = 127 if f.dtype == "float32" else 1023
    mant_mask = (1 << mbits) - 1
    denormal = f.lt(x, f.c(tiny))
    xs = f.select(denormal, f.mul(x, f.c(scale)), x)
    ix = f.b.add(f.bits(xs), f.ci(one_bits - sqrt_half))
    # k = exponent of x / sqrt(1/2), as a float without int->float conversion (AVX2 has none for
    # 64-bit lanes): or the biased exponent into the mantissa of 2**mbits and subtract
    kbits = f.b.lshr(ix, f.ci(mbits))
    two_m = 2.0 ** mbits
    dk = f.sub(f.from_bits(f.b.or_(kbits, f.bits(f.c(two_m)))), f.c(two_m + bias))
    dk = f.select(denormal, f.sub(dk, f.c(float(scale_log2))), dk)
    m = f.from_bits(f.b.add(f.b.and_(ix, f.ci(mant_mask)), f.ci(sqrt_half)))
    fm = f.sub(m, f.c(1.0))
    s = f.div(fm, f.add(f.c(2.0), fm))
    z = f.mul(s, s)
    w = f.mul(z, z)
    if f.dtype == "float32":
        lg1, lg2, lg3, lg4 = _LOGF_LG
        t1 = f.mul(w, f.fma(w, f.c(lg4), f.c(lg2)))
        t2 = f.mul(z, f.fma(w, f.c(lg3), f.c(lg1)))
    else:
        lg1, lg2, lg3, lg4, lg5, lg6, lg7 = _LOG_LG
        t1 = f.mul(w, f.horner(w, (lg6, lg4, lg2)))
        t2 = f.mul(z, f.horner(w, (lg7, lg5, lg3, lg1)))
    rr = f.add(t2, t1)
    hfsq = f.mul(f.mul(f.c(0.5), fm), fm)
    inner = f.add(f.mul(s, f.add(hfsq, rr)), f.mul(dk, f.c(ln2_lo)))
    res = f.sub(f.mul(dk, f.c(ln2_hi)), f.sub(f.sub(hfsq, inner), fm))
    inf = f.c(float("inf"))
    res = f.select(f.eq(x, inf), inf, res)
    res = f.select(f.eq(x, f.c(0.0)), f.c(float("-inf")), res)
    res = f.select(f.lt(x, f.c(0.0)), f.c(float("nan")), res)
    return f.select(f.isnan(x), x, res)


# ---------------------------------------------------------------------------------------------
# tanh, sigmoid
#: float32 (Cephes tanhf), |x| < 0.625: tanh(x) = x + x*z*P(z), z = x*x
_TANHF_P = (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
            -3.33332819422e-1)
#: float64 (Cephes tanh), |x| < 0.625: tanh(x) = x + x*z*P(z)/Q(z), Q monic
_TANH_P = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_TANH_Q = (1.0, 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)
#: 2|x| beyond which tanh rounds to +-1 (so exp(2|x|) needs no overflow or underflow handling)
_TANH_CLAMP = {"float32": 18.2, "float64": 40.0}


def _tanh(f: _Math, x):
    a = f.abs(x)
    z = f.mul(a, a)
    if f.dtype == "float32":
        small = f.fma(f.mul(a, z), f.horner(z, _TANHF_P), a)
    else:
        small = f.fma(f.mul(a, z), f.div(f.horner(z, _TANH_P), f.horner(z, _TANH_Q)), a)
    clamp = f.c(_TANH_CLAMP[f.dtype])
    u = f.add(a, a)
    u = f.select(f.lt(u, clamp), u, clamp)
    e = _exp_core(f, u, two_factors=False)
    big = f.sub(f.c(1.0), f.div(f.c(2.0), f.add(e, f.c(1.0))))
    # unordered compare: NaN takes the polynomial branch, which keeps it NaN
    r = f.select(f.b.fcmp_unordered("<", a, f.c(0.625)), small, big)
    # r >= 0: or in the sign bit of x (cheaper than copysign)
    sign = f.b.and_(f.bits(x), f.ci(-(1 << (8 * _BYTES[f.dtype] - 1))))
    return f.from_bits(f.b.or_(f.bits(r), sign))


def _sigmoid(f: _Math, x):
    e = f.call("exp", f.neg(f.abs(x)))  # in (0, 1]: never overflows
    num = f.select(f.ge(x, f.c(0.0)), f.c(1.0), e)
    return f.div(num, f.add(f.c(1.0), e))


# ---------------------------------------------------------------------------------------------
# pow (float32, through float64)
def _pow(f: _Math, x, y):
    if f.dtype != "float32":
        raise NotImplementedError("vecmath pow is float32 only")
    b = f.b
    d = _Math(f.m, b, "float64")
    ax = f.abs(x)
    t = d.mul(b.fpext(y, _F64), d.call("log", b.fpext(ax, _F64)))
    r = b.fptrunc(d.call("exp", t), _F32)
    # y integer / odd integer (inf counts as even; NaN as neither)
    y_int = f.eq(f.floor(y), y)
    half = f.mul(y, f.c(0.5))
    y_odd = b.and_(y_int, f.ne(f.floor(half), half))
    neg_finite = b.and_(f.lt(x, f.c(0.0)), f.gt(x, f.c(float("-inf"))))
    # negative base: an odd integer exponent flips the sign (also for x = -0 and -inf, where
    # r = 0 or inf: copysign gives the signed zero / infinity); a finite negative base with a
    # non-integer exponent gives NaN
    r = f.select(y_odd, f.copysign(r, x), r)
    r = f.select(b.and_(neg_finite, b.not_(y_int)), f.c(float("nan")), r)
    # |x| == 1 and y = +-inf: 1 (y*log|x| = inf*0 = NaN above);  pow(1, anything) = 1;
    # pow(anything, +-0) = 1
    one = f.c(1.0)
    r = f.select(b.and_(f.eq(ax, one), f.eq(f.abs(y), f.c(float("inf")))), one, r)
    r = f.select(f.eq(x, one), one, r)
    return f.select(f.eq(y, f.c(0.0)), one, r)


# ---------------------------------------------------------------------------------------------
_BUILDERS: Dict[str, Tuple[int, Callable]] = {
    "exp": (1, _exp), "log": (1, _log), "tanh": (1, _tanh), "sigmoid": (1, _sigmoid),
    "pow": (2, _pow),
}

#: (op, dtype) pairs implemented here; the rest stay with libm
FUNCTIONS = frozenset({(op, dt) for op in ("exp", "log", "tanh", "sigmoid")
                       for dt in ("float32", "float64")} | {("pow", "float32")})


def supports(op: str, dtype: str) -> bool:
    return (op, dtype) in FUNCTIONS


def function(module: ir.Module, op: str, dtype: str) -> ir.Function:
    """Declare (once per module) and return the internal always-inline function
    ``graphnn.<op>.<f32|f64>``."""
    if not supports(op, dtype):
        raise KeyError(f"no vectorizable {op} for {dtype}")
    name = f"graphnn.{op}.{_SUFFIX[dtype]}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    arity, build = _BUILDERS[op]
    ty = _FLOAT[dtype]
    fn = ir.Function(module, ir.FunctionType(ty, [ty] * arity), name=name)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    fn.attributes.add("nounwind")
    for arg, n in zip(fn.args, "xy"):
        arg.name = n
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(build(_Math(module, b, dtype), *fn.args))
    return fn
