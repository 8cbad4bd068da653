// Test fixtures: a real duet server per test, and visitors (browser contexts) that fail the
// test if their page logs an error.
import { test as base, expect, Browser, Page } from "@playwright/test";
import { spawn, ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repoRoot = path.resolve(__dirname, "..", "..");

export type DuetServer = {
  url: string;
  process: ChildProcess;
  output: string[];
  /** Reports and bans live here; a restart on the same folder keeps them. */
  dataDir: string;
  /** The folder was made for this server (no DUET_DATA_DIR given): stopServer removes it. */
  ownsDataDir: boolean;
};

/** Starts target/release/duet on a free port and resolves once it says where it listens. */
export async function startServer(args: string[] = [], env: Record<string, string> = {}): Promise<DuetServer> {
  const ownsDataDir = env.DUET_DATA_DIR === undefined;
  const dataDir = env.DUET_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "duet-e2e-"));
  const child = spawn(path.join(repoRoot, "target/release/duet"), args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      LEPTOS_SITE_ADDR: "127.0.0.1:0",
      LEPTOS_SITE_ROOT: "target/site",
      LEPTOS_SITE_PKG_DIR: "pkg",
      LEPTOS_OUTPUT_NAME: "duet",
      LEPTOS_ENV: "PROD",
      RUST_LOG: "info",
      DUET_DATA_DIR: dataDir,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output.push(text);
      const found = /listening on (http:\/\/[\d.:]+)/.exec(output.join(""));
      if (found) resolve(found[1]);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`duet exited with ${code} before listening:\n${output.join("")}`)));
    child.on("error", reject);
  });
  return { url, process: child, output, dataDir, ownsDataDir };
}

/** Stops a server with SIGTERM, waits for it to exit, and removes the data folder made for it
 *  (a suite run would otherwise leave one in the temporary folder per test). */
export async function stopServer(server: DuetServer): Promise<void> {
  if (server.process.exitCode === null && server.process.signalCode === null) {
    const exited = new Promise((resolve) => server.process.once("exit", resolve));
    server.process.kill("SIGTERM");
    await exited;
  }
  if (server.ownsDataDir) fs.rmSync(server.dataDir, { recursive: true, force: true });
}

export type Visitor = { page: Page; errors: string[]; name: string };

export type VisitOptions = {
  /** Where to go (the lobby of the test's server by default). */
  url?: string;
  /** Extra request headers, e.g. X-Forwarded-For to pose as another address. */
  headers?: Record<string, string>;
  /** Wait for the lobby's Call button to turn on (default true). */
  expectLobby?: boolean;
  /** Come back as a visitor who already accepted the rules (default true). */
  acceptedTerms?: boolean;
  /** Browser window size (default: Playwright's 1280×720). */
  viewport?: { width: number; height: number };
  /** A script to run in the page before its own, e.g. to watch a browser API. */
  init?: () => void;
  /** Runs on the page before it loads (to route its WebSocket, say). */
  beforeLoad?: (page: Page) => Promise<void>;
};

type Fixtures = {
  /** Command-line flags for the test's server. */
  serverArgs: string[];
  server: DuetServer;
  /** Opens a page in a fresh browser context (a separate visitor). */
  visit: (name: string, options?: VisitOptions) => Promise<Visitor>;
};

export const test = base.extend<Fixtures>({
  serverArgs: [[], { option: true }],
  server: async ({ serverArgs }, use) => {
    const server = await startServer(serverArgs);
    await use(server);
    await stopServer(server);
  },
  visit: async ({ browser, server }, use) => {
    const visitors: Visitor[] = [];
    await use(async (name: string, options: VisitOptions = {}) => {
      const visitor = await openVisitor(browser, name, { url: server.url, ...options });
      visitors.push(visitor);
      return visitor;
    });
    for (const v of visitors) {
      await v.page.context().close();
    }
    const errors = visitors.flatMap((v) => v.errors.map((e) => `${v.name}: ${e}`));
    expect(errors, "console errors in the pages").toEqual([]);
  },
});

