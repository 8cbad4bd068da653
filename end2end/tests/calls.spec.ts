// Random calls end to end: three visitors with fake cameras, real WebRTC between them.
import {
  test,
  expect,
  Visitor,
  startServer,
  stopServer,
  inCall,
  remoteVideoPlays,
  clickAt,
  watchFirstRemoteFrame,
  firstRemoteFrame,
  callTimeline,
  waitingOnServer,
} from "./fixtures";
import type { Page } from "@playwright/test";

const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true });
const state = (page: Page) => page.getByTestId("call-state");

async function localVideoPlays(page: Page) {
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid="local-video"]') as HTMLVideoElement;
    return v.videoWidth > 0 && v.currentTime > 0;
  });
}

/** How many peer connections the page has made so far (fixtures.ts records each one). */
const connectionsMade = (page: Page) =>
  page.evaluate(() => (window as any).__duetPeerConnections.length as number);

/** Opens the page's camera before its call, as it is for a visitor who called before (it
 *  stays on between calls): Call until the local video plays, then End. Nobody else may be
 *  searching meanwhile. A page whose camera is open when it is matched offers at once; one
 *  whose camera is still opening offers once it is open, and not at all if the race was won
 *  by then (src/client/machine.rs, `race`): a test of the whole race opens both first. */
async function cameraOpenFirst(page: Page) {
  await button(page, "Call").click();
  await localVideoPlays(page);
  await button(page, "End").click();
  await expect(state(page)).toHaveAttribute("data-state", "idle");
}

test("two strangers see each other; a third waits; Next, End and a closed tab re-pair them", async ({ visit }) => {
  const a = await visit("A");
  const b = await visit("B");
  const c = await visit("C");
  await expect(a.page.getByTestId("online-count")).toHaveText("3 online");

  await button(a.page, "Call").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "searching");
  await localVideoPlays(a.page);

  await button(b.page, "Call").click();
  await inCall(a, b);

  // C waits alone while A and B talk.
  await button(c.page, "Call").click();
  await expect(state(c.page)).toHaveAttribute("data-state", "searching");
  await waitingOnServer(c.page);
  await expect(state(a.page)).toHaveAttribute("data-state", "connected");

  // A presses Next: A meets the waiting C, and B (just left) searches rather than meeting A again.
  await button(a.page, "Next").click();
  await inCall(a, c);
  await expect(state(b.page)).toHaveAttribute("data-state", "searching");

  // C presses End: C goes idle, its partner A searches and meets the waiting B.
  await button(c.page, "End").click();
  await expect(state(c.page)).toHaveAttribute("data-state", "idle");
  await expect(state(c.page)).toHaveText("Call ended. Press Call to meet someone new.");
  await inCall(a, b);
  await expect(state(c.page)).toHaveAttribute("data-state", "idle");
  // The camera stays on between calls.
  await localVideoPlays(c.page);

  // B closes the tab: A hears the stranger may be back (a reload would be), and once the
  // grace (10 s by default) is over, that they left; A searches again by itself.
  await b.page.close();
  await expect(state(a.page)).toHaveText("Stranger is reconnecting…");
  await expect(state(a.page)).toHaveAttribute("data-state", "searching", { timeout: 20_000 });
  await expect(state(a.page)).toHaveText("The stranger left. Finding someone new…");
  await expect(a.page.getByTestId("online-count")).toHaveText("2 online");
  const remoteSrc = await a.page.getByTestId("remote-video").evaluate((v: HTMLVideoElement) => v.srcObject);
  expect(remoteSrc).toBeNull();

  // C calls again and meets A.
  await button(c.page, "Call").click();
  await inCall(a, c);
});

