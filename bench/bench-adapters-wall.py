#!/usr/bin/python3
"""bench-adapters-wall.py - the wall-clock cost of adapters on a shared
machine: clip-tool bench (2 threads, 3 s) without an adapter and with each
adapter given, vision batch 1 and 8 and 64 prompts of 10 tokens, in
interleaved rounds. Every run starts once the other processes have used
< 0.1 core for 2 s (at most 90 s of waiting), and records how much CPU they
took while it ran (busy time from /proc/stat minus the run's own CPU time);
the summary keeps the runs where that stayed < 0.1 core. One JSON line per
run is appended to OUT; then the table for docs/adapters.md on stdout.

  bench/bench-adapters-wall.py build/engine/clip-tool MODEL ROUNDS OUT ADAPTER_DIR...
  bench/bench-adapters-wall.py --summary OUT
"""
import json
import os
import statistics
import subprocess
import sys
import time

RUNS = ["--tower vision --batch 1", "--tower vision --batch 8",
        "--tower text --batch 64 --tokens 10"]
QUIET = 0.1     # cores the other processes may use
HZ = os.sysconf("SC_CLK_TCK")


def busy():
    """CPU seconds spent by everything so far (all but idle and iowait)."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / HZ


def wait_quiet(maxwait=90):
    t0 = time.time()
    while time.time() - t0 < maxwait:
        b0 = busy()
        time.sleep(2)
        if (busy() - b0) / 2 < QUIET:
            return time.time() - t0
    return -1


def measure(tool, model, rounds, out_path, adapters):
    with open(out_path, "a") as out:
        for r in range(rounds):
            for a in ["none"] + adapters:
                for what in RUNS:
                    waited = wait_quiet()
                    cmd = [tool, "bench", model] + what.split() + ["--threads", "2",
                                                                   "--seconds", "3"]
                    if a != "none":
                        cmd += ["--adapter", a]
                    b0, t0 = busy(), time.time()
                    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
                    res = p.stdout.read()
                    _, _, ru = os.wait4(p.pid, 0)
                    b1, t1 = busy(), time.time()
                    own = ru.ru_utime + ru.ru_stime
                    row = {"round": r + 1, "adapter": os.path.basename(a), "run": what,
                           "waited_s": round(waited, 1), "wall_s": round(t1 - t0, 2),
                           "others_cores": round(max(0.0, b1 - b0 - own) / (t1 - t0), 3),
                           "loadavg": open("/proc/loadavg").read().split()[:3],
                           "result": json.loads(res)}
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                    print("round %d %s %s: others %.2f cores" % (
                        r + 1, row["adapter"], what, row["others_cores"]), file=sys.stderr)


def summary(path):
    rows = [json.loads(line) for line in open(path)]
    kept = [r for r in rows if r["others_cores"] < QUIET]
    print("%d of %d runs kept (others < %.1f core: median %.3f); 1-min load average %s-%s" % (
        len(kept), len(rows), QUIET, statistics.median(r["others_cores"] for r in kept),
        min(float(r["loadavg"][0]) for r in kept), max(float(r["loadavg"][0]) for r in kept)))
    adapters = []
    for r in rows:
        if r["adapter"] not in adapters:
            adapters.append(r["adapter"])
    print("| adapter | " + " | ".join("%s: median/s (range), best ms" % w for w in RUNS)
          + " | load ms |")
    print("|---" * (len(RUNS) + 2) + "|")
    base = {}
    for a in adapters:
        cells = []
        for run in RUNS:
            sel = [r["result"] for r in kept if r["adapter"] == a and r["run"] == run]
            if not sel:
                cells.append("-")
                continue
            v = [x.get("images_per_s", x.get("prompts_per_s")) for x in sel]
            med, best = statistics.median(v), min(x["ms_per_batch_min"] for x in sel)
            if a == "none":
                base[run] = (med, best)
            cells.append("%.1f (%+.1f%%; %.1f-%.1f), %.1f (%+.1f%%) n=%d" % (
                med, 100 * (med / base[run][0] - 1), min(v), max(v), best,
                100 * (best / base[run][1] - 1), len(sel)))
        loads = [r["result"]["load_ms"] for r in kept if r["adapter"] == a]
        print("| %s | %s | %.0f (%.0f-%.0f) |" % (a, " | ".join(cells), statistics.median(loads),
                                                 min(loads), max(loads)))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--summary":
        summary(sys.argv[2])
    elif len(sys.argv) >= 5:
        measure(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:])
        summary(sys.argv[4])
    else:
        sys.exit(__doc__)
