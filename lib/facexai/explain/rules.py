"""zennit's LRP rules, computed in one autograd Function per layer: no pass is wasted.

zennit attaches a rule to a layer with hooks around the layer's own autograd node: the layer's true
backward pass (a transposed convolution, for a convolution) runs and is then thrown away, replaced
by the rule's relevance, which the rule computes by re-running the layer once per sign combination
of inputs and weights (z+ twice, alpha-beta four times, gamma five times) and differentiating those
re-runs. Here the same rules are registered in zennit's composites (they subclass zennit's), but a
rule *replaces the layer's forward* for the duration of the composite's context by a
:class:`torch.autograd.Function` whose forward is the layer's own and whose backward is the rule's
relevance, computed directly. On a ReLU network that costs, per layer:

=========================  ========================================================================
rule                       backward, beyond the forward pass every method needs
=========================  ========================================================================
epsilon, Norm (pools)      one input gradient with the layer's weights (the forward's output is
                           the denominator): the cost of a plain gradient
Pass (ReLU, BN, LRN)       nothing (the relevance goes through unchanged)
z+, alpha1-beta0           one forward of the layer with ``W+`` (the denominator), one input
                           gradient with ``W+``
gamma                      one forward with ``W + gamma W+``, one input gradient with it; a second
                           pair with ``W + gamma W-`` only if relevance arrives at an output that
                           is not positive (not on a ReLU network: there every rule multiplies by
                           its layer's input, zero where the ReLU cut)
alpha2-beta1               two forwards and two input gradients (``W+``, ``W-``)
flat (first layer)         one input gradient of one channel (all-ones weights treat the channels
                           alike); the denominator is the same for every image, computed once
z-box (first layer)        ``(x - low) W+ + (x - high) W-``: two input gradients in one call; the
                           bound terms computed once, not per image
=========================  ========================================================================

The modified weights are made once per call (per registration of the composite), the layer's input
is the one saved by the forward pass, and no weight gradient is ever computed. The shortcuts hold
for non-negative layer inputs (every layer behind a ReLU); on any negative input a layer falls back
to zennit's own computation, and layers of other types (transposed convolutions) and rules with
``zero_params`` keep zennit's hooks. Denominators and sums differ from zennit's by rounding (about
1e-16 of the largest relevance in float64; the tests allow 1e-10), also where a fallback is taken.
"""
from __future__ import annotations

import torch
from torch import nn
from zennit import rules as zr
from zennit.core import BasicHook, ParamMod, Stabilizer, expand

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_MISSING = object()


def _plain_eps(stab):
    """The epsilon of zennit's default stabilizer (``z + eps``, ``z - eps`` below zero), else None."""
    if type(stab) is Stabilizer and not stab.clip and not stab.norm_scale:
        return stab.epsilon
    return None


def _stabilized(stab, z: torch.Tensor) -> torch.Tensor:
    """zennit's ``stab(z)``, bit for bit: ``z + eps``, ``z - eps`` below zero (``1 * 2eps - eps`` and
    ``0 * 2eps - eps`` are exact), in four fast passes instead of six slower ones."""
    eps = _plain_eps(stab)
    if eps is None:
        return stab(z)
    shift = torch.ge(z, 0, out=torch.empty_like(z))
    return shift.mul_(2 * eps).sub_(eps).add_(z)


def _ratio(stab, g: torch.Tensor, z: torch.Tensor, on: torch.Tensor, sign: int) -> torch.Tensor:
    """zennit's ``on * g / stab(z)`` for a ``z`` that has the sign ``sign`` wherever ``on`` holds
    (gamma's denominators; ``z`` is overwritten). There ``stab(z)`` is ``z + sign * eps``; elsewhere
    the denominator is clamped away from 0 before the product with the mask makes it 0."""
    eps = _plain_eps(stab)
    if eps is None:
        return on * g / stab(z)
    z = z.add_(eps).clamp_(min=eps) if sign > 0 else z.sub_(eps).clamp_(max=-eps)
    return torch.div(g, z, out=z).mul_(on)