async function openVisitor(browser: Browser, name: string, options: VisitOptions): Promise<Visitor> {
  const context = await browser.newContext({ extraHTTPHeaders: options.headers, viewport: options.viewport });
  if (options.acceptedTerms ?? true) {
    await context.addInitScript(() => window.localStorage.setItem("duet.termsAccepted", "yes"));
  }
  // Record every RTCPeerConnection the page creates, so tests can check which ones stay open.
  await context.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    const created: RTCPeerConnection[] = [];
    (window as any).__duetPeerConnections = created;
    const Recorded = function (this: unknown, ...args: ConstructorParameters<typeof RTCPeerConnection>) {
      const pc = new Original(...args);
      created.push(pc);
      return pc;
    } as unknown as typeof RTCPeerConnection;
    Recorded.prototype = Original.prototype;
    window.RTCPeerConnection = Recorded;
    // And every candidate the stranger sent that the page added.
    const received: string[] = [];
    (window as any).__duetRemoteCandidates = received;
    const addIceCandidate = Original.prototype.addIceCandidate;
    Original.prototype.addIceCandidate = function (this: RTCPeerConnection, candidate?: RTCIceCandidateInit) {
      if (candidate?.candidate) received.push(candidate.candidate);
      return addIceCandidate.call(this, candidate as RTCIceCandidateInit);
    } as typeof addIceCandidate;
  });
  // Ask the page for its timeline of a call (src/client/timeline.rs), read by callTimeline.
  await context.addInitScript(() => {
    (window as any).__duetTimeline = [];
  });
  if (options.init) await context.addInitScript(options.init);
  const page = await context.newPage();
  const errors = watchErrors(page);
  if (options.beforeLoad) await options.beforeLoad(page);
  await page.goto(options.url!);
  if (options.expectLobby ?? true) {
    // The buttons turn on when the wasm has hydrated the page.
    await expect(page.getByRole("button", { name: "Call", exact: true })).toBeEnabled();
  }
  return { page, errors, name };
}

export { expect };

/** Every error `page` logs or throws from now on, for a test to assert there are none. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(err.message));
  return errors;
}

/** Resolves once the remote video has a picture and its frame count keeps going up. */
export async function remoteVideoPlays(page: Page) {
  const handle = await page.getByTestId("remote-video").elementHandle();
  const start = await page.waitForFunction(
    (video) => {
      const v = video as HTMLVideoElement;
      return v.videoWidth > 0 && v.videoHeight > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0
        ? v.getVideoPlaybackQuality().totalVideoFrames
        : false;
    },
    handle,
    { timeout: 20_000 },
  );
  const firstCount = await start.jsonValue();
  await page.waitForFunction(
    ([video, count]) => (video as HTMLVideoElement).getVideoPlaybackQuality().totalVideoFrames > (count as number) + 5,
    [handle, firstCount] as const,
    { timeout: 20_000 },
  );
}

/** Clicks the button named `name` and returns when the page took the click (the event's own
 *  time, in ms since the epoch), so Playwright's checks before clicking are not counted. */
export async function clickAt(page: Page, name: string): Promise<number> {
  await page.evaluate(() => {
    (window as any).__duetClickedAt = new Promise<number>((resolve) =>
      document.addEventListener("click", (e) => resolve(performance.timeOrigin + e.timeStamp), {
        capture: true,
        once: true,
      }),
    );
  });
  await page.getByRole("button", { name, exact: true }).click();
  return page.evaluate(() => (window as any).__duetClickedAt);
}

/** From now on, records when the remote video presents its next decoded frame (ms since the
 *  epoch, the time the browser handed it to the compositor); `firstRemoteFrame` reads it.
 *  Call it while the remote pane is empty, i.e. before the call it should time. */
export async function watchFirstRemoteFrame(page: Page) {
  await page.getByTestId("remote-video").evaluate((video: HTMLVideoElement) => {
    (window as any).__duetFirstRemoteFrame = new Promise<number>((resolve) =>
      video.requestVideoFrameCallback((_now, frame) => {
        const t = performance.timeOrigin + frame.presentationTime;
        (window as any).__duetTimeline?.push({ t, what: "first remote frame presented" });
        resolve(t);
      }),
    );
  });
}

export async function firstRemoteFrame(page: Page): Promise<number> {
  return page.evaluate(() => (window as any).__duetFirstRemoteFrame);
}

/** Resolves once the page has heard the server's message of type `type` (its timeline,
 *  src/client/timeline.rs, marks each one it receives). */
export async function heard(page: Page, type: string, timeout?: number) {
  await page.waitForFunction(
    (what) => ((window as any).__duetTimeline as { what: string }[]).some((m) => m.what === what),
    `received ${type}`,
    { timeout },
  );
}

/** Resolves once the server has `page`'s visitor in its search (the page heard `searching`).
 *  The page says "searching" as soon as Call is pressed, before its Call (held, perhaps, for
 *  the proof of work) has reached the server: a test that needs the visitor to be waiting
 *  there, for someone else's Next to find, waits for this. */
export async function waitingOnServer(page: Page) {
  await heard(page, "searching");
}

