"""test-clippublish.py: clippublish against a real mosquitto broker.

Starts mosquitto on 127.0.0.1 (a free port, persistence on, so a
subscriber's session outlives the broker), a mosquitto_sub with a persistent
session, and a live pipeline that writes clipjson's lines to a file and
publishes the same records with qos=2 (exactly once: the subscriber
and the publisher have persistent sessions) and a small buffer. The broker is
stopped a second into the stream and started again 0.5 s later
(clippublish's first retry comes 1 s after the loss). Then the
messages received must be the JSON lines written, in order, minus exactly
as many as clippublish reported dropped, and records = published + dropped.
Then TLS: a broker that requires a client certificate gets every record
from clippublish with tls-ca-file/-cert-file/-key-file, and none when the
CA does not match (all reported dropped).
Every process the test starts is stopped by its PID, whatever happens.
Exit 77 (skipped) when mosquitto or mosquitto_sub is not installed.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

TOPIC = "gst-clip/test"
SUB_ID = "clip-test-sub"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not listen on port %d" % port)


def stop(proc):
    """Stops one process we started, by its PID."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


class Broker:
    def __init__(self, workdir, port, extra=""):
        self.port = port
        self.conf = os.path.join(workdir, "mosquitto.conf")
        self.log = open(os.path.join(workdir, "mosquitto.log"), "a")
        with open(self.conf, "w") as f:
            # as root mosquitto would run as user "mosquitto", which
            # cannot save the sessions in our directory
            f.write("listener %d 127.0.0.1\nallow_anonymous true\n"
                    "persistence true\npersistence_location %s/\nuser %s\n"
                    % (port, workdir, pwd.getpwuid(os.getuid()).pw_name)
                    + extra)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf],
                                     stdout=self.log, stderr=self.log)
        wait_port(self.port)

    def stop(self):
        stop(self.proc)  # SIGTERM: mosquitto saves its sessions
        self.proc = None


def sub_cmd(port, extra, host="127.0.0.1"):
    return ["mosquitto_sub", "-h", host, "-p", str(port), "-t", TOPIC,
            "-q", "2", "-c", "-i", SUB_ID] + extra


def run_pipeline(port, jsonl, broker):
    model = os.environ["CLIP_TEST_MODEL"]
    desc = ("videotestsrc is-live=true num-buffers=50 pattern=ball ! "
            "video/x-raw,width=160,height=120,framerate=10/1 ! videoconvert ! "
            "clipclassify model=\"%s\" labels=\"a ball,bars,noise\" threads=2 ! "
            "clipsegment min-duration=0 ! clipjson location=\"%s\" ! "
            "clippublish name=pub host=127.0.0.1 port=%d topic=%s qos=2 "
            "client-id=clip-test-pub max-buffered=5 drain-timeout=30 ! "
            "fakesink sync=true" % (model, jsonl, port, TOPIC))
    pipeline = Gst.parse_launch(desc)
    bus = pipeline.get_bus()
    stats = {}

    def restart():
        time.sleep(1.0)
        broker.stop()
        print("broker stopped", file=sys.stderr)
        time.sleep(0.5)
        broker.start()
        print("broker started again", file=sys.stderr)

    pipeline.set_state(Gst.State.PLAYING)
    restarter = threading.Thread(target=restart)
    restarter.start()
    try:
        while True:
            msg = bus.timed_pop_filtered(
                60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
                | Gst.MessageType.ELEMENT)
            if msg is None:
                raise RuntimeError("the pipeline did not end within 60 s")
            if msg.type == Gst.MessageType.ERROR:
                raise RuntimeError("pipeline error: %s" % msg.parse_error()[0])
            if msg.type == Gst.MessageType.ELEMENT:
                s = msg.get_structure()
                if s.get_name() == "clip-publish-stats":
                    stats = {k: s.get_value(k) for k in
                             ("records", "published", "dropped")}
                continue
            break
        pub = pipeline.get_by_name("pub")
        props = (pub.get_property("published"), pub.get_property("dropped"))
    finally:
        restarter.join()
        pipeline.set_state(Gst.State.NULL)
    return stats, props


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    """A CA, and a server (localhost) and a client certificate it signs;
    a second CA that signs nothing of ours."""
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-keyout", ca + ".key", "-out", ca + ".crt",
                "-subj", "/CN=gst-clip test " + ca, cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                name + ".key", "-out", name + ".csr", "-subj",
                "/CN=localhost", cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt",
                "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
                "-extfile", "san.ext", "-out", name + ".crt", cwd=d)


