#!/usr/bin/python3
"""clformer against PyTorch on the same CPU, side by side, in one run.

The model of shared/SPEC.md at two sizes, trained the same way on both sides (AdamW with SPEC's
betas and epsilon, no weight decay, noam schedule, label smoothing 0.1, dropout 0.1 on residuals,
embeddings and attention probabilities, random tokens, no PAD):

  encdec   d_model 256, 4 heads, d_ff 1024, 2+2 layers, vocab 1000, batch 16 x 64 (source and target)
  decoder  d_model 256, 4 heads, d_ff 1024, 4 layers, vocab 1000, batch 8 x 128
  generate the encdec model, greedy, 16 sources of 64 tokens, 64 new tokens each, keys and values cached

clformer runs `clformer bench --train` on --device; PyTorch runs on the CPU with --threads threads,
once with its best settings (OMP_WAIT_POLICY=passive, OPENBLAS_CORETYPE=SkylakeX,
torch.set_num_threads) and once out of the box. With --torch-device cuda PyTorch runs on the GPU in
float32 (TF32 off in both runs), its best settings being the fused AdamW. Each run is its own process; the three alternate
(clformer, PyTorch best, PyTorch default) for --rounds rounds and the medians are printed, with the
ratio clformer / PyTorch taken per round. PyTorch's generation is incremental decoding written here
(each layer's self-attention keys and values cached, cross-attention keys and values computed once),
since nn.Transformer has no cache. Then clformer's start-up to its first training step, with every
kernel cache off (CLFORMER_NO_CACHE=1 POCL_KERNEL_CACHE=0) and warm.

Run with Debian's Python (/usr/bin/python3), which sees python3-torch; the script installs that
package with apt (as root or through sudo) when it is missing, and says so. Figures go to stdout as
a Markdown table; --json FILE keeps every run.

  /usr/bin/python3 tools/bench_vs_torch.py --quick
  /usr/bin/python3 tools/bench_vs_torch.py --device cpu --rounds 5 --markdown perf.md
  python3 tools/bench_vs_torch.py --device gpu --torch-device cuda --python python3   # an NVIDIA GPU
"""
import argparse
import datetime
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PAD, BOS = 256, 257
# Debian's python3-torch is seen by Debian's Python, whatever python3 comes first on the PATH.
TORCH_PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

CONFIGS = {
    "encdec": dict(arch="encdec", vocab=1000, d_model=256, heads=4, d_ff=1024, enc=2, dec=2, batch=16, src=64, tgt=64),
    "decoder": dict(arch="decoder", vocab=1000, d_model=256, heads=4, d_ff=1024, enc=0, dec=4, batch=8, src=0, tgt=128),
}
DROPOUT, LABEL_SMOOTHING, WARMUP_LR = 0.1, 0.1, 4000
BEST_ENV = {"OMP_WAIT_POLICY": "passive", "OPENBLAS_CORETYPE": "SkylakeX"}


# ---------------------------------------------------------------------------------------------
# PyTorch worker: one configuration in this process, figures as one JSON line on stdout.

