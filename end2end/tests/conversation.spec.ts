// What people expect around a call: chat, interests, media switches, text-only, quality,
// the rules gate, and a layout for phones and desktops.
import { test, expect, Visitor } from "./fixtures";
import type { Page } from "@playwright/test";

const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true });
const state = (page: Page) => page.getByTestId("call-state");

async function call(...visitors: Visitor[]) {
  for (const { page } of visitors) await button(page, "Call").click();
}
async function connected(...visitors: Visitor[]) {
  for (const { page } of visitors) {
    await expect(state(page)).toHaveAttribute("data-state", "connected", { timeout: 20_000 });
  }
}

test("chat: lines go to the stranger as text, typing shows and clears, the log clears after the call", async ({ visit }) => {
  const a = await visit("A");
  const b = await visit("B");
  await call(a, b);
  await connected(a, b);

  const input = a.page.getByTestId("chat-input");
  await input.pressSequentially("hi <b>there</b>");
  await expect(b.page.getByTestId("typing-indicator")).toHaveText("Stranger is typing…");
  await input.press("Enter");
  const got = b.page.getByTestId("chat-log").locator('[data-from="stranger"]');
  await expect(got).toHaveText("Stranger: hi <b>there</b>");
  // Text, never HTML: no <b> element was made from it.
  await expect(got.locator("b")).toHaveCount(0);
  await expect(a.page.getByTestId("chat-log").locator('[data-from="me"]')).toHaveText("You: hi <b>there</b>");
  await expect(b.page.getByTestId("typing-indicator")).toHaveCount(0);
  await expect(input).toHaveValue("");

  // Typing without sending: the indicator clears by itself once A stops.
  await b.page.getByTestId("chat-input").pressSequentially("hmm");
  await expect(a.page.getByTestId("typing-indicator")).toBeVisible();
  await expect(a.page.getByTestId("typing-indicator")).toHaveCount(0, { timeout: 10_000 });

  await button(a.page, "Next").click();
  await connected(a, b);
  await expect(a.page.getByTestId("chat-log").locator("li")).toHaveCount(0);
  await expect(b.page.getByTestId("chat-log").locator("li")).toHaveCount(0);
});

test.describe("interests", () => {
  // Long enough that the preference never runs out during the test.
  test.use({ serverArgs: ["--interest-wait", "60s"] });

  test("a stranger with a shared interest is preferred, both see which, and interests are remembered", async ({ visit }) => {
    const anyone = await visit("anyone");
    const a = await visit("A");
    const b = await visit("B");
    // Every browser here speaks English, the language a page offers first: the one who takes
    // anyone says so.
    await anyone.page.getByTestId("language").selectOption("");
    await call(anyone);
    await a.page.getByTestId("interests").fill(" Jazz, chess ");
    await call(a);
    // A waits for a fellow fan rather than taking the stranger who waits already.
    await expect(state(a.page)).toHaveAttribute("data-state", "searching");
    await b.page.getByTestId("interests").fill("JAZZ");
    await call(b);
    await connected(a, b);
    for (const { page } of [a, b]) {
      await expect(page.getByTestId("shared-interests")).toHaveText("You both like: jazz");
    }
    await expect(state(anyone.page)).toHaveAttribute("data-state", "searching");

    await button(a.page, "End").click();
    await a.page.reload();
    await expect(a.page.getByTestId("interests")).toHaveValue(" Jazz, chess ");
  });

  test("a stranger who speaks the same language is preferred, both see it, and it is remembered", async ({ visit }) => {
    const english = await visit("English");
    const a = await visit("A");
    const b = await visit("B");
    // The page offers the browser's own language first.
    await expect(english.page.getByTestId("language")).toHaveValue("en");
    await call(english);
    await a.page.getByTestId("language").selectOption("es");
    await call(a);
    await expect(state(a.page)).toHaveAttribute("data-state", "searching");
    await b.page.getByTestId("language").selectOption("es");
    await call(b);
    await connected(a, b);
    for (const { page } of [a, b]) {
      await expect(page.getByTestId("shared-language")).toHaveText("You both speak Español");
    }
    await expect(state(english.page)).toHaveAttribute("data-state", "searching");

    await button(a.page, "End").click();
    await a.page.reload();
    await expect(a.page.getByTestId("language")).toHaveValue("es");
  });

  test("too many interests are explained before calling", async ({ visit }) => {
    const a = await visit("A");
    await a.page.getByTestId("interests").fill("a, b, c, d, e, f");
    await call(a);
    await expect(state(a.page)).toHaveText("At most 5 interests, please.");
    await expect(state(a.page)).toHaveAttribute("data-state", "idle");
  });
});

test.describe("preferences run out", () => {
  test.use({ serverArgs: ["--interest-wait", "500ms"] });

  test("with no fellow fan around, a visitor with interests meets anyone after the wait", async ({ visit }) => {
    const anyone = await visit("anyone");
    const a = await visit("A");
    await call(anyone);
    await a.page.getByTestId("interests").fill("go");
    await call(a);
    await connected(a, anyone);
    await expect(a.page.getByTestId("shared-interests")).toHaveCount(0);
  });

  test("a video visitor paired with a text-only one sees a placeholder, not a black pane", async ({ visit }) => {
    const video = await visit("video");
    const text = await visit("text");
    await call(video);
    await text.page.getByTestId("text-only").check();
    await call(text);
    await connected(video, text);
    await expect(video.page.getByTestId("remote-placeholder")).toHaveText(
      "This stranger is in text-only mode: say hi in the chat.",
    );
    await expect(video.page.getByTestId("remote-video")).toBeHidden();
    await expect(text.page.getByTestId("remote-placeholder")).toHaveText("You are in text-only mode: say hi in the chat.");
    await text.page.getByTestId("chat-input").fill("hello from text");
    await text.page.getByTestId("chat-input").press("Enter");
    await expect(video.page.getByTestId("chat-log")).toContainText("hello from text");
  });
});

