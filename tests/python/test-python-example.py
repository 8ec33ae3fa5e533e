"""test-python-example.py: runs examples/python/clip-events.py as a user
would and checks what it read through PyGObject against clipjson's lines
from the same pipeline: the labels, confidences and scored PTS from the
GstClip meta in the pad probe, the clip-classification messages' labels and
probabilities (lists), and clipsegment's segment messages.
CLIP_EVENTS: the example to run (default: the one in the source tree),
CLIP_TEST_MODEL: the model."""

import json
import os
import subprocess
import sys
import tempfile


def main():
    example = os.environ.get("CLIP_EVENTS") or os.path.join(
        os.environ["CLIP_SOURCE_ROOT"], "examples", "python", "clip-events.py")
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = os.path.join(tmp, "frames.jsonl")
        run = subprocess.run(
            [sys.executable, example, "test", "--frames", "20",
             "--model", os.environ["CLIP_TEST_MODEL"], "--jsonl", jsonl],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            timeout=240)
        sys.stderr.write(run.stderr)
        if run.returncode != 0:
            print("FAIL: %s exited with %d" % (example, run.returncode))
            return 1
        records = [json.loads(line) for line in run.stdout.splitlines()]
        with open(jsonl) as f:
            written = [json.loads(line) for line in f]

    frames = [r for r in records if r["type"] == "frame"]
    messages = [r for r in records if r["type"] == "classification"]
    starts = [r for r in records if r["type"] == "segment-start"]
    ends = [r for r in records if r["type"] == "segment-end"]
    clip_frames = [w for w in written if "tensors" in w]
    ok = True

    def check(cond, what):
        nonlocal ok
        if not cond:
            print("FAIL: " + what)
            ok = False

    check(len(frames) == 20, "%d frames from the probe, 20 expected"
          % len(frames))
    check(len(frames) == len(clip_frames), "probe and clipjson disagree on "
          "the number of frames (%d, %d)" % (len(frames), len(clip_frames)))
    for f, w, m in zip(frames, clip_frames, messages):
        check(f["pts"] == w["pts"] == m["pts"], "pts %s %s %s"
              % (f["pts"], w["pts"], m["pts"]))
        labels = [t["label"] for t in w["tensors"]]
        check(f["labels"] == labels == m["labels"], "labels at %d" % w["pts"])
        for a, b, c in zip(f["confidences"], [t["confidence"] for t in
                                               w["tensors"]],
                           m["probabilities"]):
            check(abs(a - b) < 1e-6 and abs(a - c) < 1e-6,
                  "confidence at %d: %g %g %g" % (w["pts"], a, b, c))
    check(len(messages) == len(frames), "%d classification messages"
          % len(messages))
    check(len(starts) >= 1 and len(ends) == len(starts),
          "segments: %d started, %d ended" % (len(starts), len(ends)))
    if ok:
        print("ok: %d frames, %d segments read from Python" % (
            len(frames), len(ends)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