// Row 5 of `make bench` (docs/BENCHMARKS.md), which runs it several times and takes the median:
// timed in the pages, from the second Call as B's page took the click to the later of the two
// remote videos' first decoded frame presented. A waits with its camera on, as a visitor
// searching does; B's page has the camera allowed already, so it opens while B is matched.
// Both pages have loaded the screening model first, as a page does a moment after it opens
// (it loads when the page is idle): loading it competes for the CPU.
test("click to video: from the second Call to both remote videos playing", async ({ visit }) => {
  const a = await visit("A");
  const b = await visit("B");
  for (const { page } of [a, b]) {
    await expect(page.getByTestId("remote-video")).toHaveAttribute("data-screening-load-ms", /^\d/);
  }
  await button(a.page, "Call").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "searching");
  await localVideoPlays(a.page);
  await Promise.all([watchFirstRemoteFrame(a.page), watchFirstRemoteFrame(b.page)]);
  const secondClick = await clickAt(b.page, "Call");
  // The first frames are awaited before inCall's checks, which poll the pages on every
  // animation frame and would take the measured pages' CPU.
  const firstFrames = await Promise.all([firstRemoteFrame(a.page), firstRemoteFrame(b.page)]);
  await inCall(a, b);
  const clickToVideo = Math.max(...firstFrames) - secondClick;
  console.log(`click-to-video: ${Math.round(clickToVideo)} ms from the second Call to both remote videos playing`);
  if (process.env.DUET_TIMELINE) console.log(await callTimeline(secondClick, a, b));
});

test("both connections race, both sides keep the same winner and close the other", async ({ visit }) => {
  const a = await visit("A");
  const b = await visit("B");
  await cameraOpenFirst(a.page);
  await cameraOpenFirst(b.page);
  // Each page made (and closed) a peer1 while it searched with its camera open.
  const before = await Promise.all([connectionsMade(a.page), connectionsMade(b.page)]);
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);

  const summary = (page: Page) =>
    page.evaluate(() => {
      const fingerprint = (sdp?: string) => /a=fingerprint:\S+ (\S+)/.exec(sdp ?? "")?.[1] ?? null;
      const pcs = (window as any).__duetPeerConnections as RTCPeerConnection[];
      const open = pcs.filter((pc) => pc.connectionState !== "closed");
      return {
        created: pcs.length,
        open: open.map((pc) => ({
          state: pc.connectionState,
          local: fingerprint(pc.localDescription?.sdp),
          remote: fingerprint(pc.remoteDescription?.sdp),
        })),
      };
    });
  // Each side made peer1 and peer2 and kept exactly one of them (the loser is closed a second
  // after the winner is named, once it is silent)...
  await expect.poll(async () => (await summary(a.page)).open.length).toBe(1);
  await expect.poll(async () => (await summary(b.page)).open.length).toBe(1);
  const [sa, sb] = await Promise.all([summary(a.page), summary(b.page)]);
  expect(sa.created - before[0]).toBe(2);
  expect(sb.created - before[1]).toBe(2);
  expect(sa.open[0].state).toBe("connected");
  // ...and it is the same connection on both sides: each end's certificate is the other's peer.
  expect(sa.open[0].local).toBe(sb.open[0].remote);
  expect(sa.open[0].remote).toBe(sb.open[0].local);
});