test("text-only visitors are paired with each other first", async ({ visit }) => {
  const video = await visit("video");
  const t1 = await visit("T1");
  const t2 = await visit("T2");
  await call(video);
  for (const t of [t1, t2]) {
    await t.page.getByTestId("text-only").check();
    await call(t);
  }
  await connected(t1, t2);
  await expect(state(video.page)).toHaveAttribute("data-state", "searching");
  // Remembered for the next visit.
  await t1.page.reload();
  await expect(t1.page.getByTestId("text-only")).toBeChecked();
});

test("mute and camera-off reach the stranger, the quality shows, and Esc is Next", async ({ visit, server }) => {
  const a = await visit("A");
  const b = await visit("B");
  const c = await visit("C");
  await call(a, b);
  await connected(a, b);
  const media = b.page.getByTestId("stranger-media");
  await expect(media).toHaveAttribute("data-mic", "on");
  await expect(media).toHaveAttribute("data-camera", "on");

  await a.page.getByTestId("mute").click();
  await expect(a.page.getByTestId("mute")).toHaveAttribute("aria-pressed", "true");
  await expect(media).toHaveAttribute("data-mic", "off");
  await a.page.getByTestId("camera").click();
  await expect(a.page.getByTestId("camera")).toHaveAttribute("aria-pressed", "true");
  await expect(media).toHaveAttribute("data-camera", "off");
  await expect(media).toHaveText("Stranger is muted. Stranger's camera is off.");
  // The tracks are disabled, not removed: nothing was renegotiated.
  const enabled = await a.page.getByTestId("local-video").evaluate((v: HTMLVideoElement) =>
    (v.srcObject as MediaStream).getTracks().map((t) => t.enabled),
  );
  expect(enabled).toEqual([false, false]);
  await a.page.getByTestId("mute").click();
  await expect(media).toHaveAttribute("data-mic", "on");

  await expect(b.page.getByTestId("call-quality")).toHaveText(/^RTT \d+ ms · loss \d+\.\d%$/, { timeout: 10_000 });

  // Esc: A leaves B for the waiting C (once the server has C waiting: C's first Call leaves
  // only when its camera is open).
  await call(c);
  await expect
    .poll(async () => (await (await fetch(`${server.url}/healthz`)).json()).searching)
    .toBe(1);
  await a.page.keyboard.press("Escape");
  await connected(a, c);
  await expect(state(b.page)).toHaveAttribute("data-state", "searching");
  await expect(a.page.getByText("for the next stranger.")).toBeVisible();
});

test("the rules must be accepted before the first call, once", async ({ visit }) => {
  const a = await visit("newcomer", { acceptedTerms: false, expectLobby: false });
  await expect(a.page.getByRole("heading", { name: "Before you call" })).toBeVisible();
  await expect(a.page.getByTestId("terms-accept")).toBeEnabled();
  await expect(button(a.page, "Call")).toBeDisabled();
  await a.page.getByTestId("terms-accept").click();
  await expect(button(a.page, "Call")).toBeEnabled();
  await a.page.reload();
  await expect(button(a.page, "Call")).toBeEnabled();
  await expect(a.page.getByRole("heading", { name: "Before you call" })).toHaveCount(0);
});

for (const [name, viewport] of [
  ["phone", { width: 390, height: 844 }],
  ["desktop", { width: 1280, height: 800 }],
] as const) {
  test(`the layout works on a ${name}`, async ({ visit }, testInfo) => {
    const a = await visit("A", { viewport });
    const b = await visit("B", { viewport });
    await call(a, b);
    await connected(a, b);
    const remote = (await a.page.locator(".pane.remote").boundingBox())!;
    const local = (await a.page.locator(".pane.local").boundingBox())!;
    const controls = (await a.page.locator(".controls").boundingBox())!;
    if (name === "phone") {
      // Stacked: the stranger on top, then you, and the buttons within the screen's width.
      expect(remote.y + remote.height).toBeLessThanOrEqual(local.y);
      expect(controls.x + controls.width).toBeLessThanOrEqual(viewport.width);
      for (const control of await a.page.locator(".controls button, .controls summary").all()) {
        const box = (await control.boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
      }
    } else {
      // The videos in a column, the chat beside them (layout.spec checks the rest).
      expect(remote.y + remote.height).toBeLessThanOrEqual(local.y);
      const chat = (await a.page.getByTestId("chat-log").boundingBox())!;
      expect(chat.x).toBeGreaterThanOrEqual(Math.max(remote.x + remote.width, local.x + local.width));
    }
    // Nothing sticks out sideways: no horizontal scrolling.
    expect(await a.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
    await a.page.screenshot({ path: testInfo.outputPath(`${name}.png`), fullPage: true });
    await testInfo.attach(`${name} screenshot`, { path: testInfo.outputPath(`${name}.png`), contentType: "image/png" });
  });
}
