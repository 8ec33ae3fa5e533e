"""Run one benchmark command and print one normalized RESULT line (used by run-peers.sh).

  python3 run_one.py --tool ours|ort|torch --preset b32 --tower vision --batch 1 \
      [--tokens 77] --coretype haswell|unset|asis --threads 2 --round 1 -- CMD ARGS...

--coretype sets the environment of CMD: haswell = OPENBLAS_CORETYPE=Haswell (what
this development machine exports), unset = no OPENBLAS_CORETYPE (OpenBLAS picks
its kernels itself, as on a user's machine), asis = leave the environment alone.
CMD prints either clip-tool bench's JSON line or a peer's "RESULT ... X_per_s=..."
line. others_load is the number of cores other processes at nice <= 0 kept busy
while CMD ran (their busy jiffies minus CMD's own user+system time, over its
wall time): a run with others_load above ~0.3 on this 2-core machine was
disturbed. nice_load is the same for niced processes (a nice 10 job takes about
a tenth of a core from CMD's threads).
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shapes import text_flops, vision_flops  # noqa: E402


def busy_jiffies():
    """(busy jiffies of all CPUs at nice <= 0, busy jiffies at nice > 0)"""
    with open("/proc/stat") as f:
        v = [int(a) for a in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return v[0] + v[2] + v[5] + v[6] + v[7], v[1]


ap = argparse.ArgumentParser()
ap.add_argument("--tool", required=True)
ap.add_argument("--preset", required=True)
ap.add_argument("--tower", required=True, choices=["vision", "text"])
ap.add_argument("--batch", type=int, required=True)
ap.add_argument("--tokens", type=int, default=77)
ap.add_argument("--coretype", default="asis", choices=["haswell", "unset", "asis"])
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--round", type=int, default=0)
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd

env = dict(os.environ)
if a.coretype == "haswell":
    env["OPENBLAS_CORETYPE"] = "Haswell"
elif a.coretype == "unset":
    env.pop("OPENBLAS_CORETYPE", None)

hz = os.sysconf("SC_CLK_TCK")
(b0, n0), t0 = busy_jiffies(), time.monotonic()
proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
out, err = proc.communicate()
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
b1, n1 = busy_jiffies()
# RUSAGE_CHILDREN accumulates over all children; this script runs exactly one.
others = max(0.0, ((b1 - b0) / hz - (ru.ru_utime + ru.ru_stime)) / wall)
nice = (n1 - n0) / hz / wall

label = "tool=%s preset=%s tower=%s batch=%d tokens=%s coretype=%s threads=%d round=%d" % (
    a.tool, a.preset, a.tower, a.batch, a.tokens if a.tower == "text" else "-",
    a.coretype, a.threads, a.round)

rate = ms = ms_min = iters = None
for line in out.splitlines():
    line = line.strip()
    if line.startswith("{"):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        rate = j.get("images_per_s", j.get("prompts_per_s"))
        ms, ms_min, iters = j.get("ms_per_batch"), j.get("ms_per_batch_min"), j.get("iterations")
    elif line.startswith("RESULT "):
        m = re.search(r"\b\w+_per_s=([0-9.]+)", line)
        if m:
            rate = float(m.group(1))
            ms = float(re.search(r"ms_per_batch=([0-9.]+)", line).group(1))
            ms_min = float(re.search(r"ms_per_batch_min=([0-9.]+)", line).group(1))
            iters = int(re.search(r"iterations=(\d+)", line).group(1))
if proc.returncode != 0 or rate is None:
    tail = " | ".join((err.strip().splitlines() or ["(no stderr)"])[-3:])
    print("FAIL %s rc=%d %s" % (label, proc.returncode, tail), flush=True)
    sys.exit(0)

flop = vision_flops(a.preset) if a.tower == "vision" else text_flops(a.preset, a.tokens)
print("RESULT %s per_s=%.3f best_per_s=%.3f unit=%s ms_per_batch=%.2f gflop_s=%.1f iterations=%s "
      "others_load=%.2f nice_load=%.2f wall_s=%.1f" % (
          label, rate, a.batch * 1e3 / ms_min, "img" if a.tower == "vision" else "prompt", ms,
          flop * rate / 1e9, iters, others, nice, wall), flush=True)
