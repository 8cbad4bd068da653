// Back after an accidental reload or a lost connection: within --reload-grace the tab returns
// to the same call, its partner sees "Stranger is reconnecting…" meanwhile, and both videos
// play again; a tab that does not come back is reported gone once the grace is over.
import {
  test,
  expect,
  Visitor,
  inCall,
  remoteVideoPlays,
  startServer,
  stopServer,
  startTurn,
  stopTurn,
  TurnServer,
} from "./fixtures";
import type { Page } from "@playwright/test";

/** Run in the page before its own scripts: records every signaling message it sends and
 *  receives (parsed), in `__duetSignals`. */
function recordSignals() {
  const Original = window.WebSocket;
  const log: { dir: "in" | "out"; msg: any }[] = ((window as any).__duetSignals = []);
  const note = (dir: "in" | "out", data: unknown) => {
    if (typeof data === "string") log.push({ dir, msg: JSON.parse(data) });
  };
  window.WebSocket = class extends Original {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener("message", (e) => note("in", e.data));
    }
    send(data: string | ArrayBufferLike | Blob | ArrayBufferView) {
      note("out", data);
      super.send(data);
    }
  } as typeof WebSocket;
}

type Signal = { dir: "in" | "out"; msg: { type: string; call_id?: string; in_place?: boolean } };
const signals = (page: Page): Promise<Signal[]> => page.evaluate(() => (window as any).__duetSignals);

/** The page's peer connections: how many it ever made, and the states of those not closed. */
const connections = (page: Page) =>
  page.evaluate(() => {
    const pcs = (window as any).__duetPeerConnections as RTCPeerConnection[];
    return { made: pcs.length, open: pcs.filter((pc) => pc.signalingState !== "closed").map((pc) => pc.connectionState) };
  });

/** The pages' connections once the race's loser is gone (it is closed a second after the
 *  winner is named, once it is silent), so only the call's own connection is left open. */
async function settledConnections(...pages: Page[]) {
  for (const page of pages) await expect.poll(async () => (await connections(page)).open.length).toBe(1);
  return Promise.all(pages.map(connections));
}

/** Frames the remote video has decoded so far. */
const decoded = (page: Page) =>
  page.getByTestId("remote-video").evaluate((v: HTMLVideoElement) => v.getVideoPlaybackQuality().totalVideoFrames);

/** Resolves once the remote video decoded `more` frames past `from`. */
async function framesPast(page: Page, from: number, more: number) {
  await page.waitForFunction(
    ([from, more]) => {
      const v = document.querySelector('[data-testid="remote-video"]') as HTMLVideoElement;
      return v.getVideoPlaybackQuality().totalVideoFrames > from + more;
    },
    [from, more] as const,
    { timeout: 20_000 },
  );
}

const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true });
const state = (page: Page) => page.getByTestId("call-state");

async function say(from: Visitor, text: string) {
  await from.page.getByTestId("chat-input").fill(text);
  await from.page.getByTestId("chat-input").press("Enter");
}

async function paired(visit: (name: string) => Promise<Visitor>) {
  const a = await visit("A");
  const b = await visit("B");
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);
  // A line in B's chat: a new call would clear it, the same call keeps it.
  await say(b, "before the reload");
  await expect(a.page.getByTestId("chat-log")).toContainText("before the reload");
  return { a, b };
}

test("a reload mid-call returns to the same call and both videos play again within 5 s", async ({ visit }) => {
  const { a, b } = await paired(visit);
  // A reload is quick: B's "reconnecting" may show for a moment only, so B's page records
  // every status it shows.
  await b.page.evaluate(() => {
    const status = document.querySelector('[data-testid="call-state"]')!;
    const seen: string[] = ((window as any).__statuses = []);
    new MutationObserver(() => seen.push(status.textContent ?? "")).observe(status, {
      childList: true,
      characterData: true,
      subtree: true,
    });
  });
  const reloaded = Date.now();
  await a.page.reload();
  // B hears A is back and races anew (its status goes through "connecting" again).
  const statuses = () => b.page.evaluate(() => (window as any).__statuses as string[]);
  await expect.poll(statuses).toContain("Stranger found. Connecting…");
  await inCall(a, b);
  await Promise.all([remoteVideoPlays(a.page), remoteVideoPlays(b.page)]);
  const took = Date.now() - reloaded;
  console.log(`reload-to-video: ${took} ms`);
  expect(took, "both videos play again within 5 s of the reload").toBeLessThan(5_000);
  expect(await statuses()).toContain("Stranger is reconnecting…");
  // The same call: B's chat still holds the line, and the two still talk.
  await expect(b.page.getByTestId("chat-log")).toContainText("before the reload");
  await say(a, "back again");
  await expect(b.page.getByTestId("chat-log")).toContainText("back again");
});

/** A's signaling socket through Playwright, which can cut it (`cut`) and refuse new ones
 *  while `offline`, as a lost network does (the media between the browsers is left alone). */
