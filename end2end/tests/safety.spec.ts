// Safety as a visitor and a moderator see it: reporting, bans, limits, foreign pages.
import { test, expect, Visitor } from "./fixtures";
import type { Page } from "@playwright/test";

const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true });
const state = (page: Page) => page.getByTestId("call-state");

async function connected(...visitors: Visitor[]) {
  for (const { page } of visitors) {
    await expect(state(page)).toHaveAttribute("data-state", "connected", { timeout: 20_000 });
  }
}

test.describe("reports and bans", () => {
  // Every visitor comes from 127.0.0.1 here, so each poses as its own address through the
  // trusted-proxy header, as real visitors behind a reverse proxy would appear.
  test.use({ serverArgs: ["--trusted-proxies", "127.0.0.1", "--ban-after-reports", "1", "--admin-token", "t0ken-for-the-moderators"] });

  test("a reported stranger is banned and told; a moderator lifts the ban", async ({ visit, server }) => {
    const a = await visit("A", { headers: { "X-Forwarded-For": "198.51.100.1" } });
    const b = await visit("B", { headers: { "X-Forwarded-For": "203.0.113.66" } });
    await button(a.page, "Call").click();
    await button(b.page, "Call").click();
    await connected(a, b);

    await a.page.getByText("Report", { exact: true }).click();
    await button(a.page, "Harassment or hate").click();
    await expect(state(a.page)).toHaveText("Thanks, the stranger was reported. Finding someone new…");
    await expect(state(a.page)).toHaveAttribute("data-state", "searching");

    await expect(state(b.page)).toContainText("You have been banned after reports from other visitors, until");
    await expect(state(b.page)).toHaveAttribute("data-state", "idle");
    await expect(button(b.page, "Call")).toBeDisabled();

    // The moderator signs in, sees the report and the ban, and lifts it.
    const mod = await visit("moderator", { url: `${server.url}/admin`, expectLobby: false });
    await mod.page.getByTestId("admin-token").fill("t0ken-for-the-moderators");
    await button(mod.page, "Sign in").click();
    await expect(mod.page.getByTestId("reports").locator("tbody tr")).toHaveCount(1);
    await expect(mod.page.getByTestId("reports").locator("tbody tr")).toContainText("harassment");
    await expect(mod.page.getByTestId("bans").locator("tbody tr")).toHaveCount(1);
    await button(mod.page, "Lift ban").click();
    await expect(mod.page.getByTestId("bans").locator("tbody tr")).toHaveCount(0);

    // B is welcome again.
    await b.page.reload();
    await expect(button(b.page, "Call")).toBeEnabled();
    await button(b.page, "Call").click();
    await connected(a, b);
  });

  test("a moderator who types the token before the page is ready is signed in with it", async ({ visit, server }) => {
    // The page's wasm is held back until the token is typed, as on a slow link.
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const mod = await visit("moderator", {
      url: `${server.url}/admin`,
      expectLobby: false,
      beforeLoad: (page) =>
        page.route(/\.wasm$/, async (route) => {
          await held;
          await route.continue();
        }),
    });
    await expect(button(mod.page, "Sign in")).toBeDisabled();
    await mod.page.getByTestId("admin-token").fill("t0ken-for-the-moderators");
    release();
    await expect(button(mod.page, "Sign in")).toBeEnabled();
    await button(mod.page, "Sign in").click();
    await expect(mod.page.getByTestId("reports")).toBeVisible();
    await expect(mod.page.getByRole("alert")).toHaveCount(0);
  });

  test("a wrong admin token shows an error and nothing else", async ({ visit, server }) => {
    const mod = await visit("moderator", { url: `${server.url}/admin`, expectLobby: false });
    await expect(button(mod.page, "Sign in")).toBeEnabled();
    await mod.page.getByTestId("admin-token").fill("guess");
    await button(mod.page, "Sign in").click();
    await expect(mod.page.getByRole("alert")).toHaveText("Wrong token.");
    await expect(mod.page.getByTestId("reports")).toHaveCount(0);
    // The browser logs the refused request itself; that 403 is the expected answer.
    expect(mod.errors).toEqual([expect.stringContaining("status of 403 (Forbidden)")]);
    mod.errors.length = 0;
  });
});

test.describe("limits", () => {
  test.use({ serverArgs: ["--next-burst", "1", "--next-rate", "0.01"] });

  test("pressing Next too fast is explained, and leaves the visitor idle", async ({ visit }) => {
    const a = await visit("A");
    const b = await visit("B");
    await button(a.page, "Call").click();
    await button(b.page, "Call").click();
    await connected(a, b);
    // The first Next is fine (with nobody else around, the two meet again)...
    await button(a.page, "Next").click();
    await connected(a, b);
    // ...the second is one too many.
    await button(a.page, "Next").click();
    await expect(state(a.page)).toHaveText("Slow down: wait a moment before pressing Next again.");
    await expect(state(a.page)).toHaveAttribute("data-state", "idle");
    await expect(state(b.page)).toHaveAttribute("data-state", "searching");
  });
});

test("a page on another site cannot open a duet socket", async ({ visit, server }) => {
  const own = await visit("own");
  const socketUrl = server.url.replace("http://", "ws://") + "/ws";
  const opens = (page: Page) =>
    page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(url);
          ws.onopen = () => {
            ws.close();
            resolve("open");
          };
          ws.onerror = () => resolve("refused");
        }),
      socketUrl,
    );
  expect(await opens(own.page)).toBe("open");
  const foreign = await visit("foreign", { url: "about:blank", expectLobby: false });
  // The refused handshake is logged by the browser; that is the point of this test.
  foreign.page.removeAllListeners("console");
  expect(await opens(foreign.page)).toBe("refused");
  foreign.errors.length = 0;
});
