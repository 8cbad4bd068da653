// The lobby's arrangement in a connected call: on a desktop everything fits one screen with
// the chat beside the videos; on a phone the videos stack and the chat comes below them.
// Screenshots of each go to the test's output folder (test-results/) for a person to look at.
import { test, expect, Visitor, inCall, waitingOnServer } from "./fixtures";
import type { Locator, Page } from "@playwright/test";

type Box = { x: number; y: number; width: number; height: number };

const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true });

/** Two visitors with windows of `size`, in a connected video call. */
async function pairedAt(visit: (name: string, options?: object) => Promise<Visitor>, size: { width: number; height: number }) {
  const a = await visit("A", { viewport: size });
  const b = await visit("B", { viewport: size });
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);
  return a;
}

async function box(locator: Locator): Promise<Box> {
  const found = await locator.boundingBox();
  expect(found, `${locator} is laid out`).not.toBeNull();
  return found!;
}

/** What the call needs on screen, by name. */
function callParts(page: Page): Record<string, Locator> {
  return {
    "remote video": page.getByTestId("remote-video"),
    "local video": page.getByTestId("local-video"),
    "call timer": page.getByTestId("call-timer"),
    Call: button(page, "Call"),
    Next: button(page, "Next"),
    End: button(page, "End"),
    "chat log": page.getByTestId("chat-log"),
    "chat input": page.getByTestId("chat-input"),
  };
}

async function fitsOneScreen(page: Page) {
  const viewport = page.viewportSize()!;
  const { scrollHeight, scrollWidth, innerHeight, innerWidth } = await page.evaluate(() => ({
    scrollHeight: document.documentElement.scrollHeight,
    scrollWidth: document.documentElement.scrollWidth,
    innerHeight: window.innerHeight,
    innerWidth: window.innerWidth,
  }));
  expect(scrollHeight, "the page does not scroll down").toBeLessThanOrEqual(innerHeight);
  expect(scrollWidth, "the page does not scroll sideways").toBeLessThanOrEqual(innerWidth);
  const boxes: Record<string, Box> = {};
  for (const [name, locator] of Object.entries(callParts(page))) {
    const b = await box(locator);
    expect(b.x, `${name} starts inside the window`).toBeGreaterThanOrEqual(0);
    expect(b.y, `${name} starts inside the window`).toBeGreaterThanOrEqual(0);
    expect(b.x + b.width, `${name} ends inside the window`).toBeLessThanOrEqual(viewport.width);
    expect(b.y + b.height, `${name} ends inside the window`).toBeLessThanOrEqual(viewport.height);
    boxes[name] = b;
  }
  // The chat beside the videos, the stranger above the visitor.
  const videosEnd = Math.max(...["remote video", "local video"].map((n) => boxes[n].x + boxes[n].width));
  for (const name of ["chat log", "chat input"]) {
    expect(boxes[name].x, `${name} is right of the videos`).toBeGreaterThanOrEqual(videosEnd);
  }
  expect(boxes["remote video"].y + boxes["remote video"].height).toBeLessThanOrEqual(boxes["local video"].y);
  // The log has room for a conversation, not just a line.
  expect(boxes["chat log"].height).toBeGreaterThan(150);
}

test("on a desktop the whole call fits the screen, the chat beside the videos", async ({ visit }, testInfo) => {
  const a = await pairedAt(visit, { width: 1366, height: 768 });
  await a.page.getByTestId("chat-input").fill("hello from the left column");
  await a.page.getByTestId("chat-input").press("Enter");
  await expect(a.page.getByTestId("chat-log")).toContainText("hello from the left column");
  await fitsOneScreen(a.page);
  await a.page.screenshot({ path: testInfo.outputPath("desktop-1366x768.png") });

  // The Report menu opens within the window too.
  await a.page.getByText("Report", { exact: true }).click();
  const reasons = await box(a.page.getByRole("group", { name: "Why are you reporting this stranger?" }));
  expect(reasons.y).toBeGreaterThanOrEqual(0);
  expect(reasons.y + reasons.height).toBeLessThanOrEqual(768);
  await a.page.screenshot({ path: testInfo.outputPath("desktop-1366x768-report.png") });
  await a.page.getByText("Report", { exact: true }).click();

  // A 1366×768 screen leaves about 657 pixels to the page under the browser's own bars.
  await a.page.setViewportSize({ width: 1366, height: 657 });
  await fitsOneScreen(a.page);
  await a.page.screenshot({ path: testInfo.outputPath("desktop-1366x657.png") });
});

test("on a desktop the call still fits with three recent strangers listed", async ({ visit }, testInfo) => {
  const size = { width: 1366, height: 768 };
  const a = await visit("A", { viewport: size });
  const b = await visit("B", { viewport: size });
  const c = await visit("C", { viewport: size });
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);
  await button(c.page, "Call").click();
  await waitingOnServer(c.page);
  // Each Next leads A to whoever waits: C, then B, then C again.
  for (const [stranger, listed] of [[c, 1], [b, 2], [c, 3]] as const) {
    await button(a.page, "Next").click();
    await inCall(a, stranger);
    await expect(a.page.getByTestId("recent-stranger")).toHaveCount(listed);
  }
  await a.page.screenshot({ path: testInfo.outputPath("desktop-1366x768-recent.png") });
  await fitsOneScreen(a.page);
});

test("on a phone the videos stack and the controls and chat follow below", async ({ visit }, testInfo) => {
  const a = await pairedAt(visit, { width: 390, height: 844 });
  const parts = callParts(a.page);
  const [remote, local, call, end, log, input] = await Promise.all(
    ["remote video", "local video", "Call", "End", "chat log", "chat input"].map((n) => box(parts[n])),
  );
  // One column: the stranger on top, then the visitor, the buttons in one row, then the chat.
  expect(remote.y + remote.height).toBeLessThanOrEqual(local.y);
  expect(local.y + local.height).toBeLessThanOrEqual(call.y);
  expect(Math.abs(call.y - end.y), "the buttons share a row").toBeLessThan(2);
  expect(call.y + call.height).toBeLessThanOrEqual(log.y);
  expect(log.y + log.height).toBeLessThanOrEqual(input.y);
  // Each as wide as the screen allows, none wider.
  for (const b of [remote, local, log]) {
    expect(b.x).toBeGreaterThanOrEqual(0);
    expect(b.x + b.width).toBeLessThanOrEqual(390);
    expect(b.width).toBeGreaterThan(300);
  }
  await a.page.screenshot({ path: testInfo.outputPath("phone-390x844.png"), fullPage: true });
});
