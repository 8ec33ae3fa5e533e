"""PyTorch (CPU) throughput of one CLIP tower (clip_model.py), random weights.

Adapted from shared/bench/bench_torch.py (adds --preset and --warmup).
  /usr/bin/python3 bench_torch.py --preset b32 --tower vision --batch 8 --threads 2
Prints one RESULT line: median throughput over the timed calls (at least --reps,
and more until --min-time seconds have passed, at most 100).

Text prompts are always 77 tokens (SOT, 10 random ids, EOT, zero padding), as
OpenAI CLIP and HF's padding="max_length" run them.
Threads: Debian's torch calls sgemm in libblas.so.3 (the OpenBLAS pthread build),
whose pool is only sized by OPENBLAS_NUM_THREADS at load time, so this script
exports OPENBLAS_NUM_THREADS and OMP_NUM_THREADS = --threads before importing
torch. OPENBLAS_CORETYPE is inherited from the environment.
"""
import argparse
import ctypes
import os
import statistics
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--preset", default="b32")
ap.add_argument("--tower", choices=["vision", "text"], default="vision")
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--attn", choices=["mha", "manual"], default="mha")
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--warmup", type=int, default=1)
ap.add_argument("--min-time", type=float, default=3.0)
ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                help="bf16: weights and inputs in bfloat16 (PyTorch 2.x: oneDNN's bf16 "
                     "matmuls, AMX or AVX512_BF16 where the CPU has them)")
args = ap.parse_args()

os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
os.environ["OMP_NUM_THREADS"] = str(args.threads)

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_model import build_tower, random_text  # noqa: E402
from shapes import PRESETS  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)
try:
    ob = ctypes.CDLL("libopenblas.so.0")
    ob.openblas_get_corename.restype = ctypes.c_char_p
    core = ob.openblas_get_corename().decode()
except OSError:
    core = "?"

model = build_tower(args.preset, args.tower, args.attn).eval()
if args.tower == "vision":
    res = PRESETS[args.preset]["res"]
    x = torch.randn(args.batch, 3, res, res)
    unit = "img"
else:
    x = random_text(args.batch)
    unit = "prompt"
if args.dtype == "bf16":
    model = model.to(torch.bfloat16)
    if x.is_floating_point():
        x = x.to(torch.bfloat16)

times = []
with torch.inference_mode():
    for _ in range(args.warmup):
        model(x)
    start = time.perf_counter()
    while len(times) < args.reps or (time.perf_counter() - start < args.min_time
                                     and len(times) < 100):
        t0 = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t0)
med = statistics.median(times)
print("RESULT torch %s preset=%s tower=%s attn=%s dtype=%s threads=%d blas_core=%s batch=%d "
      "%s_per_s=%.3f ms_per_batch=%.2f ms_per_batch_min=%.2f iterations=%d"
      % (torch.__version__, args.preset, args.tower, args.attn, args.dtype,
         torch.get_num_threads(), core, args.batch, unit, args.batch / med, med * 1e3,
         min(times) * 1e3, len(times)))
