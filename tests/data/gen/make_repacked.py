#!/usr/bin/python3
"""make_repacked.py - existing fixtures re-packed the way other tools write
them, for the readers' tests; the tensors stay byte for byte the same.

* gen/vision-only-sharded/: gen/vision-only's model.safetensors split into 3
  shards + model.safetensors.index.json, as transformers' save_pretrained
  (max_shard_size) writes them: greedy in state-dict order.
* gen/vision-only-bin-sharded/: gen/vision-only-bin's pytorch_model.bin split
  the same way by torch.save into pytorch_model-0000k-of-00003.bin +
  pytorch_model.bin.index.json (save_pretrained(safe_serialization=False)).
  Both share vision-only's reference (a symlink).
* torch-zip/deflated.bin: torch-zip/state_dict.bin with every entry deflated
  (as zip -r or Python's zipfile re-write it), and broken variants of it:
  deflate-corrupt.bin (a reserved block type at the start of data.pkl's
  stream), deflate-size-short.bin / deflate-size-long.bin (data.pkl's
  uncompressed size 1 less / 1 more than the truth, central directory and
  local header), deflate-bad-crc.bin (data.pkl's CRC-32 off by one),
  deflate-bomb.bin (a storage entry claiming 3 GB from its few deflated
  bytes) and bzip2.bin (data.pkl compressed with method 12). Also copied to
  tests/fuzz/corpus/torch-zip/.

  /usr/bin/python3 tests/data/gen/make_repacked.py   (after make_adapters.py)
"""
import json
import os
import shutil
import struct
import zipfile
from collections import OrderedDict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)
N_SHARDS = 3


def split(names, sizes, n):
    """Greedy in order: a new shard when the current one would pass total/n."""
    limit = sum(sizes) / n
    groups, cur, size = [], [], 0
    for name, s in zip(names, sizes):
        if cur and size + s > limit and len(groups) < n - 1:
            groups.append(cur)
            cur, size = [], 0
        cur.append(name)
        size += s
    groups.append(cur)
    assert len(groups) == n
    return groups


def fresh_dir(name, like):
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for f in ("config.json", "preprocessor_config.json", "reference"):
        os.symlink(os.path.join("..", like, f), os.path.join(d, f))
    return d


