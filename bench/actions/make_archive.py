#!/usr/bin/env python3
"""make_archive.py - renders a synthetic video archive with ground truth for
the action-segment benchmark: videos made of videotestsrc scenes in
sequence, in several resolutions and aspect ratios (portrait too), frame
rates and containers, with background scenes that only negative prompts
should claim, brief interruptions inside scenes that must not split them,
a bouncing ball that sweeps to the edges of wide frames, and in wide frames
a ball that bounces in a strip along the left or right edge, always outside
CLIP's centre crop (found only with coverage=full).

  make_archive.py OUT_DIR [--videos N] [--seed S] [--scale F]
                  [--size WxH] [--fps N] [--container EXT]

Writes OUT_DIR/*.{mkv,avi,webm,ogv,mp4} and OUT_DIR/truth.jsonl, one line per
labelled scene: {"file": NAME, "label": ..., "start": NS, "end": NS,
"off_centre": BOOL} (interruptions do not split a scene; background scenes
have no line).
OUT_DIR/archive.json records the settings (labels, negatives, per video
resolution, rate, container, scenes). Rendering runs clip-launch (CLIP_LAUNCH,
else build/plugin/clip-launch, else PATH) with GStreamer's own elements only.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys

# label -> videotestsrc settings: the demo model's canonical labels
FOREGROUND = {
    "a bouncing ball": "pattern=ball motion=hsweep",
    "color bars": "pattern=smpte",
    "static noise": "pattern=snow",
    "a checkerboard": "pattern=checkers-8",
    "a pinwheel": "pattern=pinwheel",
    "concentric circles": "pattern=circular",
    "spokes": "pattern=spokes",
}
# scenes no label should claim, named by negative prompts
BACKGROUND = {
    "a gradient": "pattern=gradient",
    "a solid black screen": "pattern=black",
    "a solid white screen": "pattern=white",
}
SIZES = [(320, 240), (640, 360), (1280, 720), (360, 640), (480, 480),
         (854, 480)]
RATES = [15, 25, 30]
CONTAINERS = {
    "mkv": "jpegenc quality=85 ! matroskamux",
    "avi": "jpegenc quality=85 ! avimux",
    "webm": "vp8enc deadline=1 target-bitrate=2000000 ! webmmux",
    "ogv": "theoraenc ! oggmux",
    "mp4": "jpegenc quality=85 ! qtmux",
}


def launcher():
    if os.environ.get("CLIP_LAUNCH"):
        return os.environ["CLIP_LAUNCH"]
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, "..", "..", "build", "plugin", "clip-launch")
    if os.path.exists(built):
        return built
    found = shutil.which("clip-launch")
    if not found:
        sys.exit("make_archive.py: clip-launch not found (build gst-clip or "
                 "set CLIP_LAUNCH)")
    return found


# the off-centre subject: a ball bouncing in a strip along one edge, wholly
# outside the central square
OFF_CENTRE = "a bouncing ball"


def off_centre_piece(w, h, fps, n, rng):
    strip = ((w - h) // 2 - 8) & ~1
    left = 0 if rng.random() < 0.5 else w - strip
    return ("videotestsrc pattern=ball num-buffers=%d ! "
            "video/x-raw,width=%d,height=%d,framerate=%d/1 ! "
            "videobox left=%d right=%d fill=black ! c."
            % (n, strip, h, fps, -left, -(w - strip - left)))


def plan_video(rng, scale, wide):
    """A list of (label, settings, seconds, is_background) scenes;
    settings None marks an off-centre subject (wide frames only)."""
    scenes = []
    prev = None
    for _ in range(rng.randint(4, 6)):
        while True:
            if wide and rng.random() < 0.2:
                item = (OFF_CENTRE, None, False)
            elif rng.random() < 0.3:
                name = rng.choice(sorted(BACKGROUND))
                item = (name, BACKGROUND[name], True)
            else:
                name = rng.choice(sorted(FOREGROUND))
                item = (name, FOREGROUND[name], False)
            if item[0] != prev:
                break
        prev = item[0]
        seconds = rng.uniform(3.0, 7.0) * scale
        scenes.append((item[0], item[1], max(seconds, 2.5), item[2]))
    return scenes


def render(out_dir, index, rng, scale, launch, size=None, rate=None,
           container=None):
    w, h = rng.choice(SIZES)
    fps = rng.choice(RATES)
    ext = sorted(CONTAINERS)[index % len(CONTAINERS)]
    if size:
        w, h = size
    fps = rate or fps
    ext = container or ext
    name = "video%02d.%s" % (index, ext)
    # the strip must be wide enough for the ball to read (tested up to 480p)
    scenes = plan_video(rng, scale, w >= 1.5 * h and h <= 480)

    pieces, truth, timeline = [], [], []
    frame = 0

    def piece(settings, n):
        if settings is None:
            pieces.append(off_centre_piece(w, h, fps, n, rng))
            return
        pieces.append("videotestsrc %s num-buffers=%d ! "
                      "video/x-raw,width=%d,height=%d,framerate=%d/1 ! c."
                      % (settings, n, w, h, fps))

    for label, settings, seconds, background in scenes:
        n = max(int(round(seconds * fps)), 1)
        start = frame
        interrupt = None
        if not background and seconds >= 4.0 and rng.random() < 0.6:
            # a 0.2-0.4 s interruption in the middle: one scene still
            other = rng.choice(sorted((set(BACKGROUND) | set(FOREGROUND))
                                      - {label}))
            k = max(int(round(rng.uniform(0.2, 0.4) * fps)), 1)
            first = n // 2 - k // 2
            piece(settings, first)
            piece({**FOREGROUND, **BACKGROUND}[other], k)
            piece(settings, n - first - k)
            interrupt = (other, (start + first) / fps, k / fps)
        else:
            piece(settings, n)
        frame += n
        timeline.append({"label": label, "background": background,
                         "off_centre": settings is None,
                         "start": start / fps, "end": frame / fps,
                         "interruption": interrupt})
        if not background:
            truth.append({"file": name, "label": label,
                          "start": int(round(start * 1e9 / fps)),
                          "end": int(round(frame * 1e9 / fps)),
                          "off_centre": settings is None})

    desc = ("concat name=c ! videoconvert ! video/x-raw,format=I420 ! %s ! "
            "filesink location=%s " % (CONTAINERS[ext],
                                        os.path.join(out_dir, name))
            + " ".join(pieces))
    cmd = [launch, "-q"] + desc.split()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return truth, {"file": name, "width": w, "height": h, "fps": fps,
                   "container": ext, "scenes": timeline}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--videos", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="scene length factor (0.5: half as long)")
    ap.add_argument("--size", help="every video WxH (default: varied)")
    ap.add_argument("--fps", type=int, help="every video at N fps")
    ap.add_argument("--container", choices=sorted(CONTAINERS))
    args = ap.parse_args()
    size = tuple(int(x) for x in args.size.split("x")) if args.size else None

    os.makedirs(args.out_dir, exist_ok=True)
    rng = random.Random(args.seed)
    launch = launcher()
    truth, videos = [], []
    for i in range(args.videos):
        t, v = render(args.out_dir, i, rng, args.scale, launch, size,
                      args.fps, args.container)
        truth += t
        videos.append(v)
        print("rendered %s: %dx%d %d fps, %d scenes" % (
            v["file"], v["width"], v["height"], v["fps"], len(v["scenes"])),
            file=sys.stderr)
    with open(os.path.join(args.out_dir, "truth.jsonl"), "w") as f:
        for t in truth:
            f.write(json.dumps(t) + "\n")
    with open(os.path.join(args.out_dir, "archive.json"), "w") as f:
        json.dump({"labels": sorted(FOREGROUND),
                   "negatives": sorted(BACKGROUND), "seed": args.seed,
                   "videos": videos}, f, indent=1)


if __name__ == "__main__":
    main()
