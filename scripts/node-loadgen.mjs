#!/usr/bin/env node
// A second load generator, in Node.js with the `ws` package (tools/package.json): the kind of
// independent client issue 13 measured duet with. `make bench` runs it beside the Rust one
// (examples/loadgen.rs) as a cross-check: a number both agree on is the server's, not an
// artefact of one client. It speaks the protocol as plainly as a newcomer's script would: one
// process, one thread, JSON.parse on every message.
//
//   node scripts/node-loadgen.mjs relay --url ws://HOST/ws [--pairs 500] [--idle 9000]
//        [--seconds 10] [--rate MSGS_PER_S] [--window 16] [--server-pid PID]
//     Opens --idle sockets that stay in the lobby, matches --pairs pairs, and has both sides
//     of every pair send SDP-sized (~3 KB) offers to each other: as fast as they are delivered
//     with --window in flight per sender, or at --rate in all. Prints messages a second, the
//     p50/p99 from send to delivery, and the CPU per message of the server and of itself.
//   node scripts/node-loadgen.mjs crowd --url ws://HOST/ws [--clients 10000] [--rate 1000]
//     Opens --clients sockets at --rate a second; each presses Call on its greeting. Prints
//     the handshake's and the time to match's percentiles (from opening the socket).
//   node scripts/node-loadgen.mjs null-server --port PORT
//     A server that does nothing but greet and pair: run `crowd` against it to see the
//     client's own floor (Node's event loop and garbage collector), which `crowd` against
//     duet cannot go below.
//
// The server must not ask for a proof of work (DUET_POW_BITS=0, as `make bench` starts it).
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { WebSocket, WebSocketServer } = createRequire(path.join(root, "tools", "package.json"))("ws");

const [mode, ...rest] = process.argv.slice(2);
const flags = {};
for (let i = 0; i < rest.length; i += 2) {
  if (!rest[i].startsWith("--") || rest[i + 1] === undefined) fail(`expected --flag value, got ${rest[i]}`);
  flags[rest[i].slice(2)] = rest[i + 1];
}
const num = (name, fallback) => {
  const v = flags[name] === undefined ? fallback : Number(flags[name]);
  if (!Number.isFinite(v) || v < 0) fail(`--${name} must be a number`);
  return v;
};

function fail(why) {
  console.error(`node-loadgen: ${why}`);
  process.exit(1);
}

/** Microseconds on a monotonic clock. */
const micros = () => Number(process.hrtime.bigint() / 1000n);

/** Seconds of CPU a process has used (utime + stime, in USER_HZ: 100 a second on Linux). */
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The p-quantile of sorted samples, or "none" without any. */
const quantile = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : "none";
const ms = (us) => (us === "none" ? us : (us / 1000).toFixed(3));

/**
 * A socket with no compression (duet offers none). From one source address: the 28,000 ports
 * it has hold either run's 10,000 sockets, and the kernel may take a port again that an
 * earlier run left in TIME_WAIT only when it picks the port at connect. Binding a source
 * address first makes it pick at bind, among ports free of any use, which after a few runs
 * of tens of thousands of sockets takes seconds (examples/loadgen.rs, `port_at_connect`).
 */
function connect(url) {
  return new WebSocket(url, { perMessageDeflate: false });
}

/** Opens a socket and waits for its greeting, the online count. */
function greeted(url) {
  return new Promise((resolve, reject) => {
    const ws = connect(url);
    ws.once("error", reject);
    ws.once("message", (data) => {
      const msg = JSON.parse(data);
      if (msg.type !== "online") reject(new Error(`expected the online count first, got ${msg.type} (is DUET_POW_BITS=0?)`));
      else resolve(ws);
    });
  });
}

