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


# PyGObject alone (no gst-python overrides, as in a venv with PyGObject
# from pip): a GstValueArray raises "unknown type GstValueArray", the
# message's GValueArrays must still come back as lists.
BARE_PYGOBJECT = r"""
import sys
sys.modules["gi.overrides.Gst"] = None
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
p = Gst.parse_launch("videotestsrc num-buffers=1 ! videoconvert ! "
    "clipclassify post-messages=true model=\"%s\" labels=\"a cat,a dog\" "
    "! fakesink" % sys.argv[1])
p.set_state(Gst.State.PLAYING)
m = p.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.ELEMENT)
s = m.get_structure()
labels, probs = s.get_value("labels"), s.get_value("probabilities")
p.set_state(Gst.State.NULL)
assert sorted(labels) == ["a cat", "a dog"], labels
assert len(probs) == 2 and abs(sum(probs) - 1) < 1e-5, probs
print("bare PyGObject reads", labels, probs)
"""


def main():
    bare = subprocess.run([sys.executable, "-c", BARE_PYGOBJECT,
                           os.environ["CLIP_TEST_MODEL"]],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    sys.stderr.write(bare.stdout)
    if bare.returncode != 0:
        print("FAIL: the clip-classification message without gst-python")
        return 1

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
