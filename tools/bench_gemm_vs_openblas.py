#!/usr/bin/python3
"""clformer's GEMM next to OpenBLAS SGEMM at the same shapes, measured alternately in one run.

Runs `clformer bench --only gemm --json FILE` (rows for clformer's selected path, its own kernels
forced and CLBlast forced, at the products of a training step) and, in between, OpenBLAS through
numpy at the same shapes, once with OPENBLAS_CORETYPE=SkylakeX (its AVX-512 kernels) and once with
the library's default, each in its own process (the variable is read when OpenBLAS loads). Each
figure is the best over the rounds; the table gives clformer / OpenBLAS's best per shape.

Needs Debian's numpy, seen by /usr/bin/python3: `sudo apt-get install python3-numpy`.
Never needed by the tests.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

NUMPY_PROBE = r"""
import json, sys, time
import numpy as np
shapes = json.loads(sys.argv[1]); iters = int(sys.argv[2]); out = {}
rng = np.random.default_rng(0)
for key, (ta, tb, m, n, k, batch) in shapes.items():
    a = rng.standard_normal((batch, k, m) if ta else (batch, m, k), dtype=np.float32) * 0.01
    b = rng.standard_normal((batch, n, k) if tb else (batch, k, n), dtype=np.float32) * 0.01
    a = a.transpose(0, 2, 1) if ta else a
    b = b.transpose(0, 2, 1) if tb else b
    if batch == 1:  # a plain 2-D product: one sgemm call with the transposes as flags
        a, b = a[0], b[0]
    c = np.matmul(a, b)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append(time.perf_counter() - t0)
    times.sort()
    out[key] = 2.0 * m * n * k * batch / times[len(times) // 2] / 1e9
print(json.dumps(out))
"""

SHAPE_RE = re.compile(r"^([NT])([NT]) (\d+)x(\d+)x(\d+)(?: b(\d+))? (.*)$")


def run_clformer(exe, iters, env):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    try:
        cmd = [exe, "bench", "--only", "gemm", "--iters", str(iters), "--json", path]
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        with open(path) as f:
            rows = json.load(f)["rows"]
    finally:
        os.unlink(path)
    out = {}
    for r in rows:
        if not r["name"].startswith("gemm "):
            continue
        path_name = r["name"].split(" ")[1]  # selected / own / clblast
        out.setdefault(r["shape"], {})[path_name] = (r["gflops"], r["name"])
    return out


def run_numpy(shapes, coretype, iters, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    res = subprocess.run(["/usr/bin/python3", "-c", NUMPY_PROBE, json.dumps(shapes), str(iters)], env=env,
                         check=True, capture_output=True, text=True)
    return json.loads(res.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build folder holding clformer (default: build)")
    ap.add_argument("--rounds", type=int, default=2, help="alternations of clformer and OpenBLAS (default 2)")
    ap.add_argument("--iters", type=int, default=5, help="timed runs per shape (median), default 5")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="OpenBLAS threads (default: all CPUs)")
    ap.add_argument("--json", help="also write the table as JSON")
    args = ap.parse_args()

    if subprocess.run(["/usr/bin/python3", "-c", "import numpy"], capture_output=True).returncode != 0:
        sys.exit("numpy is missing for /usr/bin/python3: install it with `sudo apt-get install python3-numpy`")
    maps = subprocess.run(["/usr/bin/python3", "-c", "import numpy as np; np.ones((64, 64), np.float32) @ "
                           "np.ones((64, 64), np.float32); print(open('/proc/self/maps').read())"],
                          capture_output=True, text=True).stdout
    if "openblas" not in maps.lower():
        sys.exit("numpy is not using OpenBLAS (Debian's reference BLAS is 10-100x slower): install it with "
                 "`sudo apt-get install libopenblas0-pthread`")
    exe = os.path.join(args.build, "clformer")
    if not os.access(exe, os.X_OK):
        sys.exit(f"{exe} not found: build clformer first (meson setup {args.build} && ninja -C {args.build})")

    env = dict(os.environ)
    clf, blas = {}, {"SkylakeX": {}, "default": {}}
    shapes = None
    for rnd in range(args.rounds):
        print(f"round {rnd + 1}/{args.rounds}: clformer", file=sys.stderr, flush=True)
        for shape, paths in run_clformer(exe, args.iters, env).items():
            for p, (gf, name) in paths.items():
                old = clf.setdefault(shape, {}).get(p)
                if not old or gf > old[0]:
                    clf[shape][p] = (gf, name)
        if shapes is None:
            shapes = {}
            for s in clf:
                mt = SHAPE_RE.match(s)
                if mt:
                    ta, tb, m, n, k, b, _ = mt.groups()
                    shapes[s] = [ta == "T", tb == "T", int(m), int(n), int(k), int(b or 1)]
        for ct in ("SkylakeX", "default"):
            print(f"round {rnd + 1}/{args.rounds}: OpenBLAS {ct}", file=sys.stderr, flush=True)
            got = run_numpy(shapes, None if ct == "default" else ct, args.iters, args.threads)
            for s, gf in got.items():
                blas[ct][s] = max(gf, blas[ct].get(s, 0.0))

    head = ["shape", "selected", "own", "CLBlast", "OB SkylakeX", "OB default", "selected/OB best", "own/OB best"]
    rows = []
    for s in shapes:
        c = clf.get(s, {})
        sel, own, clb = (c.get(p, (0.0, ""))[0] for p in ("selected", "own", "clblast"))
        best = max(blas["SkylakeX"].get(s, 0.0), blas["default"].get(s, 0.0))
        chosen = c.get("selected", (0, ""))[1].split("(")[-1].rstrip(")")
        rows.append({"shape": s, "selected": sel, "selected_variant": chosen, "own": own, "clblast": clb,
                     "openblas_skylakex": blas["SkylakeX"].get(s, 0.0), "openblas_default": blas["default"].get(s, 0.0),
                     "ratio_selected": sel / best if best else 0.0, "ratio_own": own / best if best else 0.0})
    widths = [max(len(head[0]), *(len(r["shape"]) for r in rows))] + [len(h) for h in head[1:]]
    print("GFLOP/s, best of %d rounds (OB = OpenBLAS through numpy, %d threads)" % (args.rounds, args.threads))
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))))
    for r in rows:
        cells = [r["shape"], "%.1f" % r["selected"], "%.1f" % r["own"], "%.1f" % r["clblast"],
                 "%.1f" % r["openblas_skylakex"], "%.1f" % r["openblas_default"], "%.2f" % r["ratio_selected"],
                 "%.2f" % r["ratio_own"]]
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    if rows:
        worst = min(rows, key=lambda r: r["ratio_selected"])
        print("worst selected/OpenBLAS-best: %.2f at %s" % (worst["ratio_selected"], worst["shape"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": args.rounds, "threads": args.threads, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
