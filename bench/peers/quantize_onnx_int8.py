"""An exported tower dynamically quantized to int8, with Debian's python3-onnx only
(no onnxruntime Python package): ONNX Runtime's int8 peer in bench/run-peers.sh.

  python3 quantize_onnx_int8.py IN.onnx OUT.onnx

Every MatMul whose second input is a 2-D float initializer (the Linear layers;
attention's activation x activation products and the patch Conv stay fp32)
becomes the pattern onnxruntime.quantization.quantize_dynamic writes, which ONNX
Runtime (graph optimization 'all', CPU EP) fuses into DynamicQuantizeMatMul
(its U8S8 kernels: AVX512-VNNI, AMX):

    X -> DynamicQuantizeLinear -> (Xq u8, xs, xzp)         once per distinct X
    MatMulInteger(Xq, Wq, xzp, 0) -> Cast(float) -> Mul(., xs * ws)

Weights: symmetric int8 per output column (zero point 0, scale max|w| / 127),
the scheme of our own int8 (engine/ops/quantized.h); activations: per tensor,
asymmetric u8 (ONNX's DynamicQuantizeLinear). Prints one RESULT line.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def quantize_weight(w):
    """w: (K, N) float32 -> (int8 (K, N), per-column scales (N), zero points (N))."""
    amax = np.maximum(np.abs(w).max(axis=0), 1e-12)
    scale = (amax / 127.0).astype(np.float32)
    wq = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
    return wq, scale, np.zeros_like(scale, dtype=np.int8)


def safe_name(name):
    return name.replace("/", "_").strip("_")


def quantize(model):
    """Rewrites model's graph in place; returns (matmuls quantized, mean relative weight error)."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    nodes, new_inits, quantized_x, replaced = [], [], {}, set()
    err = 0.0
    for n in g.node:
        w_name = n.input[1] if n.op_type == "MatMul" else None
        w_init = inits.get(w_name)
        if w_init is None or len(w_init.dims) != 2 or w_init.data_type != TensorProto.FLOAT:
            nodes.append(n)
            continue
        w = numpy_helper.to_array(w_init).astype(np.float32)
        wq, ws, wzp = quantize_weight(w)
        err += float(np.linalg.norm(wq.astype(np.float32) * ws - w) / np.linalg.norm(w))
        x = n.input[0]
        if x not in quantized_x:
            base = safe_name(x)
            quantized_x[x] = (base + "_q", base + "_scale", base + "_zp")
            nodes.append(helper.make_node("DynamicQuantizeLinear", [x], list(quantized_x[x]),
                                          name=base + "_DQL"))
        xq, xs, xzp = quantized_x[x]
        name = safe_name(n.name) or safe_name(w_name)
        wq_name, ws_name, wzp_name = (w_name + "_quantized", w_name + "_scale",
                                      w_name + "_zero_point")
        new_inits += [numpy_helper.from_array(wq, wq_name), numpy_helper.from_array(ws, ws_name),
                      numpy_helper.from_array(wzp, wzp_name)]
        replaced.add(w_name)
        nodes += [
            helper.make_node("MatMulInteger", [xq, wq_name, xzp, wzp_name], [name + "_i32"],
                             name=name + "_MatMulInteger"),
            helper.make_node("Mul", [xs, ws_name], [name + "_scales"], name=name + "_scales"),
            helper.make_node("Cast", [name + "_i32"], [name + "_f32"], name=name + "_cast",
                             to=TensorProto.FLOAT),
            helper.make_node("Mul", [name + "_f32", name + "_scales"], [n.output[0]],
                             name=name + "_rescale"),
        ]
    # a weight another node still reads as float stays
    still_read = {i for n in nodes for i in n.input}
    keep = [i for i in g.initializer if i.name not in replaced or i.name in still_read]
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    return len(replaced), err / max(len(replaced), 1)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = sys.argv[1], sys.argv[2]
    model = onnx.load(src)
    n, err = quantize(model)
    onnx.checker.check_model(model)  # MatMulInteger needs opset >= 10; the export is 14
    onnx.save(model, dst)
    print("RESULT quantize %s -> %s matmuls=%d weights=s8-per-column mean_rel_weight_err=%.4f "
          "size_MB=%.1f" % (os.path.basename(src), dst, n, err, os.path.getsize(dst) / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
