#!/usr/bin/env python3
"""Check a clformer forward/backward pass against PyTorch, tensor by tensor.

The model of shared/SPEC.md is rebuilt here from torch primitives in float64 (its own code, with
autograd for the backward pass), fed the parameters and the batch found in safetensors files, and
its loss, logits and parameter gradients are compared with the ones stored beside them.

  # the float64 host reference (tests/ref/ref_model.c), dumped by its test:
  CLF_REF_DUMP=/tmp/refdump build/tests/test_ref_model
  python3 tools/ref_model_torch.py /tmp/refdump/*.safetensors

  # the output of `clformer grad` (F32):
  python3 tools/ref_model_torch.py --label-smoothing 0.1 --tol 1e-4 CK.safetensors BATCH.safetensors OUT.safetensors

Several files given in one run are merged into one set of tensors (the checkpoint's parameters,
the batch, `loss`, `logits`, `grad.<name>`), unless --each says every file is a run of its own.
Prints the largest relative differences and exits 1 when one exceeds --tol.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

PAD = 256
DTYPES = {"F64": np.float64, "F32": np.float32, "I32": np.int32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    meta = header.pop("__metadata__", {}) or {}
    data = blob[8 + n :]
    tensors = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        tensors[name] = torch.from_numpy(arr.copy())
    return tensors, meta


def positional_encoding(T, D):
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    i2 = torch.arange(0, D, 2, dtype=torch.float64)
    angle = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), i2 / D)
    pe = torch.zeros(T, D, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)[:, : D // 2]
    return pe


class Model:
    def __init__(self, cfg, params):
        self.cfg = cfg
        self.p = params
        self.D = cfg["d_model"]
        self.H = cfg["n_heads"]
        self.attn_checked = 0

    def linear(self, x, prefix, bias=True):
        return F.linear(x, self.p[prefix + ".weight"], self.p[prefix + ".bias"] if bias else None)

    def norm(self, x, prefix):
        return F.layer_norm(x, (self.D,), self.p[prefix + ".weight"], self.p[prefix + ".bias"], self.cfg["ln_eps"])

    def embed(self, tok, name):
        return F.embedding(tok, self.p[name]) * math.sqrt(self.D) + positional_encoding(tok.shape[1], self.D)

    def mha(self, prefix, xq, xkv, key_tok, causal):
        B, Tq, D = xq.shape
        Tk, H = xkv.shape[1], self.H
        dh = D // H
        q = self.linear(xq, prefix + ".q").view(B, Tq, H, dh).transpose(1, 2)
        k = self.linear(xkv, prefix + ".k").view(B, Tk, H, dh).transpose(1, 2)
        v = self.linear(xkv, prefix + ".v").view(B, Tk, H, dh).transpose(1, 2)
        mask = (key_tok == PAD)[:, None, None, :].expand(B, 1, Tq, Tk)
        if causal:
            mask = mask | torch.ones(Tq, Tk, dtype=torch.bool).triu(1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        s = s.masked_fill(mask, float("-inf"))
        full = mask.all(-1, keepdim=True)  # queries that see no key at all
        p = torch.softmax(s.masked_fill(full, 0.0), -1).masked_fill(mask, 0.0)
        o = (p @ v).transpose(1, 2).reshape(B, Tq, D)
        out = self.linear(o, prefix + ".o")
        self.check_against_torch_mha(prefix, xq, xkv, mask, full, out)
        return out

    def check_against_torch_mha(self, prefix, xq, xkv, mask, full, out):
        """torch's own multi-head attention must agree on every query that sees a key."""
        B, Tq, D = xq.shape
        Tk = xkv.shape[1]
        w = {n: self.p[f"{prefix}.{n}.weight"].detach() for n in "qkvo"}
        b = {n: self.p[f"{prefix}.{n}.bias"].detach() for n in "qkvo"}
        m = torch.zeros(B, self.H, Tq, Tk, dtype=torch.float64)
        m = m.masked_fill(mask & ~full, float("-inf")).reshape(B * self.H, Tq, Tk)
        with torch.no_grad():
            ref, _ = F.multi_head_attention_forward(
                xq.detach().transpose(0, 1), xkv.detach().transpose(0, 1), xkv.detach().transpose(0, 1), D, self.H,
                torch.cat([w["q"], w["k"], w["v"]]), torch.cat([b["q"], b["k"], b["v"]]), None, None, False, 0.0,
                w["o"], b["o"], training=False, need_weights=False, attn_mask=m)
        ref = ref.transpose(0, 1)
        seen = ~full[:, 0, :, 0]  # [B, Tq]
        err = (out.detach()[seen] - ref[seen]).abs().max().item() if seen.any() else 0.0
        scale = ref[seen].abs().max().item() if seen.any() else 1.0
        if err > 1e-12 * max(scale, 1.0):
            raise AssertionError(f"{prefix}: attention differs from torch's MHA by {err:.3g}")
        self.attn_checked += 1

    def sublayer(self, x, fn, norm_prefix):
        if self.cfg["norm"] == "pre":
            return x + fn(self.norm(x, norm_prefix))
        return self.norm(x + fn(x), norm_prefix)

    def ffn(self, prefix, x):
        h = self.linear(x, prefix + ".w1")
        h = F.relu(h) if self.cfg["activation"] == "relu" else F.gelu(h, approximate="tanh")
        return self.linear(h, prefix + ".w2")

    def forward(self, batch):
        cfg, pre = self.cfg, self.cfg["norm"] == "pre"
        tied = cfg["tie_embeddings"]
        if cfg["arch"] == "encdec":
            src, tgt_in = batch["src"], batch["tgt_in"]
            x = self.embed(src, "tgt_embed.weight" if tied else "src_embed.weight")
            for i in range(cfg["n_enc_layers"]):
                L = f"encoder.layers.{i}"
                x = self.sublayer(x, lambda h: self.mha(L + ".self_attn", h, h, src, False), L + ".norm1")
                x = self.sublayer(x, lambda h: self.ffn(L + ".ffn", h), L + ".norm2")
            mem = self.norm(x, "encoder.norm") if pre else x
            y = self.embed(tgt_in, "tgt_embed.weight")
        else:
            tgt_in = batch["tokens_in"]
            y = self.embed(tgt_in, "tok_embed.weight")
        for i in range(cfg["n_dec_layers"]):
            L = f"decoder.layers.{i}"
            y = self.sublayer(y, lambda h: self.mha(L + ".self_attn", h, h, tgt_in, True), L + ".norm1")
            k = 2
            if cfg["arch"] == "encdec":
                y = self.sublayer(y, lambda h: self.mha(L + ".cross_attn", h, mem, src, False), L + ".norm2")
                k = 3
            y = self.sublayer(y, lambda h: self.ffn(L + ".ffn", h), f"{L}.norm{k}")
        if pre:
            y = self.norm(y, "decoder.norm")
        gen = ("tgt_embed.weight" if cfg["arch"] == "encdec" else "tok_embed.weight") if tied else "generator.weight"
        return F.linear(y, self.p[gen])