def _nonnegative(x: torch.Tensor) -> bool:
    return x.numel() == 0 or bool(x.min() >= 0)


def _affine(module: nn.Module, x: torch.Tensor, weight, bias) -> torch.Tensor:
    """The layer's forward with other parameters (``x`` may lack the batch dimension)."""
    if isinstance(module, nn.Linear):
        return nn.functional.linear(x, weight, bias)
    return module._conv_forward(x, weight, bias)


def _affine_eps(module: nn.Module, x: torch.Tensor, weight, bias, eps: float) -> torch.Tensor:
    """``_affine(...) + eps`` with ``eps`` added to the bias, so inside the layer's own kernel (not
    zennit's rounding to the last bit, but one pass less)."""
    shift = weight.new_full((weight.shape[0],), eps)
    return _affine(module, x, weight, shift if bias is None else bias + shift)


def _direct(module: nn.Module) -> bool:
    """A convolution whose input gradient aten computes directly (zero padding given as numbers)."""
    return module.padding_mode == "zeros" and not isinstance(module.padding, str)


def _input_grad(module: nn.Module, x: torch.Tensor, weight, s: torch.Tensor) -> torch.Tensor:
    """``d(sum(s * layer(x; weight)))/dx``: the transposed layer applied to ``s``, nothing else."""
    if isinstance(module, nn.Linear):
        return s.matmul(weight)
    if _direct(module):
        return torch.ops.aten.convolution_backward(
            s, x, weight, None, module.stride, module.padding, module.dilation, False,
            [0] * len(module.stride), module.groups, [True, False, False])[0]
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        return torch.autograd.grad(module._conv_forward(xg, weight, None), xg, s)[0]


def _input_grads(module: nn.Module, x: torch.Tensor, weights, s: torch.Tensor) -> list:
    """:func:`_input_grad` for several weights; one call with the weights side by side where the
    layer allows (a first layer has few input channels: three calls would cost three)."""
    if isinstance(module, nn.Linear):
        return list(s.matmul(torch.cat(weights, -1)).split(x.shape[-1], -1))
    c = x.shape[1]
    if module.groups != 1 or not _direct(module):
        return [_input_grad(module, x, w, s) for w in weights]
    w = torch.cat(weights, 1)
    if isinstance(module, nn.Conv2d) and x.ndim == 4 and w.shape[1] < 4:
        # a gradient of one or two channels (a grey first layer): aten's transposed convolution
        # is slow with so few channels; a matrix product and col2im are three times faster
        n, k = s.shape[0], w.shape[1:].numel()
        cols = torch.matmul(w.reshape(w.shape[0], k).t(), s.reshape(n, s.shape[1], -1))
        grad = nn.functional.fold(cols, x.shape[2:], module.kernel_size, module.dilation,
                                  module.padding, module.stride)
        return list(grad.split(c, 1))
    wide = x[:, :1].expand(x.shape[0], c * len(weights), *x.shape[2:])
    return list(_input_grad(module, wide, w, s).split(c, 1))


class _Apply(torch.autograd.Function):
    """Forward: the layer's own. Backward: the relevance of the rule (``rule.relevance``)."""

    @staticmethod
    def forward(ctx, x, rule):
        out, keep = rule.fwd(x)
        ctx.rule, ctx.keep = rule, keep
        ctx.save_for_backward(x)
        return out.clone() if out is x else out

    @staticmethod
    def backward(ctx, g):                 # once per graph: the rule overwrites what it kept
        (x,) = ctx.saved_tensors
        relevance = ctx.rule.relevance(x, ctx.keep, g)
        ctx.keep = None
        return relevance, None