function cuttableSocket() {
  const open: { close: () => Promise<void> }[] = [];
  const network = {
    offline: false,
    beforeLoad: (page: Page) =>
      page.routeWebSocket(/\/ws/, (ws) => {
        if (network.offline) return ws.close({ code: 1006 });
        ws.connectToServer();
        open.push(ws);
      }),
    cut: async () => {
      network.offline = true;
      await Promise.all(open.map((ws) => ws.close()));
    },
  };
  return network;
}

test("a socket cut for two seconds (the network gone) leaves the call standing, on the same connection", async ({ visit }) => {
  const network = cuttableSocket();
  const a = await visit("A", { beforeLoad: network.beforeLoad, init: recordSignals });
  const b = await visit("B", { init: recordSignals });
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);
  await say(b, "before the outage");
  await expect(a.page.getByTestId("chat-log")).toContainText("before the outage");
  const before = await settledConnections(a.page, b.page);

  await network.cut();
  await expect(state(b.page)).toHaveText("Stranger is reconnecting…");
  await expect(state(a.page)).toHaveText("Connection to duet lost. Reconnecting…");
  // The media never needed the socket: both pictures keep moving through the outage.
  const during = await Promise.all([decoded(a.page), decoded(b.page)]);
  await a.page.waitForTimeout(2_000); // the outage itself, as a person would live it
  const later = await Promise.all([decoded(a.page), decoded(b.page)]);
  await expect(state(a.page)).toHaveAttribute("data-state", "connected");
  // Back after two seconds, however long this busy machine takes to check the pictures: the
  // server keeps the call for --reload-grace (10 s), counted from the cut.
  network.offline = false;
  // Two seconds of a 30 fps camera, with room for a machine that decodes late.
  expect(later[0] - during[0], "A's picture moved while its socket was down").toBeGreaterThan(10);
  expect(later[1] - during[1], "B's picture moved while A's socket was down").toBeGreaterThan(10);
  await expect(state(a.page)).toHaveText("Connected. Say hi!");
  await expect(state(b.page)).toHaveText("Connected. Say hi!");
  await Promise.all([remoteVideoPlays(a.page), remoteVideoPlays(b.page)]);
  await expect(b.page.getByTestId("chat-log")).toContainText("before the outage");
  await say(a, "still here");
  await expect(b.page.getByTestId("chat-log")).toContainText("still here");

  // The same connections, never renegotiated: A came back in place, and B was told so.
  const after = await Promise.all([connections(a.page), connections(b.page)]);
  expect(after).toEqual(before);
  for (const { open } of after) expect(open).toEqual(["connected"]);
  const told = (await signals(b.page)).filter((s) => s.dir === "in").map((s) => s.msg);
  expect(told.filter((m) => m.type === "matched")).toHaveLength(1);
  expect(told.filter((m) => m.type === "partner_back")).toEqual([
    expect.objectContaining({ in_place: true }),
  ]);
});

test("a socket that dies without the server hearing it (a phone changing networks): the tab takes its call over", async ({ visit }) => {
  // Playwright holds A's socket: cutting the page's side leaves the server's side open and
  // silent, as a phone's old connection is when its network is gone.
  let cut = false;
  const pageSides: { close: () => Promise<void> }[] = [];
  const beforeLoad = (page: Page) =>
    page.routeWebSocket(/\/ws/, (ws) => {
      const server = ws.connectToServer();
      // Closing one side does not close the other (the server never hears of the page's).
      ws.onClose(() => {});
      server.onClose(() => ws.close());
      if (!cut) pageSides.push(ws);
    });
  const a = await visit("A", { beforeLoad, init: recordSignals });
  const b = await visit("B", { init: recordSignals });
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);
  const before = await settledConnections(a.page, b.page);

  cut = true;
  await Promise.all(pageSides.map((ws) => ws.close()));
  // A's page reconnects at once; the server still holds its old socket, and hands the call to
  // the new one. B keeps the call throughout and is told A is back, in place.
  await expect
    .poll(async () => (await signals(b.page)).some((s) => s.dir === "in" && s.msg.type === "partner_back"))
    .toBe(true);
  await expect(state(a.page)).toHaveText("Connected. Say hi!");
  await expect(state(b.page)).toHaveText("Connected. Say hi!");
  await say(b, "still here?");
  await expect(a.page.getByTestId("chat-log")).toContainText("still here?");
  const told = (await signals(b.page)).filter((s) => s.dir === "in").map((s) => s.msg);
  expect(told.filter((m) => m.type === "partner_away"), "nothing ended").toEqual([]);
  expect(told.filter((m) => m.type === "matched")).toHaveLength(1);
  expect(await Promise.all([connections(a.page), connections(b.page)])).toEqual(before);
});

test("End pressed while the socket is cut ends the call once it is back, instead of returning to it", async ({ visit }) => {
  const network = cuttableSocket();
  const a = await visit("A", { beforeLoad: network.beforeLoad });
  const b = await visit("B");
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);

  await network.cut();
  await expect(state(b.page)).toHaveText("Stranger is reconnecting…");
  await button(a.page, "End").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "idle");
  network.offline = false;
  // Back online, A's tab ends the call the server kept for it: B is told A ended it (not, ten
  // seconds later, that A left), and A stays idle.
  await expect(state(b.page)).toHaveText("The stranger ended the call. Finding someone new…");
  await expect(state(a.page)).toHaveAttribute("data-state", "idle");
  await expect(a.page.getByTestId("online-count")).toHaveText("2 online");
});