test("a peer1 waits ready while the page searches: taken by the match, closed when the search ends", async ({ visit }) => {
  const a = await visit("A");
  const b = await visit("B");
  // B offers as soon as it is matched, so A answers with a peer2.
  await cameraOpenFirst(b.page);
  // Each page's connections, in the order the page made them (fixtures.ts records them).
  const connections = (page: Page) =>
    page.evaluate(() =>
      ((window as any).__duetPeerConnections as RTCPeerConnection[]).map((pc) => ({
        signaling: pc.signalingState,
        local: pc.localDescription?.type ?? null,
        remote: pc.remoteDescription?.sdp ?? null,
      })),
    );

  // Searching: one connection, offered already, with no stranger's description yet.
  await button(a.page, "Call").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "searching");
  await expect.poll(async () => (await connections(a.page)).map((c) => c.signaling)).toEqual(["have-local-offer"]);
  // End: the ready connection is closed (a second later, as every connection done with).
  await button(a.page, "End").click();
  await expect.poll(async () => (await connections(a.page)).map((c) => c.signaling)).toEqual(["closed"]);

  // A searches again with a new one, and B's Call matches them: A's peer1 in the call is the
  // connection it made while searching (its second); the only one made after is its peer2.
  await button(a.page, "Call").click();
  await expect
    .poll(async () => (await connections(a.page)).map((c) => c.signaling))
    .toEqual(["closed", "have-local-offer"]);
  await button(b.page, "Call").click();
  await inCall(a, b);
  // Had the match not taken it, A would have made a fourth: a fresh peer1.
  const made = await connections(a.page);
  expect(made.map((c) => c.local)).toEqual(["offer", "offer", "answer"]);

  // Each side asks the other to start its video at 1 Mbit/s (src/client/sdp.rs): the
  // description each one received for the connection kept carries the start rate on its
  // video codecs.
  for (const page of [a.page, b.page]) {
    await expect.poll(async () => (await connections(page)).filter((c) => c.signaling !== "closed").length).toBe(1);
    const [kept] = (await connections(page)).filter((c) => c.signaling !== "closed");
    expect(kept.remote).toMatch(/a=fmtp:\d+ (\S+;)?x-google-start-bitrate=1000\r\n/);
  }
});

// The pages here have the camera allowed already, so a Call searches while the camera opens.
test("a camera that fails after the search began ends the call; the stranger searches on", async ({ visit }) => {
  const b = await visit("B");
  await button(b.page, "Call").click();
  await expect(state(b.page)).toHaveAttribute("data-state", "searching");
  // A's camera is busy: it answers only when the test says, and then with the error.
  const a = await visit("A", {
    init: () => {
      let fail = () => {};
      (window as any).__failCamera = () => fail();
      navigator.mediaDevices.getUserMedia = () =>
        new Promise((_, reject) => (fail = () => reject(new DOMException("in use", "NotReadableError"))));
    },
  });
  await button(a.page, "Call").click();
  // The search did not wait for the camera: A met B (and the connections may be up already).
  await expect(state(a.page)).toHaveAttribute("data-state", /^connect(ing|ed)$/);
  await expect(state(b.page)).toHaveAttribute("data-state", /^connect(ing|ed)$/);
  await a.page.evaluate(() => (window as any).__failCamera());
  await expect(state(a.page)).toHaveText(
    'Your camera is busy in another app. Close it, then press Call. Or tick "Text only" to meet strangers by chat.',
  );
  await expect(state(a.page)).toHaveAttribute("data-state", "idle");
  await expect(state(b.page)).toHaveText("The stranger ended the call. Finding someone new…");
});

// The connections do not wait for the camera: the stranger's offer is answered and connected
// while it opens, and its picture joins the connection that won, in place.
test("a camera that opens after the call connected is seen by the stranger, on the same connection", async ({
  visit,
}) => {
  const b = await visit("B");
  await button(b.page, "Call").click();
  await expect(state(b.page)).toHaveAttribute("data-state", "searching");
  // A's camera opens only when the test says.
  const a = await visit("A", {
    init: () => {
      const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      let release = () => {};
      (window as any).__openCamera = () => release();
      navigator.mediaDevices.getUserMedia = (constraints) =>
        new Promise((resolve, reject) => (release = () => open(constraints).then(resolve, reject)));
    },
  });
  await button(a.page, "Call").click();
  // Connected before A has a camera: A already sees B.
  await expect(state(a.page)).toHaveAttribute("data-state", "connected");
  await expect(state(b.page)).toHaveAttribute("data-state", "connected");
  await remoteVideoPlays(a.page);
  // A mutes before its camera is there: the microphone joins the call muted.
  await a.page.getByTestId("mute").click();
  await expect(b.page.getByTestId("stranger-media")).toHaveAttribute("data-mic", "off");
  await a.page.evaluate(() => (window as any).__openCamera());
  await inCall(a, b);
  const sent = await a.page.evaluate(() =>
    ((window as any).__duetPeerConnections as RTCPeerConnection[])
      .filter((pc) => pc.connectionState === "connected")
      // The race's loser, until it closes, sends nothing: its senders have no track.
      .flatMap((pc) => pc.getSenders().filter((s) => s.track))
      .map((s) => `${s.track!.kind} ${s.track!.enabled}`)
      .sort(),
  );
  expect(sent).toEqual(["audio false", "video true"]);
  // No new offer or connection was needed for A's picture. A's own peer1 was never made: it
  // waits for the camera, and could only lose a race won before it opened; so B has no peer2.
  expect(await connectionsMade(a.page)).toBe(1);
  expect(await connectionsMade(b.page)).toBe(1);
});