def torch_worker(a):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    cuda = a.torch_device == "cuda"
    if cuda:  # float32 on both sides: no TF32 tensor-core rounding
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    elif a.set_threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.torch_device)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    cfg = CONFIGS[a.config]
    D, H, V = cfg["d_model"], cfg["heads"], cfg["vocab"]

    def positional(T):
        pos = torch.arange(T, dtype=torch.float32)[:, None]
        i2 = torch.arange(0, D, 2, dtype=torch.float32)
        ang = pos / torch.pow(torch.tensor(10000.0), i2 / D)
        pe = torch.zeros(T, D)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(ang), torch.cos(ang)
        return pe

    def spec_layer(layer):
        layer.dropout = nn.Identity()  # SPEC has no dropout inside the FFN, only on residuals
        return layer

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            kw = dict(d_model=D, nhead=H, dim_feedforward=cfg["d_ff"], dropout=DROPOUT, batch_first=True)
            self.encdec = cfg["arch"] == "encdec"
            if self.encdec:
                self.src_embed = nn.Embedding(V, D)
                self.enc = nn.ModuleList(spec_layer(nn.TransformerEncoderLayer(**kw)) for _ in range(cfg["enc"]))
                self.dec = nn.ModuleList(spec_layer(nn.TransformerDecoderLayer(**kw)) for _ in range(cfg["dec"]))
            else:  # decoder-only: causal self-attention and FFN, i.e. an encoder layer under a causal mask
                self.dec = nn.ModuleList(spec_layer(nn.TransformerEncoderLayer(**kw)) for _ in range(cfg["dec"]))
            self.tgt_embed = nn.Embedding(V, D)
            self.generator = nn.Linear(D, V, bias=False)
            self.drop = nn.Dropout(DROPOUT)
            self.register_buffer("pe", positional(512))

        def embed(self, emb, tok, offset=0):
            return emb(tok) * math.sqrt(D) + self.pe[offset : offset + tok.shape[1]]

        def encode(self, src):
            x = self.drop(self.embed(self.src_embed, src))
            for layer in self.enc:
                x = layer(x)
            return x

        def forward(self, src, tgt_in):
            T = tgt_in.shape[1]
            causal = torch.triu(torch.full((T, T), float("-inf")), 1)
            y = self.drop(self.embed(self.tgt_embed, tgt_in))
            if self.encdec:
                mem = self.encode(src)
                for layer in self.dec:
                    y = layer(y, mem, tgt_mask=causal)
            else:
                for layer in self.dec:
                    y = layer(y, src_mask=causal)
            return self.generator(y)

    model = Model().to(dev)
    fused = dict(fused=True) if cuda and a.set_threads else {}  # "best" on a GPU: the fused AdamW
    opt = torch.optim.AdamW(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.0, **fused)
    noam = lambda s: D ** -0.5 * min((s + 1) ** -0.5, (s + 1) * WARMUP_LR ** -1.5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, noam)
    B, S, T = cfg["batch"], cfg["src"], cfg["tgt"]
    g = torch.Generator().manual_seed(a.seed)
    batches = [tuple(x.to(dev) for x in (torch.randint(0, V, (B, max(S, 1)), generator=g),
                                         torch.randint(0, V, (B, T), generator=g), torch.randint(0, V, (B, T), generator=g)))
               for _ in range(4)]

    def step(i):
        src, tgt_in, tgt_out = batches[i % len(batches)]
        logits = model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1), ignore_index=PAD,
                               label_smoothing=LABEL_SMOOTHING)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return loss.item()

    model.train()
    losses = [step(i) for i in range(a.warmup)]
    sync()
    t0 = time.perf_counter()
    losses += [step(a.warmup + i) for i in range(a.steps)]
    sync()
    dt = time.perf_counter() - t0
    out = dict(threads=torch.get_num_threads(), torch=torch.__version__,
               torch_device=torch.cuda.get_device_name() if cuda else "CPU", step_ms=dt * 1e3 / a.steps,
               train_tokens_per_s=B * T * a.steps / dt, losses=losses)
    if a.gen_batch > 0 and cfg["arch"] == "encdec":
        model.eval()
        src = torch.randint(0, 256, (a.gen_batch, S), generator=g).to(dev)
        with torch.no_grad():
            generate(model, src, 2, F)  # first calls allocate
            sync()
            t0 = time.perf_counter()
            generate(model, src, a.gen_tokens, F)
            sync()
            dt = time.perf_counter() - t0
        out.update(gen_ms=dt * 1e3, gen_tokens_per_s=a.gen_batch * a.gen_tokens / dt)
    print(json.dumps(out))