def run_tls(port, jsonl, d, ca):
    """A short stream through clippublish over TLS with a client
    certificate; returns its stats."""
    model = os.environ["CLIP_TEST_MODEL"]
    desc = ("videotestsrc num-buffers=10 pattern=ball ! "
            "video/x-raw,width=160,height=120,framerate=10/1 ! videoconvert ! "
            "clipclassify model=\"%s\" labels=\"a ball,bars\" threads=2 ! "
            "clipjson location=\"%s\" ! clippublish host=localhost port=%d "
            "topic=%s qos=1 tls-ca-file=\"%s\" tls-cert-file=\"%s\" "
            "tls-key-file=\"%s\" drain-timeout=3 ! fakesink"
            % (model, jsonl, port, TOPIC, os.path.join(d, ca),
               os.path.join(d, "client.crt"), os.path.join(d, "client.key")))
    pipeline = Gst.parse_launch(desc)
    bus = pipeline.get_bus()
    stats = None
    pipeline.set_state(Gst.State.PLAYING)
    try:
        while True:
            msg = bus.timed_pop_filtered(
                60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
                | Gst.MessageType.ELEMENT)
            if msg is None or msg.type == Gst.MessageType.ERROR:
                raise RuntimeError("TLS pipeline: %s" % (
                    msg.parse_error()[0] if msg else "no EOS in 60 s"))
            if msg.type == Gst.MessageType.EOS:
                return stats
            s = msg.get_structure()
            if s.get_name() == "clip-publish-stats":
                stats = {k: s.get_value(k) for k in
                         ("records", "published", "dropped")}
    finally:
        pipeline.set_state(Gst.State.NULL)


def test_tls():
    """TLS with a client certificate: every record arrives; with a CA that
    did not sign the broker's certificate none does, and all are reported
    dropped."""
    if shutil.which("openssl") is None:
        print("tls: skipped, no openssl", file=sys.stderr)
        return True
    d = tempfile.mkdtemp(prefix="clip-mqtt-tls-")
    broker = sub = None
    try:
        make_certs(d)
        port = free_port()
        broker = Broker(d, port, "cafile %s/ca.crt\ncertfile %s/server.crt\n"
                        "keyfile %s/server.key\nrequire_certificate true\n"
                        % (d, d, d))
        broker.start()
        tls = ["--cafile", os.path.join(d, "ca.crt"), "--cert",
               os.path.join(d, "client.crt"), "--key",
               os.path.join(d, "client.key")]
        subprocess.run(sub_cmd(port, tls + ["-E"], "localhost"), check=True,
                       timeout=10)
        received_path = os.path.join(d, "received.txt")
        out = open(received_path, "w")
        sub = subprocess.Popen(sub_cmd(port, tls, "localhost"), stdout=out,
                               stderr=subprocess.DEVNULL)
        jsonl = os.path.join(d, "written.jsonl")
        good = run_tls(port, jsonl, d, "ca.crt")
        with open(jsonl) as f:
            written = f.read().splitlines()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(received_path) as f:
                if len(f.read().splitlines()) >= len(written):
                    break
            time.sleep(0.1)
        stop(sub)
        sub = None
        with open(received_path) as f:
            received = f.read().splitlines()
        bad = run_tls(port, os.path.join(d, "bad.jsonl"), d, "other-ca.crt")
        print("tls: %s, received %d of %d; wrong CA: %s" % (
            good, len(received), len(written), bad), file=sys.stderr)
        ok = (received == written and good["dropped"] == 0
              and good["published"] == len(written)
              and bad["published"] == 0 and bad["dropped"] == bad["records"]
              and bad["records"] > 0)
        if not ok:
            print("FAIL: TLS", file=sys.stderr)
        return ok
    finally:
        stop(sub)
        if broker:
            broker.stop()
        shutil.rmtree(d, ignore_errors=True)


