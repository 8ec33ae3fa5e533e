#!/usr/bin/env python3
"""clip-events.py - gst-clip from Python: tag a file, print segments, react
to live events.

Reads what clipclassify attaches to each frame through the GstClip
introspection data (GstClip-1.0.typelib, libgstclipmeta) in a pad probe,
and clipsegment's clip-segment-start/-end and clipclassify's
clip-classification messages from the bus. Prints one JSON object per line
on stdout:
  {"type": "frame", "pts": NS, "labels": [...], "confidences": [...]}
  {"type": "classification", "pts": NS, "labels": [...], "probabilities": [...]}
  {"type": "segment-start", "label": ..., "start": NS}
  {"type": "segment-end", "label": ..., "start": NS, "end": NS, "confidence": ...}
and, live, a line on stderr whenever a segment starts ("react").

Usage: clip-events.py [options] SOURCE
  SOURCE   a video file, "test" (videotestsrc, as fast as it goes) or
           "live" (videotestsrc in real time, standing in for a camera)
Options: --model DIR --labels "a,b" --frames N --interval N
         --jsonl FILE (also write clipjson's lines there)
         --mqtt HOST:PORT/TOPIC (also publish them with clippublish)

Needs Debian's python3-gi and python3-gst-1.0, and gst-clip installed (or
GST_PLUGIN_PATH, GI_TYPELIB_PATH and LD_LIBRARY_PATH pointing at a build).
"""

import argparse
import json
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstClip", "1.0")
from gi.repository import GLib, Gst, GstClip  # noqa: E402


_emit_lock = threading.Lock()


def emit(record):
    """One line, whole: the probe runs in the streaming thread, the bus
    watch in the main loop's."""
    with _emit_lock:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


def frame_record(meta):
    """A GstClipClassificationMeta as a dict: labels most probable first."""
    labels, confidences = [], []
    for i in range(meta.n_classifications):
        c = meta.get(i)
        labels.append(c.label)
        confidences.append(c.probability)
    return {"type": "frame", "pts": meta.scored_pts, "labels": labels,
            "confidences": confidences}


def on_probe(pad, info):
    if info.type & Gst.PadProbeType.BUFFER:
        meta = GstClip.buffer_get_clip_classification_meta(info.get_buffer())
        if meta is not None and not meta.repeated:
            emit(frame_record(meta))
    elif info.type & Gst.PadProbeType.EVENT_DOWNSTREAM:
        # async mode: results that no frame was left to carry, before EOS
        meta = GstClip.late_result_event_get_meta(info.get_event())
        if meta is not None:
            emit(frame_record(meta))
    return Gst.PadProbeReturn.OK


def on_message(bus, msg, loop, args):
    if msg.type == Gst.MessageType.ELEMENT:
        s = msg.get_structure()
        name = s.get_name()
        if name == "clip-classification":
            # GValueArrays: plain Python lists
            emit({"type": "classification", "pts": s.get_value("timestamp"),
                  "labels": list(s.get_value("labels")),
                  "probabilities": list(s.get_value("probabilities"))})
        elif name == "clip-segment-start":
            emit({"type": "segment-start", "label": s.get_value("label"),
                  "start": s.get_value("start")})
            if args.source == "live":
                print("clip-events: %s started" % s.get_value("label"),
                      file=sys.stderr, flush=True)
        elif name == "clip-segment-end":
            emit({"type": "segment-end", "label": s.get_value("label"),
                  "start": s.get_value("start"), "end": s.get_value("end"),
                  "confidence": s.get_value("confidence")})
        elif name == "clip-publish-stats":
            print("clip-events: published %d, dropped %d" % (
                s.get_value("published"), s.get_value("dropped")),
                file=sys.stderr, flush=True)
    elif msg.type == Gst.MessageType.EOS:
        loop.quit()
    elif msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        print("clip-events: %s (%s)" % (err.message, debug), file=sys.stderr)
        args.failed = True
        loop.quit()


def quote(value):
    """A property value for Gst.parse_launch."""
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def build(args):
    if args.source in ("test", "live"):
        src = "videotestsrc pattern=ball num-buffers=%d is-live=%s" % (
            args.frames, "true" if args.source == "live" else "false")
        src += " ! video/x-raw,width=320,height=240,framerate=10/1"
    else:
        src = "filesrc location=%s ! decodebin" % quote(args.source)
    tail = ""
    if args.jsonl:
        tail += " ! clipjson location=%s" % quote(args.jsonl)
    if args.mqtt:
        hostport, _, topic = args.mqtt.partition("/")
        host, _, port = hostport.partition(":")
        tail += " ! clippublish host=%s port=%s topic=%s qos=1" % (
            host, port or "1883", quote(topic or "gst-clip"))
    desc = ("%s ! videoconvert ! clipclassify name=classify post-messages=true model=%s "
            "labels=%s interval=%d ! clipsegment name=segment min-duration=0"
            "%s ! fakesink sync=%s" % (
                src, quote(args.model),
                quote(args.labels), args.interval, tail,
                "true" if args.source == "live" else "false"))
    return Gst.parse_launch(desc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source")
    parser.add_argument("--model", default="models/tiny-demo-clip")
    parser.add_argument("--labels", default="a bouncing ball,color bars,"
                        "static noise,a checkerboard")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--interval", type=int, default=1)
    parser.add_argument("--jsonl")
    parser.add_argument("--mqtt")
    args = parser.parse_args()
    args.failed = False

    Gst.init(None)
    pipeline = build(args)
    pad = pipeline.get_by_name("segment").get_static_pad("sink")
    pad.add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM,
                  on_probe)
    loop = GLib.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message, loop, args)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    finally:
        pipeline.set_state(Gst.State.NULL)
        bus.remove_signal_watch()
    return 1 if args.failed else 0


if __name__ == "__main__":
    sys.exit(main())
