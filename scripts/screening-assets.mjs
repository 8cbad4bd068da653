#!/usr/bin/env node
// Writes the video screening's runtime and model into public/screening/ (gitignored), from
// the npm packages pinned in tools/package-lock.json, so the site serves them itself:
//
//   tf.<hash>.js              TensorFlow.js (@tensorflow/tfjs, tf.min.js: the CPU and WebGL backends)
//   tf-backend-wasm.<hash>.js its WebAssembly backend (@tensorflow/tfjs-backend-wasm) and the
//   tfjs-backend-wasm*.<hash>.wasm  binaries it picks from by what the browser supports
//   model.<hash>.json         nsfwjs' MobileNetV2 model (npm `nsfwjs`), unwrapped from the
//   weights.<hash>.bin        JavaScript the package ships it in into TensorFlow.js' own format
//   worker.<hash>.js          the hand-written worker (src/client/screening/worker.js)
//   manifest.json             the names above, read by the server at start
//
// Each name carries the first 16 hex digits of its content's SHA-256, so browsers may cache
// it for a year (the server marks them immutable). cargo-leptos copies public/ into the site
// and --precompress writes their brotli and gzip copies. Run by scripts/setup.sh and
// `make build`; it rewrites only what changed, so running it again is cheap.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(root, "tools", "package.json"));
const out = path.join(root, "public", "screening");
// Straight from tools/node_modules: some packages export no `package.json` to resolve.
const pkg = (name) => path.join(root, "tools", "node_modules", name);

const hashed = (base, ext, bytes) =>
  `${base}.${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}.${ext}`;

fs.mkdirSync(out, { recursive: true });
const written = new Set(["manifest.json"]);
function emit(base, ext, bytes) {
  const name = hashed(base, ext, bytes);
  const file = path.join(out, name);
  if (!fs.existsSync(file)) fs.writeFileSync(file, bytes);
  written.add(name);
  return name;
}

const tfjs = pkg("@tensorflow/tfjs");
const wasmBackend = pkg("@tensorflow/tfjs-backend-wasm");
const nsfwjs = pkg("nsfwjs");

// The model: nsfwjs ships it as UMD modules exporting the model's JSON and its weights in
// base64; served as the binary TensorFlow.js loads, the weights are a quarter smaller.
const modelDir = path.join(nsfwjs, "dist", "models", "mobilenet_v2");
const modelJson = require(path.join(modelDir, "model.min.js"));
const model = typeof modelJson === "string" ? JSON.parse(modelJson) : modelJson;
const shards = model.weightsManifest.flatMap((group) => group.paths);
const weights = Buffer.concat(
  shards.map((shard) => Buffer.from(require(path.join(modelDir, `${shard}.min.js`)), "base64")),
);
const weightsName = emit("weights", "bin", weights);
model.weightsManifest = [
  {
    paths: [weightsName],
    weights: model.weightsManifest.flatMap((group) => group.weights),
  },
];

const read = (...parts) => fs.readFileSync(path.join(...parts));
const manifest = {
  tf: emit("tf", "js", read(tfjs, "dist", "tf.min.js")),
  wasmBackend: emit("tf-backend-wasm", "js", read(wasmBackend, "dist", "tf-backend-wasm.min.js")),
  wasm: Object.fromEntries(
    ["tfjs-backend-wasm", "tfjs-backend-wasm-simd", "tfjs-backend-wasm-threaded-simd"].map(
      (base) => [`${base}.wasm`, emit(base, "wasm", read(wasmBackend, "dist", `${base}.wasm`))],
    ),
  ),
  model: emit("model", "json", Buffer.from(JSON.stringify(model))),
  worker: emit("worker", "js", read(root, "src", "client", "screening", "worker.js")),
};
const manifestText = JSON.stringify(manifest, null, 2) + "\n";
const manifestFile = path.join(out, "manifest.json");
if (!fs.existsSync(manifestFile) || fs.readFileSync(manifestFile, "utf8") !== manifestText) {
  fs.writeFileSync(manifestFile, manifestText);
}
// Older versions' files go, so the site does not grow with every upgrade.
for (const name of fs.readdirSync(out)) {
  if (!written.has(name)) fs.rmSync(path.join(out, name));
}
console.log(`screening assets in ${path.relative(root, out)}: ${[...written].join(", ")}`);