def loss_of(logits, tgt_out, eps):
    V = logits.shape[-1]
    if not (tgt_out != PAD).any():
        return logits.sum() * 0.0  # SPEC: no target left gives 0 and zero gradients
    return F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1).long(), ignore_index=PAD, label_smoothing=eps)


def rel_diff(got, ref):
    """||got - ref|| / ||ref|| (absolute when ref is zero), and the worst element's relative gap."""
    got, ref = got.double(), ref.double()
    num = (got - ref).norm().item()
    den = ref.norm().item()
    return num / den if den > 0 else num


def check(tensors, meta, eps, tol, label):
    cfg = json.loads(meta["config"])
    if eps is None:
        eps = float(meta.get("label_smoothing", "0"))
    grad_names = [n[5:] for n in tensors if n.startswith("grad.")]
    params = {}
    for n in grad_names:
        if n not in tensors:
            raise SystemExit(f"{label}: grad.{n} has no parameter {n}")
        params[n] = tensors[n].double().clone().requires_grad_(True)
    batch = {n: tensors[n].long() for n in ("src", "tgt_in", "tgt_out", "tokens_in", "tokens_out") if n in tensors}
    model = Model(cfg, params)
    logits = model.forward(batch)
    tgt_out = batch["tgt_out"] if cfg["arch"] == "encdec" else batch["tokens_out"]
    loss = loss_of(logits, tgt_out, eps)
    loss.backward()

    d_loss = rel_diff(tensors["loss"].reshape(()), loss.detach())
    d_logits = rel_diff(tensors["logits"], logits.detach()) if "logits" in tensors else float("nan")
    # relative per tensor; absolute (divided by 1e-4) for gradients of norm below 1e-4, such as
    # k.bias whose gradient is exactly zero up to rounding (softmax ignores a shift of all scores)
    worst_name, worst, zero_abs = "", 0.0, 0.0
    for n, p in params.items():
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        diff, norm = (tensors["grad." + n].double() - g).norm().item(), g.norm().item()
        if norm < 1e-4:
            zero_abs = max(zero_abs, diff)
        elif diff / norm > worst:
            worst_name, worst = n, diff / norm
    grads_diff = max(worst, zero_abs / 1e-4)
    ok = max(d_loss, grads_diff) <= tol and (math.isnan(d_logits) or d_logits <= tol)
    print(f"{label}: {cfg['arch']}/{cfg['norm']}/{cfg['activation']}/{'tied' if cfg['tie_embeddings'] else 'untied'}"
          f"/ls={eps:g}: loss {loss.item():.6f} rel {d_loss:.2e}, logits rel {d_logits:.2e}, "
          f"grads max rel {worst:.2e} ({worst_name}), near-zero ones abs {zero_abs:.1e}, {len(params)} tensors, "
          f"{model.attn_checked} MHA checks {'OK' if ok else 'FAIL'}")
    return ok, max(d_loss, grads_diff, 0.0 if math.isnan(d_logits) else d_logits)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--each", action="store_true", help="every file is a whole run (the default with one file "
                    "or with files whose format is clformer-ref)")
    ap.add_argument("--label-smoothing", type=float, default=None)
    ap.add_argument("--tol", type=float, default=1e-10)
    args = ap.parse_args()
    torch.set_grad_enabled(True)
    loaded = [(path,) + read_safetensors(path) for path in args.files]
    each = args.each or all(m.get("format") == "clformer-ref" for _, _, m in loaded)
    runs = []
    if each:
        runs = [(t, m, path) for path, t, m in loaded]
    else:
        tensors, meta = {}, {}
        for _, t, m in loaded:
            tensors.update(t)
            meta.update(m)
        runs = [(tensors, meta, " + ".join(args.files))]
    all_ok, worst = True, 0.0
    for tensors, meta, label in runs:
        ok, w = check(tensors, meta, args.label_smoothing, args.tol, label)
        all_ok &= ok
        worst = max(worst, w)
    print(f"{len(runs)} run(s), largest relative difference {worst:.2e} (tolerance {args.tol:g}): "
          f"{'OK' if all_ok else 'FAIL'}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