def generate(model, src, n, F):
    """Greedy decoding of n new tokens per row, keys and values of earlier positions cached."""
    import torch
    B = src.shape[0]
    D = model.tgt_embed.embedding_dim
    mem = model.encode(src)
    caches = []
    for layer in model.dec:
        ca = layer.multihead_attn
        wk, wv = ca.in_proj_weight[D : 2 * D], ca.in_proj_weight[2 * D :]
        bk, bv = ca.in_proj_bias[D : 2 * D], ca.in_proj_bias[2 * D :]
        caches.append(dict(k=[], v=[], ck=F.linear(mem, wk, bk), cv=F.linear(mem, wv, bv)))
    tok = torch.full((B, 1), BOS, dtype=torch.long, device=src.device)
    for t in range(n):
        x = model.embed(model.tgt_embed, tok, t)  # [B, 1, D]
        for layer, c in zip(model.dec, caches):
            sa = layer.self_attn
            q, k, v = F.linear(x, sa.in_proj_weight, sa.in_proj_bias).chunk(3, -1)
            c["k"].append(k)
            c["v"].append(v)
            x = layer.norm1(x + F.linear(attend(q, torch.cat(c["k"], 1), torch.cat(c["v"], 1), sa.num_heads),
                                         sa.out_proj.weight, sa.out_proj.bias))
            ca = layer.multihead_attn
            q = F.linear(x, ca.in_proj_weight[:D], ca.in_proj_bias[:D])
            x = layer.norm2(x + F.linear(attend(q, c["ck"], c["cv"], ca.num_heads), ca.out_proj.weight, ca.out_proj.bias))
            x = layer.norm3(x + layer.linear2(F.relu(layer.linear1(x))))
        tok = model.generator(x).argmax(-1)
    return tok


def attend(q, k, v, H):
    """softmax(q k^T / sqrt(dh)) v per head; q [B, 1, D], k and v [B, T, D]."""
    import torch
    B, Tq, D = q.shape
    dh = D // H
    q = q.view(B, Tq, H, dh).transpose(1, 2)
    k = k.view(B, -1, H, dh).transpose(1, 2)
    v = v.view(B, -1, H, dh).transpose(1, 2)
    p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1)
    return (p @ v).transpose(1, 2).reshape(B, Tq, D)


# ---------------------------------------------------------------------------------------------
# The driver.

def ensure_torch(a):
    probe = subprocess.run([a.python, "-c", "import torch"], capture_output=True)
    if probe.returncode == 0:
        if a.torch_device == "cuda":
            p = subprocess.run([a.python, "-c", "import torch; assert torch.cuda.is_available()"], capture_output=True)
            if p.returncode != 0:
                sys.exit(f"bench_vs_torch: PyTorch under {a.python} sees no CUDA device")
        return
    if a.python != TORCH_PY or a.torch_device == "cuda":
        sys.exit(f"bench_vs_torch: {a.python} cannot import torch")
    print("PyTorch is missing: installing Debian's python3-torch with apt (about 1 GB)...", file=sys.stderr)
    cmd = ["apt-get", "install", "-y", "python3-torch"]
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            sys.exit("bench_vs_torch: PyTorch is missing and installing it needs root or sudo: apt-get install python3-torch")
        cmd = ["sudo"] + cmd
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(cmd, env=env).returncode != 0:
        sys.exit("bench_vs_torch: apt-get install python3-torch failed")


