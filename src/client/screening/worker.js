// The video screening's worker: runs nsfwjs' MobileNetV2 model with TensorFlow.js off the
// page's main thread, so video and chat stay smooth while a frame is classified.
//
// Messages from the page (src/client/screening.rs):
//   {type: "load", files: {tf, wasmBackend, wasm: {name: url}, model}}  load runtime and model
//   {type: "frame", bitmap}       classify this ImageBitmap (224x224, transferred)
// Messages to the page:
//   {type: "ready", backend, ms}  the model is loaded and warmed up (ms: the time it took)
//   {type: "failed", error}       it could not be loaded; no verdict will ever come
//   {type: "verdict", probabilities: [Drawing, Hentai, Neutral, Porn, Sexy], ms}
// (Times are strings, formatted here: formatting floats in Rust would grow the page's wasm.)
//
// Every file comes from this site (the page passes the content-hashed names the server read
// from public/screening/manifest.json); nothing is fetched from anywhere else. No frame ever
// leaves this worker.
"use strict";

const SIZE = 224;
let model = null;
let failed = false;

self.onmessage = (event) => {
  const message = event.data;
  if (message.type === "load") {
    load(message.files);
  } else if (message.type === "frame") {
    classify(message.bitmap);
  }
};

async function load(files) {
  const started = performance.now();
  try {
    // TensorFlow.js' bundled regenerator runtime assigns the global `regeneratorRuntime`; in
    // strict code that fails unless the global exists, and its fallback evaluates a string,
    // which this worker's Content-Security-Policy (no 'unsafe-eval') refuses. So it exists.
    self.regeneratorRuntime = undefined;
    importScripts(files.tf);
    tf.enableProdMode();
    // The WebAssembly backend first: on a machine without a GPU it is several times faster
    // than WebGL on a software renderer and than plain JavaScript (docs/BENCHMARKS.md,
    // "Video screening"); WebGL, then the CPU backend, where WebAssembly is refused.
    importScripts(files.wasmBackend);
    tf.wasm.setWasmPaths(files.wasm);
    let backend = null;
    for (const name of ["wasm", "webgl", "cpu"]) {
      try {
        if (await tf.setBackend(name)) {
          backend = name;
          break;
        }
      } catch (e) {
        console.warn(`screening: backend ${name} unavailable: ${e}`);
      }
    }
    if (!backend) throw new Error("no TensorFlow.js backend works here");
    model = await tf.loadLayersModel(files.model);
    // The first prediction compiles the kernels; done now, the first frame's verdict is quick.
    const warm = tf.tidy(() => model.predict(tf.zeros([1, SIZE, SIZE, 3])));
    await warm.data();
    warm.dispose();
    self.postMessage({ type: "ready", backend, ms: (performance.now() - started).toFixed(0) });
  } catch (e) {
    failed = true;
    self.postMessage({ type: "failed", error: String((e && e.message) || e) });
  }
}

// As nsfwjs' `infer`: pixels scaled to 0..1, resized to 224x224 if they are not, one batch.
async function classify(bitmap) {
  if (!model || failed) {
    bitmap.close();
    return;
  }
  const started = performance.now();
  try {
    const output = tf.tidy(() => {
      const pixels = tf.browser.fromPixels(bitmap).toFloat().div(255);
      const sized =
        pixels.shape[0] === SIZE && pixels.shape[1] === SIZE
          ? pixels
          : tf.image.resizeBilinear(pixels, [SIZE, SIZE], true);
      return model.predict(sized.reshape([1, SIZE, SIZE, 3]));
    });
    const probabilities = Array.from(await output.data());
    output.dispose();
    self.postMessage({ type: "verdict", probabilities, ms: (performance.now() - started).toFixed(1) });
  } catch (e) {
    self.postMessage({ type: "failed", error: String((e && e.message) || e) });
  } finally {
    bitmap.close();
  }
}
