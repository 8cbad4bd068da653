// "Never again" and "Recent strangers" as visitors use them: blocking a stranger for good,
// reporting or blocking one already left behind, and taking the blocks back.
import { test, expect, Visitor } from "./fixtures";
import type { Page } from "@playwright/test";

const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true });
const state = (page: Page) => page.getByTestId("call-state");

async function connected(...visitors: Visitor[]) {
  for (const { page } of visitors) {
    await expect(state(page)).toHaveAttribute("data-state", "connected", { timeout: 20_000 });
  }
}

/** Waits until the server's metrics read `searching` waiting and `calls` in progress. */
async function serverCounts(url: string, searching: number, calls: number) {
  await expect
    .poll(async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const read = (name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1]);
      return [read("duet_sessions_searching"), read("duet_calls_active")];
    })
    .toEqual([searching, calls]);
}

// Every visitor poses as its own address through the trusted-proxy header: blocks name the
// stranger's address as well as their browser's key.
test.use({ serverArgs: ["--trusted-proxies", "127.0.0.1", "--ban-after-reports", "1"] });
const from = (ip: string) => ({ headers: { "X-Forwarded-For": ip } });

test("a blocked stranger is never met again, even after a reload, until the blocks are cleared", async ({
  visit,
  server,
}) => {
  const a = await visit("A", from("198.51.100.1"));
  const b = await visit("B", from("198.51.100.2"));
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await connected(a, b);

  await button(a.page, "Don't match again").click();
  await expect(state(a.page)).toHaveText("You won't meet that stranger again. Finding someone new…");
  await expect(a.page.getByTestId("blocked-count")).toContainText("You have blocked 1 stranger.");
  await expect(state(b.page)).toHaveAttribute("data-state", "searching");
  // Both search, alone on the site, and do not meet: matching is instant, so a pair would
  // have been made when the second of them started searching.
  await serverCounts(server.url, 2, 0);

  // A reloads: the browser kept its visitor key, so the block still holds.
  await a.page.reload();
  await expect(button(a.page, "Call")).toBeEnabled();
  await expect(a.page.getByTestId("blocked-count")).toContainText("You have blocked 1 stranger.");
  await button(a.page, "Call").click();
  await serverCounts(server.url, 2, 0);

  // C and D arrive: each meets one of the two, and A's chat reaches C or D, never B.
  const c = await visit("C", from("192.0.2.3"));
  const d = await visit("D", from("192.0.2.4"));
  await button(c.page, "Call").click();
  await button(d.page, "Call").click();
  await connected(a, b, c, d);
  await a.page.getByTestId("chat-input").fill("hello from A");
  await a.page.getByTestId("chat-input").press("Enter");
  const heard = async (v: Visitor) => (await v.page.getByTestId("chat-log").textContent()) ?? "";
  await expect.poll(async () => (await heard(c)) + (await heard(d))).toContain("hello from A");
  expect(await heard(b)).not.toContain("hello from A");

  // Unblock all: A and B meet again.
  await button(a.page, "End").click();
  await button(a.page, "Unblock all").click();
  await expect(a.page.getByTestId("blocked-count")).toBeHidden();
  await button(c.page, "End").click();
  await button(d.page, "End").click();
  await expect(state(b.page)).toHaveAttribute("data-state", "searching");
  await button(a.page, "Call").click();
  await connected(a, b);
});

test("a stranger left behind with Next can still be reported and blocked from Recent strangers", async ({
  visit,
  server,
}) => {
  const a = await visit("A", from("198.51.100.1"));
  const b = await visit("B", from("203.0.113.66"));
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await connected(a, b);
  // C waits, so A's Next leads to C rather than back to B.
  const c = await visit("C", from("192.0.2.3"));
  await button(c.page, "Call").click();
  await serverCounts(server.url, 1, 1);
  await button(a.page, "Next").click();
  await connected(a, c);

  const recent = a.page.getByTestId("recent-stranger");
  await expect(recent).toHaveCount(1);
  await recent.getByText("Report", { exact: true }).click();
  await recent.getByRole("button", { name: "Nudity or sexual content" }).click();
  // The report counts as if made in the call: with one report enough here, B is banned.
  await expect(recent).toContainText("Reported");
  await expect(state(b.page)).toContainText("You have been banned after reports from other visitors");

  await recent.getByRole("button", { name: "Don't match again" }).click();
  await expect(recent).toContainText("Blocked");
  await expect(a.page.getByTestId("blocked-count")).toContainText("You have blocked 1 stranger.");
});