class _Override:
    """Replaces ``module.forward`` by the rule's Function until :meth:`remove` (a zennit handle)."""

    def __init__(self, module: nn.Module, rule: "_Fast"):
        self.module, self.rule = module, rule
        self.saved = module.__dict__.get("forward", _MISSING)
        rule._module, rule._orig = module, module.forward

        def forward(*args, **kwargs):
            x = args[0] if len(args) == 1 and not kwargs else None
            if rule._bypass or not torch.is_grad_enabled():
                return rule._orig(*args, **kwargs)
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"{type(rule).__name__} on {type(module).__name__}: LRP needs a "
                                "layer called with one tensor")
            return _Apply.apply(x, rule) if x.requires_grad else rule._orig(x)

        module.forward = forward

    def remove(self):
        if self.module is None:
            return
        if self.saved is _MISSING:
            del self.module.forward
        else:
            self.module.forward = self.saved
        self.module = None     # (the rule keeps the layer: a graph made inside can still go back)


class _Fast:
    """Mixin for a zennit rule: register as a forward override where the layer allows it."""

    _bypass = False
    _module = _orig = None

    def _setup(self, **args):
        self._args = args
        self._params: dict = {}
        if "stabilizer" in args or "epsilon" in args:
            self._stab = Stabilizer.ensure(args.get("stabilizer", args.get("epsilon")))

    def copy(self):
        return type(self)(**self._args)

    def fast_for(self, module: nn.Module) -> bool:
        """Whether this rule replaces ``module``'s forward (else zennit's hooks apply it)."""
        return self._args.get("zero_params") is None and isinstance(module, (nn.Linear,) + _CONV)

    def register(self, module):
        return _Override(module, self) if self.fast_for(module) else super().register(module)

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's own forward (an in-place layer computes out of place)."""
        m = self._module
        if getattr(m, "inplace", False) is True:
            m.inplace = False
            try:
                return self._orig(x)
            finally:
                m.inplace = True
        return self._orig(x)

    def fwd(self, x):
        return self.plain(x), None

    def param(self, k: int):
        """``(weight, bias)`` under the rule's ``k``-th parameter modifier, made once per call."""
        if k not in self._params:
            with ParamMod.ensure(self.param_modifiers[k])(self._module) as m:
                bias = getattr(m, "bias", None)
                self._params[k] = (m.weight.detach(), None if bias is None else bias.detach())
        return self._params[k]

    def stock(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """zennit's own relevance (for inputs outside the shortcut)."""
        self.stored_tensors["input"] = (x,)
        self._bypass = True
        try:
            return BasicHook.backward(self, self._module, (x,), (g,))[0]
        finally:
            self._bypass = False
            self.stored_tensors.clear()


class Pass(_Fast, zr.Pass):
    """Relevance passes through unchanged (activations, batch norms, LRN)."""

    def __init__(self):
        super().__init__()
        self._setup()

    def fast_for(self, module):
        return not isinstance(module, nn.MultiheadAttention)

    def relevance(self, x, keep, g):
        return g


class Norm(_Fast, zr.Norm):
    """zennit's Norm (sum and average pools): ``x * d(z)/dx (g / z)`` with ``z`` the forward's."""

    def __init__(self, stabilizer=1e-6):
        super().__init__(stabilizer=stabilizer)
        self._setup(stabilizer=stabilizer)

    def fast_for(self, module):
        return True

    def fwd(self, x):
        z = self.plain(x)
        return z, _stabilized(self._stab, z)

    def relevance(self, x, keep, g):
        if type(self._module) is nn.AdaptiveAvgPool2d and x.ndim == 4:    # VGG's: no re-run
            return torch.ops.aten._adaptive_avg_pool2d_backward(g / keep, x).mul_(x)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self._orig(xg), xg, g / keep)
        return x * grad