/** The pages' timelines of a call merged on one axis, in ms after `since`, one line each. */
export async function callTimeline(since: number, ...visitors: Visitor[]): Promise<string> {
  const entries = (
    await Promise.all(
      visitors.map(async ({ page, name }) =>
        (await page.evaluate(() => (window as any).__duetTimeline as { t: number; what: string }[])).map(
          (e) => ({ ...e, name }),
        ),
      ),
    )
  )
    .flat()
    .filter((e) => e.t >= since - 1000)
    .sort((x, y) => x.t - y.t);
  return entries.map((e) => `${(e.t - since).toFixed(1).padStart(8)} ms  ${e.name}  ${e.what}`).join("\n");
}

export async function inCall(...visitors: Visitor[]) {
  await Promise.all(
    visitors.map(async ({ page }) => {
      await expect(page.getByTestId("call-state")).toHaveAttribute("data-state", "connected", { timeout: 20_000 });
      await remoteVideoPlays(page);
    }),
  );
}

export type TurnServer = { url: string; port: number; minPort: number; process: ChildProcess };

/** Starts Debian's coturn on 127.0.0.1 with a shared secret (REST-scheme credentials), denying
 *  the same peers as README's configuration (docs/coturn-denied-peers.conf). `again` starts it
 *  once more where a stopped one listened (same port, same relay ports), as a relay restarted
 *  under its visitors. */
export async function startTurn(secret: string, again?: TurnServer): Promise<TurnServer> {
  const port = again?.port ?? (await freePort());
  // A relay port range of its own, so parallel runs on one machine do not collide.
  const minPort = again?.minPort ?? 40000 + Math.floor(Math.random() * 200) * 100;
  const child = spawn(
    "turnserver",
    [
      "--no-cli", "--no-tls", "--no-dtls", "--simple-log", "--log-file=stdout",
      "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", `--listening-port=${port}`,
      `--min-port=${minPort}`, `--max-port=${minPort + 99}`,
      "--use-auth-secret", `--static-auth-secret=${secret}`, "--realm=duet.test",
      // The deployment's denials (private, loopback, link-local, ...), read from the file
      // README's configuration is checked against, so the relay is tested as deployed. (No
      // -n: with it, coturn ignores every configuration file, this one too.)
      "-c", path.join(repoRoot, "docs/coturn-denied-peers.conf"),
      // One exception: the test's browsers and both relay addresses live on 127.0.0.1, which
      // the file denies. coturn checks allowed-peer-ip before the denials, so this single
      // address gets through while the rest of 127/8, ::1 and every private range stay
      // denied; loopback peers are refused before either list unless --allow-loopback-peers.
      "--allow-loopback-peers", "--allowed-peer-ip=127.0.0.1",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const output: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.join("").includes("Relay ports initialization done")) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`turnserver exited with ${code}:\n${output.join("")}`)));
    child.on("error", reject);
  });
  return { url: `turn:127.0.0.1:${port}?transport=udp`, port, minPort, process: child };
}

export async function stopTurn(turn: TurnServer): Promise<void> {
  if (turn.process.exitCode !== null || turn.process.signalCode !== null) return;
  const exited = new Promise((resolve) => turn.process.once("exit", resolve));
  turn.process.kill("SIGTERM");
  await exited;
}

async function freePort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

export type RedisServer = { url: string; port: number; process: ChildProcess };

/** Starts Debian's redis-server on 127.0.0.1 (a free port, or `port` to come back on the same
 *  one), keeping nothing on disk; resolves once it accepts connections. */
export async function startRedis(port?: number): Promise<RedisServer> {
  if (port !== undefined) return launchRedis(port);
  // The free port may be taken before redis binds it (a browser's outgoing socket draws its
  // port from the same range); redis then exits, and a new port is tried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchRedis(await freePort());
    } catch (e) {
      if (attempt === 5) throw e;
    }
  }
}

async function launchRedis(chosen: number): Promise<RedisServer> {
  const child = spawn(
    "redis-server",
    ["--port", String(chosen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const output: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      if (output.join("").includes("Ready to accept connections")) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`redis-server exited with ${code}:\n${output.join("")}`)));
    child.on("error", reject);
  });
  return { url: `redis://127.0.0.1:${chosen}/`, port: chosen, process: child };
}

/** Kills redis-server at once (as a crash would) and waits until it is gone. */
export async function killRedis(redis: RedisServer): Promise<void> {
  if (redis.process.exitCode !== null || redis.process.signalCode !== null) return;
  const exited = new Promise((resolve) => redis.process.once("exit", resolve));
  redis.process.kill("SIGKILL");
  await exited;
}
