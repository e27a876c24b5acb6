#!/usr/bin/env python3
"""Train a small binarized neural network (BNN) on the scikit-learn digits and export it to ONNX.

Needs only numpy and onnx (onnxruntime for the final check); no deep-learning framework.
The network is trained with the usual BNN recipe:

* latent real-valued weights, kept in [-1, 1]; the forward pass uses their sign (0 -> +1), and
  the straight-through estimator passes the gradient to the latent weight where |w| <= 1;
* activations are ONNX ``Sign`` in the forward pass, with the hardtanh straight-through
  gradient (pass where |x| <= 1, zero elsewhere);
* batch normalization with batch statistics while training; before export the statistics
  are recomputed exactly over the whole training set (deterministic, no momentum lag);
* softmax cross-entropy, Adam with a cosine learning-rate decay.

The input is binarized inside the graph as Sign(2 * pixels/16 - 1): pixels 9..16 give +1,
0..7 give -1 and pixel 8 gives exactly 0 (ONNX Sign(0) = 0).  That 0 is deliberate, so a
compiler has to handle ternary values in the first layer.

The exported graph is plain ONNX (opset 13, IR 8):

  mlp: input[1,1,8,8] -> Flatten -> Mul 2 -> Sub 1 -> Sign
       -> MatMul(+-1) -> BN -> Sign -> MatMul(+-1) -> BN -> Sign -> MatMul(+-1) -> BN -> logits[1,10]
  cnn: input[1,1,8,8] -> Mul 2 -> Sub 1 -> Sign
       -> Conv3x3 pad 1 (+-1) -> BN -> Sign -> MaxPool 2x2
       -> Conv3x3 pad 1 (+-1) -> BN -> Sign -> MaxPool 2x2
       -> Flatten -> MatMul(+-1) -> BN -> logits[1,10]

Two export details, both exact:

* Every BN that feeds a Sign has its bias moved so that its sign threshold lies halfway
  between two integers.  The BN input is an integer (a sum of +-1 and 0 products), so this
  does not change the function, but it keeps every BN output at least half a step away from
  0, so no float rounding in any implementation can flip a sign.
* The CNN is trained as BN -> MaxPool -> Sign but exported as BN -> Sign -> MaxPool (the
  form the brief and bnncc's binary MaxPool expect).  They are equal because Sign is
  monotone non-decreasing: Sign(max(a, b)) = max(Sign(a), Sign(b)).  Pooling the real
  values gives better straight-through gradients than pooling ties of +-1.

Usage (from the repository root):

    python examples/train_digits_bnn.py --arch mlp --out out/digits_mlp.onnx --save-inputs out/digits_test.npz
    python examples/train_digits_bnn.py --arch cnn --quick --out /tmp/cnn.onnx
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

# One BLAS thread: the float summation order, and so the trained model, then does not depend on
# the machine's core count, and these small matrices are faster on one thread anyway.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings)
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "digits.npz"
BN_EPS = 1e-5
OPSET, IR_VERSION = 13, 8


# --------------------------------------------------------------------------------------------
# data

def load_digits(path: Path):
    """Return (x, labels): x float32 [N,1,8,8] = pixels/16 (exact in float32), labels int64."""
    with np.load(path) as d:
        images, labels = d["images"], d["labels"]
    x = (images.astype(np.float32) / np.float32(16.0))[:, None, :, :]
    return x, labels.astype(np.int64)


def split(n: int, test_fraction: float = 0.2):
    """A fixed shuffled 80/20 split, independent of --seed so test sets are comparable."""
    order = np.random.default_rng(12345).permutation(n)
    n_test = int(round(n * test_fraction))
    return order[n_test:], order[:n_test]


def binarize_input(x: np.ndarray) -> np.ndarray:
    """Exactly the graph's Mul 2, Sub 1, Sign in float32 (pixel 8 -> 0)."""
    return np.sign(x * np.float32(2.0) - np.float32(1.0)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# layers: forward(x, mode) with mode in {"train", "eval", "calibrate"}, backward(grad) -> grad

def sign_weights(w: np.ndarray) -> np.ndarray:
    """Binarize latent weights; 0 maps to +1 so every exported weight is exactly +-1."""
    return np.where(w >= 0, np.float32(1.0), np.float32(-1.0))


class BinaryDense:
    def __init__(self, n_in: int, n_out: int, rng):
        self.w = rng.uniform(-1, 1, (n_in, n_out)).astype(np.float32)
        self.fan_in = n_in
        self.params = [self.w]

    def forward(self, x, mode):
        self.x, self.wb = x, sign_weights(self.w)
        return x @ self.wb

    def backward(self, g):
        # straight-through estimator for the weights: d sign(w)/dw := 1 where |w| <= 1
        self.grads = [(self.x.T @ g) * (np.abs(self.w) <= 1)]
        return g @ self.wb.T


def im2col(x: np.ndarray, k: int = 3, pad: int = 1) -> np.ndarray:
    """[N,C,H,W] -> [N*H*W, C*k*k] for a stride-1 'same' convolution with zero padding.
    Column order (c, i, j) matches ONNX Conv weights [Cout, C, k, k] flattened."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, h, w, c, k, k), x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, :, :, i, j] = xp[:, :, i:i + h, j:j + w].transpose(0, 2, 3, 1)
    return cols.reshape(n * h * w, c * k * k)


def col2im(cols: np.ndarray, shape, k: int = 3, pad: int = 1) -> np.ndarray:
    """Adjoint of im2col: scatter-add the columns back onto the (unpadded) input."""
    n, c, h, w = shape
    cols = cols.reshape(n, h, w, c, k, k)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), cols.dtype)
    for i in range(k):
        for j in range(k):
            xp[:, :, i:i + h, j:j + w] += cols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return xp[:, :, pad:pad + h, pad:pad + w]


class BinaryConv3x3:
    """3x3 convolution, stride 1, zero padding 1 (padded taps contribute 0), +-1 weights."""

    def __init__(self, c_in: int, c_out: int, rng, input_grad: bool = True):
        self.w = rng.uniform(-1, 1, (c_out, c_in, 3, 3)).astype(np.float32)
        self.fan_in = c_in * 9
        self.params = [self.w]
        self.input_grad = input_grad

    def forward(self, x, mode):
        self.shape = x.shape
        self.cols = im2col(x)
        self.wb = sign_weights(self.w).reshape(self.w.shape[0], -1)
        n, _, h, w = x.shape
        return (self.cols @ self.wb.T).reshape(n, h, w, -1).transpose(0, 3, 1, 2)

    def backward(self, g):
        g2 = g.transpose(0, 2, 3, 1).reshape(-1, g.shape[1])
        self.grads = [(g2.T @ self.cols).reshape(self.w.shape) * (np.abs(self.w) <= 1)]
        return col2im(g2 @ self.wb, self.shape) if self.input_grad else None


class BatchNorm:
    """Batch normalization over every axis but 1 (features of [N,C] or channels of [N,C,H,W])."""

    def __init__(self, c: int):
        self.gamma = np.ones(c, np.float32)
        self.beta = np.zeros(c, np.float32)
        self.mean = np.zeros(c, np.float32)
        self.var = np.ones(c, np.float32)
        self.params = [self.gamma, self.beta]

    def _bcast(self, v, ndim):
        return v.reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x, mode):
        axes = (0,) + tuple(range(2, x.ndim))
        b = lambda v: self._bcast(v, x.ndim)  # noqa: E731
        if mode == "eval":
            # the float32 expression of ONNX BatchNormalization
            return ((x - b(self.mean)) / np.sqrt(b(self.var) + np.float32(BN_EPS)) * b(self.gamma)
                    + b(self.beta)).astype(np.float32)
        mean, var = x.mean(axes), x.var(axes)
        if mode == "calibrate":  # exact statistics of the whole data set passed in
            self.mean[...], self.var[...] = mean, var
        else:
            self.mean += 0.1 * (mean - self.mean)
            self.var += 0.1 * (var - self.var)
        self.inv_std = 1.0 / np.sqrt(b(var) + BN_EPS)
        self.xhat = (x - b(mean)) * self.inv_std
        return self.xhat * b(self.gamma) + b(self.beta)

    def backward(self, g):
        axes = (0,) + tuple(range(2, g.ndim))
        b = lambda v: self._bcast(v, g.ndim)  # noqa: E731
        self.grads = [(g * self.xhat).sum(axes), g.sum(axes)]
        gx = g * b(self.gamma)
        # standard batch-norm backward through the batch mean and variance
        return self.inv_std * (gx - gx.mean(axes, keepdims=True)
                               - self.xhat * (gx * self.xhat).mean(axes, keepdims=True))


class SignSTE:
    """ONNX Sign forward; hardtanh straight-through gradient backward."""
    params: list = []

    def forward(self, x, mode):
        self.x = x
        return np.sign(x).astype(np.float32)

    def backward(self, g):
        self.grads = []
        return g * (np.abs(self.x) <= 1)


class MaxPool2x2:
    params: list = []

    def forward(self, x, mode):
        n, c, h, w = x.shape
        win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
        self.shape, self.idx = x.shape, win.argmax(-1)
        return np.take_along_axis(win, self.idx[..., None], -1)[..., 0]

    def backward(self, g):
        self.grads = []
        n, c, h, w = self.shape
        win = np.zeros((n, c, h // 2, w // 2, 4), g.dtype)
        np.put_along_axis(win, self.idx[..., None], g[..., None], -1)
        return win.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)


class Flatten:
    params: list = []

    def forward(self, x, mode):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)  # C-order, as ONNX Flatten(axis=1)

    def backward(self, g):
        self.grads = []
        return g.reshape(self.shape)


# --------------------------------------------------------------------------------------------
# networks

class Net:
    def __init__(self, arch: str, layers: list):
        self.arch, self.layers = arch, layers

    def forward(self, xb, mode, record=None):
        """xb: binarized input. record: optional list that receives every Sign output."""
        for layer in self.layers:
            xb = layer.forward(xb, mode)
            if record is not None and isinstance(layer, SignSTE):
                record.append(xb)
        return xb

    def backward(self, g):
        for layer in reversed(self.layers):
            g = layer.backward(g)
            if g is None:
                break

    def params_and_grads(self):
        for layer in self.layers:
            yield from zip(layer.params, getattr(layer, "grads", []))

    def clip_latent_weights(self):
        for layer in self.layers:
            if isinstance(layer, (BinaryDense, BinaryConv3x3)):
                np.clip(layer.w, -1, 1, out=layer.w)


def build_net(arch: str, sizes: tuple[int, int], rng) -> Net:
    a, b = sizes
    if arch == "mlp":
        layers = [Flatten(),
                  BinaryDense(64, a, rng), BatchNorm(a), SignSTE(),
                  BinaryDense(a, b, rng), BatchNorm(b), SignSTE(),
                  BinaryDense(b, 10, rng), BatchNorm(10)]
    else:
        # trained as BN -> MaxPool -> Sign, exported as BN -> Sign -> MaxPool (equal; see top)
        layers = [BinaryConv3x3(1, a, rng, input_grad=False), BatchNorm(a), MaxPool2x2(), SignSTE(),
                  BinaryConv3x3(a, b, rng), BatchNorm(b), MaxPool2x2(), SignSTE(),
                  Flatten(), BinaryDense(b * 4, 10, rng), BatchNorm(10)]
    return Net(arch, layers)


class Adam:
    def __init__(self, lr: float, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, beta1, beta2, eps, 0
        self.m: dict[int, np.ndarray] = {}
        self.v: dict[int, np.ndarray] = {}

    def step(self, params_and_grads, lr):
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for p, g in params_and_grads:
            m = self.m.setdefault(id(p), np.zeros_like(p))
            v = self.v.setdefault(id(p), np.zeros_like(p))
            m += (1 - self.b1) * (g - m)
            v += (1 - self.b2) * (g * g - v)
            p -= (lr * (m / c1) / (np.sqrt(v / c2) + self.eps)).astype(p.dtype)


def softmax_cross_entropy(logits, labels):
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(1, keepdims=True)
    loss = -np.log(p[np.arange(len(labels)), labels] + 1e-12).mean()
    p[np.arange(len(labels)), labels] -= 1
    return loss, p / len(labels)


def add_similarity_grads(net: Net, strength: float, group: int) -> None:
    """Optional filter-similarity regularizer (for MST channel reordering, bnncc --mst):
    R = strength/2 * sum_j ||w_j - c_g(j)||^2 over the hidden BinaryDense layers, where
    w_j is output neuron j's latent weight column and c_g the mean column of its group of
    ``group`` consecutive neurons (treated as a constant).  Neurons of a group are pulled
    towards one sign pattern, so their binary filters differ in few positions."""
    dense = [layer for layer in net.layers if isinstance(layer, BinaryDense)][:-1]  # not the logits
    for layer in dense:
        w = layer.w
        n_out = w.shape[1] - w.shape[1] % group
        if n_out < group:
            continue
        c = w[:, :n_out].reshape(w.shape[0], -1, group).mean(axis=2, keepdims=True)
        pull = (w[:, :n_out].reshape(w.shape[0], -1, group) - c).reshape(w.shape[0], n_out)
        layer.grads[0][:, :n_out] += np.float32(strength) * pull


def train(net: Net, xb, y, epochs: int, lr: float, batch: int, rng, log_every: int,
          similarity: float = 0.0, group: int = 8):
    opt = Adam(lr)
    steps_per_epoch = math.ceil(len(y) / batch)
    total, step = epochs * steps_per_epoch, 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(y))
        losses = []
        for s in range(0, len(y), batch):
            idx = order[s:s + batch]
            loss, g = softmax_cross_entropy(net.forward(xb[idx], "train"), y[idx])
            net.backward(g.astype(np.float32))
            if similarity > 0:
                add_similarity_grads(net, similarity, group)
            opt.step(net.params_and_grads(), lr * 0.5 * (1 + math.cos(math.pi * step / total)))
            net.clip_latent_weights()
            losses.append(loss)
            step += 1
        if log_every and (epoch % log_every == 0 or epoch == epochs):
            print(f"  epoch {epoch:3d}/{epochs}  loss {np.mean(losses):.4f}")
    # replace the running averages by the exact statistics of the final weights
    net.forward(xb, "calibrate")


def accuracy(logits, labels) -> float:
    return float((logits.argmax(1) == labels).mean())


# --------------------------------------------------------------------------------------------
# ONNX export

def centered_bn_bias(bn: BatchNorm, fan_in: int) -> np.ndarray:
    """BN bias that puts each channel's Sign threshold halfway between two integers.

    BN(x) = gamma * (x - mean) / s + beta with s = sqrt(var + eps) is zero at
    t = mean - beta * s / gamma.  The BN input x is an integer in [-fan_in, fan_in], so
    moving t to floor(t) + 0.5 (clamped just outside that range) keeps Sign(BN(x)) the same
    for every reachable x (unless t was exactly an integer, which training never hits) and
    keeps |BN(x)| >= 0.5 * |gamma| / s.  A channel with gamma == 0 is constant and kept.
    """
    mean, var = bn.mean.astype(np.float64), bn.var.astype(np.float64)
    gamma, beta = bn.gamma.astype(np.float64), bn.beta.astype(np.float64)
    s = np.sqrt(var + np.float32(BN_EPS))
    out = beta.copy()
    nz = gamma != 0
    t = mean[nz] - beta[nz] * s[nz] / gamma[nz]
    t = np.floor(np.clip(t, -fan_in - 0.5, fan_in + 0.5)) + 0.5
    out[nz] = gamma[nz] * (mean[nz] - t) / s[nz]  # so that BN(x) = gamma * (x - t) / s
    return out.astype(np.float32)


class GraphBuilder:
    """Collects nodes and initializers; each node's output tensor is named like the node."""

    def __init__(self):
        self.nodes, self.inits = [], []

    def const(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name

    def batchnorm(self, x: str, bn: BatchNorm, name: str, fan_in: int | None) -> str:
        """fan_in given: the BN feeds a Sign and gets a centered threshold."""
        beta = bn.beta if fan_in is None else centered_bn_bias(bn, fan_in)
        ins = [x, self.const(f"{name}.scale", bn.gamma), self.const(f"{name}.bias", beta),
               self.const(f"{name}.mean", bn.mean), self.const(f"{name}.var", bn.var)]
        return self.op("BatchNormalization", ins, name, epsilon=BN_EPS)


def export_onnx(net: Net) -> tuple[onnx.ModelProto, list[str]]:
    """Return the model and the names of its binarized tensors, in the order in which
    ``Net.forward(record=...)`` records the Sign outputs (for the CNN, after each MaxPool)."""
    b = GraphBuilder()
    checkpoints = []
    L = net.layers
    t = "input"
    if net.arch == "mlp":
        t = b.op("Flatten", [t], "flatten", axis=1)
    t = b.op("Mul", [t, b.const("two", 2.0)], "input_times_2")
    t = b.op("Sub", [t, b.const("one", 1.0)], "input_minus_1")
    t = b.op("Sign", [t], "input_sign")
    if net.arch == "mlp":
        for i, (dense, bn) in enumerate([(L[1], L[2]), (L[4], L[5])], start=1):
            t = b.op("MatMul", [t, b.const(f"fc{i}.weight", sign_weights(dense.w))], f"fc{i}")
            t = b.batchnorm(t, bn, f"bn{i}", dense.fan_in)
            t = b.op("Sign", [t], f"sign{i}")
            checkpoints.append(t)
        dense, bn = L[7], L[8]
    else:
        for i, (conv, bn) in enumerate([(L[0], L[1]), (L[4], L[5])], start=1):
            t = b.op("Conv", [t, b.const(f"conv{i}.weight", sign_weights(conv.w))], f"conv{i}",
                     kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1])
            t = b.batchnorm(t, bn, f"bn{i}", conv.fan_in)
            t = b.op("Sign", [t], f"sign{i}")
            t = b.op("MaxPool", [t], f"pool{i}", kernel_shape=[2, 2], strides=[2, 2])
            checkpoints.append(t)
        t = b.op("Flatten", [t], "flatten", axis=1)
        dense, bn = L[9], L[10]
    t = b.op("MatMul", [t, b.const("fc_out.weight", sign_weights(dense.w))], "fc_out")
    b.batchnorm(t, bn, "logits", None)

    graph = helper.make_graph(
        b.nodes, f"digits_bnn_{net.arch}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=b.inits)
    model = helper.make_model(graph, producer_name="bnncc examples/train_digits_bnn.py",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = ("Binarized network for the scikit-learn 8x8 digits. Input: pixels/16 "
                        "(float32 in [0,1]); output: class logits.")
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model, checkpoints


# --------------------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", choices=["mlp", "cnn"], default="mlp", help="[mlp]")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="digits.npz with images, labels [<repo>/../shared/data/digits.npz]")
    p.add_argument("--out", type=Path, default=None, help="ONNX file to write [digits_<arch>.onnx]")
    p.add_argument("--save-inputs", type=Path, default=None, metavar="PATH.npz",
                   help="also save the test split as inputs (float32 [N,1,8,8]) and labels")
    p.add_argument("--seed", type=int, default=0, help="[0]")
    p.add_argument("--epochs", type=int, default=None, help="[mlp 60, cnn 40; --quick 2]")
    p.add_argument("--hidden", type=int, nargs=2, default=None, metavar=("H1", "H2"),
                   help="mlp hidden sizes [64 65; --quick 32 33]")
    p.add_argument("--channels", type=int, nargs=2, default=None, metavar=("C1", "C2"),
                   help="cnn channels [32 64; --quick 8 8]")
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate, cosine decay [0.01]")
    p.add_argument("--batch", type=int, default=64, help="[64]")
    p.add_argument("--quick", action="store_true", help="tiny, fast run for CI (accuracy is poor)")
    p.add_argument("--similarity", type=float, default=0.0, metavar="LAMBDA",
                   help="mlp: filter-similarity regularizer strength (for bnncc --mst) [0: off]")
    p.add_argument("--similarity-group", type=int, default=8, metavar="G",
                   help="neurons per similarity group [8]")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 2 if args.quick else {"mlp": 60, "cnn": 40}[args.arch]
    if args.hidden is None:
        args.hidden = (32, 33) if args.quick else (64, 65)
    if args.channels is None:
        args.channels = (8, 8) if args.quick else (32, 64)
    if args.out is None:
        args.out = Path(f"digits_{args.arch}.onnx")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.data.is_file():
        print(f"error: data file {args.data} not found (use --data)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    x, y = load_digits(args.data)
    train_idx, test_idx = split(len(y))
    xb = binarize_input(x)
    sizes = tuple(args.hidden if args.arch == "mlp" else args.channels)
    rng = np.random.default_rng(args.seed)
    net = build_net(args.arch, sizes, rng)
    print(f"training {args.arch} {sizes} on {len(train_idx)} images, testing on {len(test_idx)}, "
          f"{args.epochs} epochs, seed {args.seed}")
    train(net, xb[train_idx], y[train_idx], args.epochs, args.lr, args.batch, rng,
          log_every=max(1, args.epochs // 6), similarity=args.similarity, group=args.similarity_group)
    t_train = time.perf_counter() - t0

    train_acc = accuracy(net.forward(xb[train_idx], "eval"), y[train_idx])
    binarized = []
    logits_np = net.forward(xb[test_idx], "eval", record=binarized)
    test_acc = accuracy(logits_np, y[test_idx])
    print(f"numpy model: train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f}")

    model, checkpoints = export_onnx(net)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(args.out))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    if args.save_inputs:
        args.save_inputs.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.save_inputs, inputs=x[test_idx], labels=y[test_idx])
        print(f"wrote {args.save_inputs} (test split: inputs float32 {list(x[test_idx].shape)}, labels)")

    # The exported model under bnncc's reference semantics (onnxruntime, optimizations off).
    sys.path.insert(0, str(REPO_ROOT))
    from bnncc.reference import run_reference

    logits_ort, *binarized_ort = run_reference(model, x[test_idx], ["logits"] + checkpoints)
    ort_acc = accuracy(logits_ort, y[test_idx])
    same_pred = int((logits_ort.argmax(1) == logits_np.argmax(1)).sum())
    same_bits = all(np.array_equal(a, b) for a, b in zip(binarized, binarized_ort))
    max_err = float(np.abs(logits_ort - logits_np).max())
    print(f"exported model (onnxruntime): test accuracy {ort_acc:.4f}")
    print(f"  agreement with numpy: predictions {same_pred}/{len(test_idx)}, "
          f"binarized tensors {'identical' if same_bits else 'DIFFER'} ({', '.join(checkpoints)}), "
          f"max |logit difference| {max_err:.3g}")
    print(f"time: training {t_train:.1f} s, total {time.perf_counter() - t0:.1f} s")
    if not same_bits or same_pred != len(test_idx):
        print("error: the exported model does not reproduce the numpy model", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