class Epsilon(_Fast, zr.Epsilon):
    """LRP-epsilon: one input gradient; the denominator is the forward's output."""

    def __init__(self, epsilon=1e-6, zero_params=None):
        super().__init__(epsilon=epsilon, zero_params=zero_params)
        self._setup(epsilon=epsilon, zero_params=zero_params)

    def fwd(self, x):
        z = self.plain(x)
        return z, _stabilized(self._stab, z)

    def relevance(self, x, keep, g):       # the stabilized output is ours (a new tensor) to overwrite
        s = torch.div(g, keep, out=keep) if _plain_eps(self._stab) is not None else g / keep
        return _input_grad(self._module, x, self._module.weight.detach(), s).mul_(x)


class ZPlus(_Fast, zr.ZPlus):
    """z+: for non-negative inputs one forward and one input gradient with ``W+`` (``b+``)."""

    def __init__(self, stabilizer=1e-6, zero_params=None):
        super().__init__(stabilizer=stabilizer, zero_params=zero_params)
        self._setup(stabilizer=stabilizer, zero_params=zero_params)

    def relevance(self, x, keep, g):
        if not _nonnegative(x):
            return self.stock(x, g)
        m, (w, b) = self._module, self.param(0)
        eps = _plain_eps(self._stab)             # the denominator is >= 0: so is every term
        if eps is None:
            s = g / self._stab(_affine(m, x, w, b))
        else:
            zp = _affine_eps(m, x, w, b, eps)
            s = torch.div(g, zp, out=zp)
        return _input_grad(m, x, w, s).mul_(x)


class AlphaBeta(_Fast, zr.AlphaBeta):
    """alpha-beta: for non-negative inputs one pass with ``W+`` and, unless beta is 0, one with ``W-``."""

    def __init__(self, alpha=2.0, beta=1.0, stabilizer=1e-6, zero_params=None):
        super().__init__(alpha=alpha, beta=beta, stabilizer=stabilizer, zero_params=zero_params)
        self._setup(alpha=alpha, beta=beta, stabilizer=stabilizer, zero_params=zero_params)

    def relevance(self, x, keep, g):
        if not _nonnegative(x):
            return self.stock(x, g)
        m, alpha, beta = self._module, self._args["alpha"], self._args["beta"]
        wp, bp = self.param(0)                    # zennit's modifiers: W+ b+, W- (no bias), W- b-
        zp = _stabilized(self._stab, _affine(m, x, wp, bp))
        grad = _input_grad(m, x, wp, alpha * g / zp)
        if beta != 0:
            wn, bn = self.param(2)
            zn = _stabilized(self._stab, _affine(m, x, wn, bn))
            grad = grad.sub_(_input_grad(m, x, wn, beta * g / zn))
        return grad.mul_(x)


class Gamma(_Fast, zr.Gamma):
    """Generalised gamma: for non-negative inputs the original rule, ``a (W + gamma W+)`` for positive
    outputs and ``a (W + gamma W-)`` for negative ones; the second pass runs only if relevance arrives
    at an output that is not positive. The signs are those of the forward's output (recomputed if
    it was changed in place, which its version counter tells)."""

    def __init__(self, gamma=0.25, stabilizer=1e-6, zero_params=None):
        super().__init__(gamma=gamma, stabilizer=stabilizer, zero_params=zero_params)
        self._setup(gamma=gamma, stabilizer=stabilizer, zero_params=zero_params)

    def fwd(self, x):
        z = self.plain(x)                # a detached alias: no reference cycle, same version counter
        return z, (z.detach(), z._version)

    def param(self, k: int):
        """zennit's ``W + gamma W+`` (``k = 0``) or ``W + gamma W-`` (``k = 2``) and bias, in two
        passes and one new tensor each (zennit's modifier takes three of each)."""
        if k not in self._params:
            def mod(p):
                if p is None:
                    return None
                p = p.detach()
                part = p.clamp(min=0) if k == 0 else p.clamp(max=0)
                return torch.add(p, part, alpha=self._args["gamma"], out=part)
            self._params[k] = (mod(self._module.weight), mod(self._module.bias))
        return self._params[k]

    def relevance(self, x, keep, g):
        if not _nonnegative(x):
            return self.stock(x, g)
        m, (z, version) = self._module, keep
        if z._version != version:
            z = _affine(m, x, m.weight.detach(), None if m.bias is None else m.bias.detach())
        wp, bp = self.param(0)                    # W + gamma W+, b + gamma b+
        eps = _plain_eps(self._stab)
        lo, hi = torch.aminmax(torch.le(z, 0, out=torch.empty_like(z)).mul_(g))
        if eps is not None and not (lo < 0 or hi > 0):       # g is 0 wherever z <= 0
            # relevance only at positive outputs (a ReLU network): no mask needed; where z <= 0 the
            # clamp keeps 0 / denominator at 0 (where z > 0, zp + eps > eps: nothing is clamped)
            zp = _affine_eps(m, x, wp, bp, eps).clamp_(min=eps)
            return _input_grad(m, x, wp, torch.div(g, zp, out=zp)).mul_(x)
        pos = torch.gt(z, 0, out=torch.empty_like(z))            # 1.0 / 0.0: fast to make and use
        grad = _input_grad(m, x, wp, _ratio(self._stab, g, _affine(m, x, wp, bp), pos, 1))
        wn, bn = self.param(2)                    # W + gamma W-, b + gamma b-
        neg = torch.lt(z, 0, out=pos)
        return grad.add_(_input_grad(m, x, wn, _ratio(self._stab, g, _affine(m, x, wn, bn), neg,
                                                      -1))).mul_(x)