/** The next message of `type` on `ws`. */
function next(ws, type) {
  return new Promise((resolve) => {
    const on = (data) => {
      const msg = JSON.parse(data);
      if (msg.type === type) {
        ws.off("message", on);
        resolve(msg);
      }
    };
    ws.on("message", on);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function relay() {
  const url = flags.url ?? fail("--url is required");
  const pairs = num("pairs", 500), idle = num("idle", 9000), seconds = num("seconds", 10);
  const window = num("window", 16), rate = flags.rate === undefined ? null : num("rate");
  const serverPid = flags["server-pid"];
  for (let i = 0; i < idle; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, idle - i) }, () => greeted(url)));
  }
  const sides = [];
  for (let i = 0; i < pairs; i++) {
    const [a, b] = [await greeted(url), await greeted(url)];
    const [matchedA, searching] = [next(a, "matched"), next(a, "searching")];
    a.send('{"type":"call"}');
    await searching;
    const matchedB = next(b, "matched");
    b.send('{"type":"call"}');
    const [ma, mb] = await Promise.all([matchedA, matchedB]);
    sides.push({ ws: a, callId: ma.call_id, sent: 0, delivered: 0 });
    sides.push({ ws: b, callId: mb.call_id, sent: 0, delivered: 0 });
  }
  console.error(`node relay: ${idle} idle sockets, ${pairs} pairs matched; sending ${rate ? `${rate}/s` : "as fast as delivered"}`);

  // An offer's SDP starts with its send time (20 digits of microseconds), as the Rust load
  // generator's does; the rest pads it to the size of a real one.
  const padding = JSON.stringify("a=x-padding-to-a-realistic-sdp-size\r\n".repeat(80)).slice(1, -1);
  const send = (side) => {
    side.sent++;
    side.ws.send(`{"type":"offer","call_id":${JSON.stringify(side.callId)},"sdp":"${String(micros()).padStart(20, "0")}${padding}"}`);
  };
  let counting = false;
  const latencies = [];
  sides.forEach((side, i) => {
    // Sides come in pairs (0,1), (2,3), …: side i receives what side i^1 sends.
    const partner = sides[i ^ 1];
    side.ws.on("message", (data) => {
      const head = data.toString("latin1", 0, 120);
      const at = head.indexOf('"sdp":"');
      if (at < 0) return;
      partner.delivered++;
      if (counting) latencies.push(micros() - Number(head.slice(at + 7, at + 27)));
      if (rate === null && partner.sent - partner.delivered < window) send(partner);
    });
  });
  if (rate === null) {
    for (const side of sides) for (let k = 0; k < window; k++) send(side);
  } else {
    // Node's timers fire at most every millisecond: each tick sends what is owed by then,
    // one message per sender in turn, so no socket gets two in a row.
    let owed = 0, turn = 0, last = micros();
    setInterval(() => {
      const now = micros();
      owed += (rate * (now - last)) / 1e6;
      last = now;
      for (; owed >= 1; owed--) send(sides[turn++ % sides.length]);
    }, 1);
  }
  // Let the pipes fill, then count a clean window.
  await sleep(1000);
  const serverBefore = serverPid ? cpuSeconds(serverPid) : null;
  const ownBefore = process.cpuUsage();
  const start = micros();
  counting = true;
  await sleep(seconds * 1000);
  counting = false;
  const elapsed = (micros() - start) / 1e6;
  const delivered = Math.max(1, latencies.length);
  const own = process.cpuUsage(ownBefore);
  const serverCpu = serverPid ? (((cpuSeconds(serverPid) - serverBefore) * 1e6) / delivered).toFixed(1) : "none";
  const sorted = Float64Array.from(latencies).sort();
  console.log(
    `RESULT node-relay pairs=${pairs} idle=${idle} target_rate=${rate ?? "max"} msgs_per_s=${(latencies.length / elapsed).toFixed(0)}` +
      ` p50_ms=${ms(quantile(sorted, 0.5))} p99_ms=${ms(quantile(sorted, 0.99))} server_cpu_us_per_msg=${serverCpu}` +
      ` loadgen_cpu_us_per_msg=${((own.user + own.system) / delivered).toFixed(1)}`,
  );
  process.exit(0);
}

async function crowd() {
  const url = flags.url ?? fail("--url is required");
  const clients = num("clients", 10000), rate = num("rate", 1000);
  const handshakes = [], matches = [];
  let failed = 0, online = 0;
  const start = micros();
  const done = new Promise((resolve) => {
    let settled = 0;
    const settle = () => ++settled === clients && resolve();
    for (let i = 0; i < clients; i++) {
      // Paced against the clock, not by sleeps that add up.
      setTimeout(() => {
        const opened = micros();
        const ws = connect(url);
        let first = true, over = false;
        const end = () => over || ((over = true), settle());
        ws.on("open", () => handshakes.push(micros() - opened));
        ws.on("error", () => over || (failed++, end()));
        ws.on("message", (data) => {
          const msg = JSON.parse(data);
          if (msg.type === "online") online++;
          // Call is pressed as soon as the greeting arrives, whatever the greeting says.
          if (first) ws.send('{"type":"call"}');
          first = false;
          if (msg.type === "matched" && !over) (matches.push(micros() - opened), end());
        });
      }, Math.max(0, (start + (i * 1e6) / rate - micros()) / 1000));
    }
  });
  // Everyone matched, or a minute past the last connection.
  await Promise.race([done, sleep((clients / rate) * 1000 + 60_000)]);
  const [h, m] = [Float64Array.from(handshakes).sort(), Float64Array.from(matches).sort()];
  console.log(
    `RESULT node-crowd clients=${clients} rate=${rate} matched=${matches.length} failed=${failed}` +
      ` handshake_p99_ms=${ms(quantile(h, 0.99))} match_p50_ms=${ms(quantile(m, 0.5))}` +
      ` match_p99_ms=${ms(quantile(m, 0.99))} match_max_ms=${ms(quantile(m, 1))} online_msgs=${online}`,
  );
  process.exit(0);
}

function nullServer() {
  const port = num("port", 0);
  const server = new WebSocketServer({ host: "127.0.0.1", port, backlog: 4096, perMessageDeflate: false });
  let waiting = null;
  server.on("listening", () => console.log(`listening on ws://127.0.0.1:${server.address().port}/`));
  server.on("connection", (ws) => {
    ws.send('{"type":"online","count":0}');
    ws.on("message", () => {
      if (waiting === null) {
        waiting = ws;
        ws.send('{"type":"searching"}');
      } else {
        for (const side of [waiting, ws]) side.send('{"type":"matched","call_id":"0"}');
        waiting = null;
      }
    });
  });
}

const modes = { relay, crowd, "null-server": nullServer };
(modes[mode] ?? (() => fail(`unknown mode ${mode}: relay, crowd or null-server`)))();