def main():
    for tool in ("mosquitto", "mosquitto_sub"):
        if shutil.which(tool) is None:
            print("SKIP: %s is not installed (apt-get install mosquitto "
                  "mosquitto-clients)" % tool, file=sys.stderr)
            return 77
    Gst.init(None)
    if Gst.ElementFactory.find("clippublish") is None:
        print("FAIL: no clippublish element (built without libmosquitto?)",
              file=sys.stderr)
        return 1

    workdir = tempfile.mkdtemp(prefix="clip-mqtt-")
    port = free_port()
    broker = Broker(workdir, port)
    sub = None
    received_path = os.path.join(workdir, "received.txt")
    jsonl = os.path.join(workdir, "written.jsonl")
    try:
        broker.start()
        # the subscriber's session exists before the first record
        subprocess.run(sub_cmd(port, ["-E"]), check=True, timeout=10)
        out = open(received_path, "w")
        sub = subprocess.Popen(sub_cmd(port, []), stdout=out,
                               stderr=subprocess.DEVNULL)
        stats, props = run_pipeline(port, jsonl, broker)
        print("stats %s, properties published/dropped %s" % (stats, props),
              file=sys.stderr)

        with open(jsonl) as f:
            written = f.read().splitlines()
        expected = len(written) - stats["dropped"]
        # mosquitto_sub reconnects by itself; if it gave up, its session
        # on the broker still holds what it missed
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(received_path) as f:
                n = len(f.read().splitlines())
            if n >= expected:
                break
            if sub.poll() is not None:
                print("mosquitto_sub ended: started again", file=sys.stderr)
                sub = subprocess.Popen(sub_cmd(port, []), stdout=out,
                                       stderr=subprocess.DEVNULL)
            time.sleep(0.2)
        time.sleep(0.5)  # anything beyond the expected count arrives too
        stop(sub)
        sub = None
        with open(received_path) as f:
            received = f.read().splitlines()

        print("written %d, received %d, dropped %d" % (
            len(written), len(received), stats["dropped"]), file=sys.stderr)
        ok = True
        if stats["records"] != len(written):
            print("FAIL: %d records, %d lines written" % (
                stats["records"], len(written)), file=sys.stderr)
            ok = False
        if stats["published"] + stats["dropped"] != stats["records"]:
            print("FAIL: published + dropped != records", file=sys.stderr)
            ok = False
        if (stats["published"], stats["dropped"]) != props:
            print("FAIL: message and properties disagree", file=sys.stderr)
            ok = False
        if stats["dropped"] == 0:
            print("FAIL: nothing dropped: the restart did not test the buffer",
                  file=sys.stderr)
            ok = False
        # received: the written lines in order, minus the dropped ones
        it = iter(written)
        if len(received) != expected or not all(r in it for r in received):
            print("FAIL: the messages received are not the lines written "
                  "minus %d" % stats["dropped"], file=sys.stderr)
            for i, line in enumerate(written):
                print("%s %2d %s" % ("+" if line in received else "-", i,
                                     line[:60]), file=sys.stderr)
            ok = False
        ok = test_tls() and ok
        return 0 if ok else 1
    finally:
        stop(sub)
        broker.stop()
        if os.environ.get("CLIP_TEST_KEEP"):
            print("kept %s" % workdir, file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
