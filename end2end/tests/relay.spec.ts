// Calls through TURN: short-lived credentials from duet, relay-only ICE, and visitors who hide
// their IP address from strangers.
import { test as base, expect, startServer, stopServer, startTurn, stopTurn, DuetServer, TurnServer } from "./fixtures";
import type { Page } from "@playwright/test";

const SECRET = "e2e-shared-secret";

// A TURN server per test, and a duet server that hands out its credentials (or wrong ones).
const test = base.extend<{ turn: TurnServer; turnSecret: string }>({
  turnSecret: [SECRET, { option: true }],
  turn: async ({}, use) => {
    const turn = await startTurn(SECRET);
    await use(turn);
    await stopTurn(turn);
  },
  server: async ({ turn, turnSecret }, use) => {
    const server: DuetServer = await startServer(["--turn-urls", turn.url, "--turn-secret", turnSecret]);
    await use(server);
    await stopServer(server);
  },
});

const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true });
const state = (page: Page) => page.getByTestId("call-state");

/** The candidates this page's connections were given by the stranger, and the type of the
 *  pair the winning connection uses. */
async function iceSummary(page: Page) {
  return page.evaluate(async () => {
    const pcs = (window as any).__duetPeerConnections as RTCPeerConnection[];
    const open = pcs.filter((pc) => pc.connectionState === "connected");
    const types: string[] = [];
    for (const pc of open) {
      const stats = await pc.getStats();
      stats.forEach((s: any) => {
        if (s.type === "candidate-pair" && s.state === "succeeded" && s.nominated) {
          const local = stats.get(s.localCandidateId);
          types.push(local?.candidateType);
        }
      });
    }
    return { received: (window as any).__duetRemoteCandidates as string[], selected: types };
  });
}

async function frames(page: Page) {
  await page.waitForFunction(() => {
    const v = document.querySelector('[data-testid="remote-video"]') as HTMLVideoElement;
    return v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 5;
  }, undefined, { timeout: 20_000 });
}

test("with both visitors relay-only, the call goes through TURN and plays", async ({ visit }) => {
  const a = await visit("A");
  const b = await visit("B");
  for (const { page } of [a, b]) {
    await page.getByTestId("hide-ip").check();
    await button(page, "Call").click();
  }
  for (const { page } of [a, b]) {
    await expect(state(page)).toHaveAttribute("data-state", "connected", { timeout: 20_000 });
    await frames(page);
    // One connection is left once the race's loser is closed, and it goes through the relay.
    await expect.poll(async () => (await iceSummary(page)).selected).toEqual(["relay"]);
    const { received } = await iceSummary(page);
    expect(received.length).toBeGreaterThan(0);
    for (const c of received) expect(c).toContain(" typ relay");
  }
});

test("a visitor who hides their IP reveals no host or reflexive candidate to the stranger", async ({ visit }) => {
  const hider = await visit("hider");
  const open = await visit("open");
  await hider.page.getByTestId("hide-ip").check();
  await button(hider.page, "Call").click();
  await button(open.page, "Call").click();
  for (const { page } of [hider, open]) {
    await expect(state(page)).toHaveAttribute("data-state", "connected", { timeout: 20_000 });
    await frames(page);
  }
  const seen = await iceSummary(open.page);
  expect(seen.received.length).toBeGreaterThan(0);
  for (const c of seen.received) {
    expect(c).toContain(" typ relay");
    expect(c).not.toMatch(/ typ (host|srflx|prflx)/);
  }
  // Not even inside the descriptions: the offer and answer carry no address lines of the hider.
  const sdps = await open.page.evaluate(() =>
    ((window as any).__duetPeerConnections as RTCPeerConnection[]).map((pc) => pc.remoteDescription?.sdp ?? ""),
  );
  for (const sdp of sdps) expect(sdp).not.toMatch(/a=candidate:.* typ (host|srflx|prflx)/);
});

test.describe("with a wrong TURN secret", () => {
  test.use({ turnSecret: "not-the-secret" });

  test("relay-only calls fail with a clear status line, not a black pane", async ({ visit }) => {
    const a = await visit("A");
    const b = await visit("B");
    for (const { page } of [a, b]) {
      await page.getByTestId("hide-ip").check();
      await button(page, "Call").click();
    }
    for (const { page } of [a, b]) {
      await expect(state(page)).toHaveText(
        "Could not connect through the relay server (TURN), so the call cannot start. duet will try someone else.",
        { timeout: 30_000 },
      );
    }
  });
});

test("hiding the IP without a TURN server is explained before calling", async ({ browser }) => {
  // A server with no TURN configured.
  const server = await startServer();
  try {
    const context = await browser.newContext();
    await context.addInitScript(() => window.localStorage.setItem("duet.termsAccepted", "yes"));
    const page = await context.newPage();
    await page.goto(server.url);
    await expect(button(page, "Call")).toBeEnabled();
    await page.getByTestId("hide-ip").check();
    await button(page, "Call").click();
    await expect(state(page)).toHaveText(
      "Hiding your IP needs a relay (TURN) server, and this site has none set up. Untick it to call.",
    );
    await expect(state(page)).toHaveAttribute("data-state", "idle");
    await context.close();
  } finally {
    await stopServer(server);
  }
});