def _bound(value, x: torch.Tensor) -> torch.Tensor:
    """A z-box bound expanded like zennit does, one image when it is the same for every image."""
    t = expand(value, x.shape, cut_batch_dim=True).to(x)
    return t[:1] if t.ndim and t.stride(0) == 0 else t


class Flat(_Fast, zr.Flat):
    """flat: the all-ones layer's input gradient, the denominator computed for one image; for a
    convolution the output channels are summed first (all-ones weights treat them alike)."""

    def __init__(self, stabilizer=1e-6, zero_params=None):
        super().__init__(stabilizer=stabilizer, zero_params=zero_params)
        self._setup(stabilizer=stabilizer, zero_params=zero_params)

    def relevance(self, x, keep, g):
        m, (w, b) = self._module, self.param(0)
        s = g / _stabilized(self._stab, _affine(m, x.new_ones((1,) + x.shape[1:]), w, b))
        if isinstance(m, nn.Linear) or m.groups != 1 or not _direct(m):
            return _input_grad(m, x, w, s)
        one = _input_grad(m, x[:, :1], w[:1, :1], s.sum(1, keepdim=True))
        return one.expand_as(x).contiguous()


class ZBox(_Fast, zr.ZBox):
    """z-box: ``x W - low W+ - high W-`` = ``(x - low) W+ + (x - high) W-``: two input gradients (in
    one call), the bound terms computed once, not per image."""

    def __init__(self, low, high, stabilizer=1e-6, zero_params=None):
        super().__init__(low=low, high=high, stabilizer=stabilizer, zero_params=zero_params)
        self._setup(low=low, high=high, stabilizer=stabilizer, zero_params=zero_params)

    def fwd(self, x):
        z, m = self.plain(x), self._module
        low, high = _bound(self._args["low"], x), _bound(self._args["high"], x)
        (wp, bp), (wn, bn) = self.param(1), self.param(2)
        bounds, eps = _affine(m, low, wp, bp) + _affine(m, high, wn, bn), _plain_eps(self._stab)
        if eps is not None:     # inputs inside the box make z - bounds >= 0: one pass adds eps
            den = z - (bounds - eps)
            if den.numel() and bool(den.min() > eps):
                return z, (low, high, den)
        return z, (low, high, _stabilized(self._stab, z - bounds))

    def relevance(self, x, keep, g):
        low, high, den = keep
        gp, gn = _input_grads(self._module, x, [self.param(1)[0], self.param(2)[0]],
                              torch.div(g, den, out=den))
        return gp.mul_(x - low).add_(gn.mul_(x - high))