def write_index(d, name, groups, shard_name, total):
    weight_map = {t: shard_name(k) for k, g in enumerate(groups) for t in g}
    with open(os.path.join(d, name), "w") as f:
        json.dump({"metadata": {"total_size": total},
                   "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
        f.write("\n")


def shard_safetensors():
    src = os.path.join(HERE, "vision-only", "model.safetensors")
    blob = open(src, "rb").read()
    (hlen,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + hlen])
    meta = header.pop("__metadata__", None)
    data = blob[8 + hlen:]
    names = list(header)
    sizes = [header[t]["data_offsets"][1] - header[t]["data_offsets"][0] for t in names]
    groups = split(names, sizes, N_SHARDS)
    d = fresh_dir("vision-only-sharded", "vision-only")
    shard_name = "model-{:05d}-of-{:05d}.safetensors".format
    for k, g in enumerate(groups):
        h, raw, off = {"__metadata__": meta} if meta else {}, b"", 0
        for t in g:
            b, e = header[t]["data_offsets"]
            h[t] = dict(header[t], data_offsets=[off, off + e - b])
            raw += data[b:e]
            off += e - b
        hb = json.dumps(h, separators=(",", ":")).encode()
        hb += b" " * ((-len(hb)) % 8)
        with open(os.path.join(d, shard_name(k + 1, N_SHARDS)), "wb") as f:
            f.write(struct.pack("<Q", len(hb)) + hb + raw)
    write_index(d, "model.safetensors.index.json", groups,
                lambda k: shard_name(k + 1, N_SHARDS), sum(sizes))


def shard_bin():
    sd = torch.load(os.path.join(HERE, "vision-only-bin", "pytorch_model.bin"))
    names = list(sd)
    sizes = [sd[t].numel() * sd[t].element_size() for t in names]
    groups = split(names, sizes, N_SHARDS)
    d = fresh_dir("vision-only-bin-sharded", "vision-only")
    shard_name = "pytorch_model-{:05d}-of-{:05d}.bin".format
    for k, g in enumerate(groups):
        torch.save(OrderedDict((t, sd[t]) for t in g),
                   os.path.join(d, shard_name(k + 1, N_SHARDS)))
    write_index(d, "pytorch_model.bin.index.json", groups,
                lambda k: shard_name(k + 1, N_SHARDS), sum(sizes))


def rezip(src, dst, method=zipfile.ZIP_DEFLATED, only=None):
    """Every entry (or those ending in only) re-written with method."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            m = method if only is None or info.filename.endswith(only) else zipfile.ZIP_STORED
            zout.writestr(zipfile.ZipInfo(info.filename, info.date_time),
                          zin.read(info.filename), compress_type=m)


def entries(blob):
    """{name: (central directory offset, local header offset)}."""
    (cd_off,) = struct.unpack_from("<I", blob, blob.rindex(b"PK\x05\x06") + 16)
    out, p = {}, cd_off
    while blob[p:p + 4] == b"PK\x01\x02":
        nlen, xlen, clen = struct.unpack_from("<HHH", blob, p + 28)
        (lho,) = struct.unpack_from("<I", blob, p + 42)
        out[blob[p + 46:p + 46 + nlen].decode()] = (p, lho)
        p += 46 + nlen + xlen + clen
    return out


def patch(blob, name, field, fn):
    """Applies fn to a 4-byte field (crc 16 / csize 20 / usize 24 in the
    central directory; 14 / 18 / 22 in the local header) of entry name."""
    b = bytearray(blob)
    cd, lh = entries(blob)[name]
    for at in (cd + field, lh + field - 2):
        (v,) = struct.unpack_from("<I", b, at)
        struct.pack_into("<I", b, at, fn(v))
    return bytes(b)


def deflated():
    tz = os.path.join(DATA, "torch-zip")
    src = os.path.join(tz, "state_dict.bin")
    good = os.path.join(tz, "deflated.bin")
    rezip(src, good)
    blob = open(good, "rb").read()
    pkl = next(n for n in entries(blob) if n.endswith("/data.pkl"))
    storage = next(n for n in entries(blob) if "/data/" in n)
    out = {
        "deflate-size-short.bin": patch(blob, pkl, 24, lambda v: v - 1),
        "deflate-size-long.bin": patch(blob, pkl, 24, lambda v: v + 1),
        "deflate-bad-crc.bin": patch(blob, pkl, 16, lambda v: v ^ 1),
        "deflate-bomb.bin": patch(blob, storage, 24, lambda v: 3000000000),
    }
    # the first byte of a raw deflate stream: BFINAL + BTYPE 11 (reserved)
    b = bytearray(blob)
    _, lh = entries(blob)[pkl]
    nlen, xlen = struct.unpack_from("<HH", b, lh + 26)
    b[lh + 30 + nlen + xlen] = 0x07
    out["deflate-corrupt.bin"] = bytes(b)
    for name, data in out.items():
        with open(os.path.join(tz, name), "wb") as f:
            f.write(data)
    rezip(src, os.path.join(tz, "bzip2.bin"), zipfile.ZIP_BZIP2, "/data.pkl")
    corpus = os.path.join(DATA, "..", "fuzz", "corpus", "torch-zip")
    for name in ["deflated.bin", "bzip2.bin"] + list(out):
        shutil.copy(os.path.join(tz, name), corpus)
    # the tensors are the same
    a, b = torch.load(src), torch.load(good)
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


if __name__ == "__main__":
    shard_safetensors()
    shard_bin()
    deflated()
