// ONNX Runtime (onnxruntime-node, CPU EP) throughput of one exported CLIP tower.
//
// Adapted from shared/bench/bench_ort.js (adds --res and --warmup; no --check).
//   NODE_PATH=/tmp/ort/node_modules node bench_ort.js --model DIR/vision.onnx \
//       --batch 8 --threads 2 [--res 224] [--reps 3] [--warmup 1] [--min-time 3]
// intraOpNumThreads = --threads, interOpNumThreads = 1, graphOptimizationLevel
// 'all', sequential execution. Prints one RESULT line: median throughput over the
// timed calls (at least --reps, more until --min-time s have passed, at most 100).
// Text input: 77 tokens (SOT, 10 ids, EOT, zero padding), like the PyTorch peer.
'use strict';
const path = require('path');
const ort = require('onnxruntime-node');

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i < 0 || process.argv[i + 1] === undefined ? def : process.argv[i + 1];
}

const modelPath = arg('model', '/tmp/clip_onnx/vision.onnx');
const batch = parseInt(arg('batch', '1'));
const threads = parseInt(arg('threads', '2'));
const res = parseInt(arg('res', '224'));
const reps = parseInt(arg('reps', '3'));
const warmup = parseInt(arg('warmup', '1'));
const minTime = parseFloat(arg('min-time', '3'));
const isText = path.basename(modelPath).startsWith('text');

function makeInput(b) {
  if (isText) {
    const ids = new BigInt64Array(b * 77);
    for (let i = 0; i < b; i++) {
      ids[i * 77] = 49406n;
      for (let j = 1; j < 11; j++) ids[i * 77 + j] = BigInt(1 + ((i * 131 + j * 977) % 49000));
      ids[i * 77 + 11] = 49407n;
    }
    return { ids: new ort.Tensor('int64', ids, [b, 77]) };
  }
  const x = new Float32Array(b * 3 * res * res);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.001);
  return { image: new ort.Tensor('float32', x, [b, 3, res, res]) };
}

async function main() {
  const sess = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = makeInput(batch);
  for (let i = 0; i < warmup; i++) await sess.run(feeds);
  const times = [];
  const start = performance.now();
  while (times.length < reps || (performance.now() - start < minTime * 1000 && times.length < 100)) {
    const s = performance.now();
    await sess.run(feeds);
    times.push((performance.now() - s) / 1000);
  }
  times.sort((a, b) => a - b);
  const n = times.length;
  const med = n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
  const unit = isText ? 'prompt' : 'img';
  console.log(`RESULT ort ${ort.env.versions.common || ''} model=${path.basename(modelPath)} ` +
    `threads=${threads} batch=${batch} ${unit}_per_s=${(batch / med).toFixed(3)} ` +
    `ms_per_batch=${(med * 1e3).toFixed(2)} ms_per_batch_min=${(times[0] * 1e3).toFixed(2)} iterations=${n}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