def run_json(cmd, env, what):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench_vs_torch: {what} failed (exit {p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p, wall


def clformer_args(a, name, steps, warmup, gen):
    c = CONFIGS[name]
    args = [a.clformer, "bench", "--train", "--arch", c["arch"], "--vocab-size", str(c["vocab"]), "--d-model",
            str(c["d_model"]), "--n-heads", str(c["heads"]), "--d-ff", str(c["d_ff"]), "--n-dec-layers", str(c["dec"]),
            "--dropout", str(DROPOUT), "--label-smoothing", str(LABEL_SMOOTHING), "--schedule", "noam", "--lr-warmup",
            str(WARMUP_LR), "--batch", str(c["batch"]), "--tgt-len", str(c["tgt"]), "--steps", str(steps), "--warmup",
            str(warmup), "--seed", str(a.seed)]
    if c["arch"] == "encdec":
        args += ["--n-enc-layers", str(c["enc"]), "--src-len", str(c["src"])]
    if gen and c["arch"] == "encdec":
        args += ["--gen-batch", str(a.gen_batch), "--gen-tokens", str(a.gen_tokens)]
    if a.device:
        args += ["--device", a.device]
    return args


def run_clformer(a, name, env=None, steps=None, warmup=None, gen=True):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "out.json")
        cmd = clformer_args(a, name, steps or a.steps, a.warmup if warmup is None else warmup, gen) + ["--json", path]
        _, wall = run_json(cmd, env or clean_env(), f"clformer ({name})")
        with open(path) as f:
            out = json.load(f)
    out["process_s"] = wall
    return out


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in BEST_ENV and k != "OMP_NUM_THREADS"}
    env.update(extra or {})
    return env


def run_torch(a, name, best):
    cmd = [a.python, os.path.abspath(__file__), "--worker", name, "--torch-device", a.torch_device, "--threads",
           str(a.threads), "--steps",
           str(a.steps), "--warmup", str(a.warmup), "--seed", str(a.seed), "--gen-batch", str(a.gen_batch),
           "--gen-tokens", str(a.gen_tokens)]
    if best:
        cmd.append("--set-threads")
    p, _ = run_json(cmd, clean_env(BEST_ENV if best else None), f"PyTorch {'best' if best else 'default'} ({name})")
    return json.loads(p.stdout.strip().splitlines()[-1])