test("the call timer counts the time with this stranger and starts again with the next", async ({ visit }) => {
  const a = await visit("A");
  const b = await visit("B");
  const timer = a.page.getByTestId("call-timer");
  await expect(timer).toBeHidden();
  await button(a.page, "Call").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "searching");
  await expect(timer, "no time while searching").toBeHidden();
  await button(b.page, "Call").click();
  await inCall(a, b);
  // It starts at zero when the call connects, and ticks: wait for it to reach 0:03.
  await expect(timer).toHaveText(/^0:0[0-2]$/);
  await expect(timer).toHaveText("0:03", { timeout: 10_000 });

  // Next: the only other visitor is B, so they meet again in a new call, counted from zero.
  await button(a.page, "Next").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "connected", { timeout: 20_000 });
  await expect(timer).toHaveText(/^0:0[0-2]$/);

  await button(a.page, "End").click();
  await expect(timer, "no time once the call ended").toBeHidden();
});

test("a burst of Next presses never mixes strangers", async ({ visit }) => {
  const visitors = [await visit("A"), await visit("B"), await visit("C")];
  const [a, b, c] = visitors;
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);
  await button(c.page, "Call").click();
  await expect(state(c.page)).toHaveAttribute("data-state", "searching");

  for (let i = 0; i < 6; i++) {
    await button(a.page, "Next").click();
  }
  // However the presses interleave, it settles as one pair and one stranger waiting...
  const states = () => Promise.all(visitors.map((v) => state(v.page).getAttribute("data-state")));
  await expect.poll(async () => (await states()).sort().join(","), { timeout: 20_000 }).toBe(
    "connected,connected,searching",
  );
  // ...and the pair really sees each other.
  const s = await states();
  const pair = visitors.filter((_, i) => s[i] === "connected");
  await inCall(...pair);
});

test("the page reconnects by itself when the server comes back, and calls again", async ({ visit, server }) => {
  const a = await visit("A");
  const b = await visit("B");
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);

  const address = new URL(server.url).host;
  await stopServer(server);
  for (const { page } of [a, b]) {
    // The server said goodbye before closing, so the page knows it is a restart.
    await expect(state(page)).toHaveText("duet is restarting. Reconnecting…");
    await expect(state(page)).toHaveAttribute("data-state", "searching");
  }
  const again = await startServer([], { LEPTOS_SITE_ADDR: address });
  try {
    await inCall(a, b);
    // A tab in a call hears no counts (presence costs nothing during calls); back in the
    // lobby it is told the count it missed.
    await button(a.page, "End").click();
    await expect(a.page.getByTestId("online-count")).toHaveText("2 online");
  } finally {
    // The pages close first, so they do not try to reconnect to the server stopping after them.
    for (const v of [a, b]) await v.page.context().close();
    await stopServer(again);
  }
  // Attempts made while the server was down were refused, and Chromium logs each one: that is
  // the reconnect working, not a fault of the page.
  for (const v of [a, b]) {
    const kept = v.errors.filter((e) => !e.includes("net::ERR_CONNECTION_REFUSED"));
    v.errors.splice(0, v.errors.length, ...kept);
  }
});
