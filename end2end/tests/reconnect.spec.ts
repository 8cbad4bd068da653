// Back after an accidental reload or a lost connection: within --reload-grace the tab returns
// to the same call, its partner sees "Stranger is reconnecting…" meanwhile, and both videos
// play again; a tab that does not come back is reported gone once the grace is over.
import { test, expect, Visitor, inCall, remoteVideoPlays } from "./fixtures";
import type { Page } from "@playwright/test";

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

test("a socket cut for two seconds (the network gone) leaves the call standing", async ({ visit }) => {
  // A's signaling socket goes through Playwright, which can cut it and refuse new ones, as a
  // lost network does (the media between the browsers is left alone).
  let offline = false;
  const sockets: { close: () => Promise<void> }[] = [];
  const beforeLoad = (page: Page) =>
    page.routeWebSocket(/\/ws/, (ws) => {
      if (offline) return ws.close({ code: 1006 });
      ws.connectToServer();
      sockets.push(ws);
    });
  const a = await visit("A", { beforeLoad });
  const b = await visit("B");
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);
  await say(b, "before the outage");
  await expect(a.page.getByTestId("chat-log")).toContainText("before the outage");

  offline = true;
  await Promise.all(sockets.map((ws) => ws.close()));
  await expect(state(b.page)).toHaveText("Stranger is reconnecting…");
  await a.page.waitForTimeout(2_000); // the outage itself, as a person would live it
  offline = false;
  await inCall(a, b);
  await Promise.all([remoteVideoPlays(a.page), remoteVideoPlays(b.page)]);
  await expect(b.page.getByTestId("chat-log")).toContainText("before the outage");
  await say(a, "still here");
  await expect(b.page.getByTestId("chat-log")).toContainText("still here");
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