def machine():
    model, cores = "unknown CPU", os.cpu_count()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Model name":
                model = v.strip()
    except OSError:
        pass
    return model, cores


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clformer", default=os.path.join(ROOT, "build", "clformer"), help="the clformer executable")
    ap.add_argument("--device", help="clformer's device selector (P:D, gpu, cpu, any, part of a name)")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2, this machine's cores)")
    ap.add_argument("--torch-device", choices=("cpu", "cuda"), default="cpu", help="where PyTorch runs (default cpu)")
    ap.add_argument("--python", default=TORCH_PY, help=f"the Python that imports torch (default {TORCH_PY})")
    ap.add_argument("--rounds", type=int, help="alternating rounds (default 3; --quick 1)")
    ap.add_argument("--steps", type=int, help="timed training steps per run (default 20; --quick 8)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--gen-batch", type=int, default=16)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="one round of fewer steps")
    ap.add_argument("--no-startup", action="store_true", help="skip clformer's cold and warm start-up runs")
    ap.add_argument("--json", help="write every run's figures here")
    ap.add_argument("--markdown", help="also write the Markdown table here")
    ap.add_argument("--worker", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    ap.add_argument("--set-threads", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        a.config = a.worker
        return torch_worker(a)
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.steps = a.steps or (8 if a.quick else 20)
    if not os.access(a.clformer, os.X_OK):
        sys.exit(f"bench_vs_torch: no clformer executable at {a.clformer} (build it, or give --clformer)")
    ensure_torch(a)

    load0 = os.getloadavg()
    runs = {n: {"clformer": [], "best": [], "default": []} for n in CONFIGS}
    for r in range(a.rounds):
        for name in CONFIGS:
            print(f"round {r + 1}/{a.rounds}: {name}: clformer, PyTorch best, PyTorch default", file=sys.stderr)
            runs[name]["clformer"].append(run_clformer(a, name))
            runs[name]["best"].append(run_torch(a, name, True))
            runs[name]["default"].append(run_torch(a, name, False))
    startup = None
    if not a.no_startup:
        print("start-up: clformer with every cache off, then warm", file=sys.stderr)
        cold = run_clformer(a, "encdec", clean_env({"CLFORMER_NO_CACHE": "1", "POCL_KERNEL_CACHE": "0"}), 1, 1, False)
        warm = run_clformer(a, "encdec", None, 1, 1, False)
        startup = {"cold": cold, "warm": warm}
    load1 = os.getloadavg()

    def rows(name, key):
        rs = runs[name]
        c = [x[key] for x in rs["clformer"]]
        b = [x[key] for x in rs["best"]]
        d = [x[key] for x in rs["default"]]
        return med(c), med(b), med(d), med([x / y for x, y in zip(c, b)]), med([x / y for x, y in zip(c, d)])

    cpu, cores = machine()
    dev = runs["encdec"]["clformer"][0]["device"]
    tv = runs["encdec"]["best"][0]
    cmd = f"{a.python} tools/bench_vs_torch.py " + " ".join(sys.argv[1:])
    where = (f"on {tv['torch_device']} in float32 (best: fused AdamW)" if a.torch_device == "cuda" else
             f"on the CPU with {tv['threads']} threads (out of the box: {runs['encdec']['default'][0]['threads']})")
    lines = [
        f"Machine: {cpu}, {cores} cores; clformer on `{dev}`; PyTorch {tv['torch']} {where}.",
        f"Command: `{cmd}` ({a.rounds} round(s) of {a.steps} timed steps after {a.warmup} warm-up; medians), "
        f"{datetime.date.today().isoformat()}. Load average {load0[0]:.1f} before, {load1[0]:.1f} after"
        + (" (the machine was busy with other work: compare the ratios, measured side by side)." if max(load0[0], load1[0]) > 0.5 * cores else "."),
        "",
        "| workload | clformer | PyTorch best | PyTorch default | clformer / best | clformer / default |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, label in (("encdec", "training, encdec 16 x 64 (target tokens/s)"), ("decoder", "training, decoder 8 x 128 (tokens/s)")):
        c, b, d, rb, rd = rows(name, "train_tokens_per_s")
        lines.append(f"| {label} | {c:,.0f} | {b:,.0f} | {d:,.0f} | {rb:.2f}x | {rd:.2f}x |")
    c, b, d, rb, rd = rows("encdec", "gen_tokens_per_s")
    lines.append(f"| generation, encdec {a.gen_batch} x {a.gen_tokens} new tokens, greedy, cached keys/values (tokens/s) "
                 f"| {c:,.0f} | {b:,.0f} | {d:,.0f} | {rb:.2f}x | {rd:.2f}x |")
    lines.append("")
    for name in CONFIGS:
        rs = runs[name]["clformer"]
        lines.append(f"clformer per {name} step: {med([x['launches_per_step'] for x in rs]):.0f} kernel launches, "
                     f"{med([x['waits_per_step'] for x in rs]):.2f} host waits, peak device memory "
                     f"{med([x['peak_bytes'] for x in rs]) / 2**20:.1f} MiB ({rs[0]['params'] / 1e6:.2f}M parameters).")
    if startup:
        s0, s1 = startup["cold"]["startup"], startup["warm"]["startup"]
        lines.append(f"clformer start-up to the end of the first encdec training step: {s0['first_step_done_ms'] / 1e3:.1f} s "
                     f"with every cache off (`CLFORMER_NO_CACHE=1 POCL_KERNEL_CACHE=0`; first step {s0['first_step_ms'] / 1e3:.1f} s), "
                     f"{s1['first_step_done_ms'] / 1e3:.2f} s with the caches warm (device open {s1['device_open_ms']:.0f} ms, "
                     f"trainer {s1['setup_ms']:.0f} ms, first step {s1['first_step_ms']:.0f} ms).")
    lines.append("PyTorch's generation is incremental decoding written in the benchmark (nn.Transformer has no "
                 "key/value cache); both sides decode every row for the full length, with no stop at EOS. "
                 "clformer's tokens are uniform over 0..255 (its batcher carries bytes), PyTorch's over the "
                 "vocabulary of 1000; the work is the same.")
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": runs, "startup": startup, "load": [load0, load1]}, f, indent=2)


if __name__ == "__main__":
    main()