// ICE restart in place: both visitors hide their IP, so the call runs through coturn; coturn
// stops (every relayed path dies, as when a phone loses its network), the winning connection
// goes `disconnected`, coturn starts again on the same port with the same secret, and the
// side that offered the winner restarts ICE on that same connection.
const relayed = test.extend<{ turn: TurnServer }>({
  turn: async ({}, use) => {
    const turn = await startTurn(TURN_SECRET);
    await use(turn);
    await stopTurn(turn);
  },
  server: async ({ turn }, use) => {
    const server = await startServer(["--turn-urls", turn.url, "--turn-secret", TURN_SECRET]);
    await use(server);
    await stopServer(server);
  },
});
const TURN_SECRET = "e2e-restart-secret";

relayed("a relay that goes away and comes back: ICE restarts in place, same call, same connection", async ({
  visit,
  turn,
}) => {
  const a = await visit("A", { init: recordSignals });
  const b = await visit("B", { init: recordSignals });
  for (const { page } of [a, b]) {
    await page.getByTestId("hide-ip").check();
    await button(page, "Call").click();
  }
  await inCall(a, b);
  await say(b, "before the relay went");
  await expect(a.page.getByTestId("chat-log")).toContainText("before the relay went");
  const before = await settledConnections(a.page, b.page);
  const signalsBefore = await Promise.all([signals(a.page), signals(b.page)]);

  const stopped = Date.now();
  await stopTurn(turn);
  const down = (page: Page) =>
    page.waitForFunction(
      () =>
        ((window as any).__duetPeerConnections as RTCPeerConnection[]).some((pc) =>
          ["disconnected", "failed"].includes(pc.connectionState),
        ),
      undefined,
      { timeout: 30_000 },
    );
  const downAt = await Promise.all([a, b].map(({ page }) => down(page).then(() => Date.now() - stopped)));
  const wentDown = Date.now();
  const frozen = await Promise.all([decoded(a.page), decoded(b.page)]);
  const restarted = await startTurn(TURN_SECRET, turn);
  try {
    // Both pictures move again (a second of frames past where they froze), in the same call.
    await Promise.all([framesPast(a.page, frozen[0], 30), framesPast(b.page, frozen[1], 30)]);
    const back = Date.now();
    console.log(
      `relay stopped → connection down: A ${downAt[0]} ms, B ${downAt[1]} ms; relay back → both pictures moving: ${back - wentDown} ms`,
    );
    for (const { page } of [a, b]) await expect(state(page)).toHaveText("Connected. Say hi!");
    await say(a, "after the relay came back");
    await expect(b.page.getByTestId("chat-log")).toContainText("after the relay came back");
    await expect(b.page.getByTestId("chat-log")).toContainText("before the relay went");

    // No new connection on either page, and the one there is connected again.
    const after = await Promise.all([connections(a.page), connections(b.page)]);
    expect(after.map((c) => c.made)).toEqual(before.map((c) => c.made));
    for (const { open } of after) expect(open).toEqual(["connected"]);
    // Mended in place: no new match, no new race; exactly one side offered again (the
    // winner's offerer), for the same call, and the other answered.
    const [newA, newB] = await Promise.all([signals(a.page), signals(b.page)]).then(([sa, sb]) => [
      sa.slice(signalsBefore[0].length),
      sb.slice(signalsBefore[1].length),
    ]);
    const callId = signalsBefore[0].find((s) => s.msg.type === "matched")!.msg.call_id;
    for (const sent of [newA, newB]) {
      expect(sent.filter((s) => ["matched", "resumed", "partner_back", "reconnect"].includes(s.msg.type))).toEqual([]);
    }
    const offers = [newA, newB].map((log) => log.filter((s) => s.dir === "out" && s.msg.type === "offer"));
    const answers = [newA, newB].map((log) => log.filter((s) => s.dir === "out" && s.msg.type === "answer"));
    const offerer = offers[0].length > 0 ? 0 : 1;
    console.log(`ICE restarts offered: ${offers[offerer].length}`);
    expect(offers[offerer].length).toBeGreaterThan(0);
    expect(offers[1 - offerer], "only the winner's offerer restarts").toHaveLength(0);
    expect(answers[1 - offerer]).toHaveLength(offers[offerer].length);
    expect(answers[offerer]).toHaveLength(0);
    for (const offer of offers[offerer]) expect(offer.msg.call_id).toBe(callId);
  } finally {
    await stopTurn(restarted);
  }
});

test.describe("a tab that does not come back", () => {
  test.use({ serverArgs: ["--reload-grace", "2s"] });

  test("its partner is told the stranger left once the grace is over", async ({ visit }) => {
    const { a, b } = await paired(visit);
    await a.page.close();
    await expect(state(b.page)).toHaveText("Stranger is reconnecting…");
    await expect(state(b.page)).toHaveText("The stranger left. Finding someone new…");
    await expect(state(b.page)).toHaveAttribute("data-state", "searching");
  });
});
