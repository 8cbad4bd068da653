// A stranger found while the tab is in the background: the tab's title says so until the
// visitor looks, and a short chime plays unless the visitor switched it off.
//
// How the tab is put in the background: Playwright's Chromium reports every page as visible,
// whatever happens to it. Tried and unchanged (document.hidden stayed false, no
// visibilitychange fired): another tab of the same window brought to the front, the window
// minimised over CDP (Browser.setWindowBounds), with CDP's focus emulation switched off, and
// with Chromium's backgrounding switches left out. So the page is told what a browser tells a
// background tab, at the same boundary it reads: `document.hidden` and `visibilityState`
// (overridden on Document.prototype before the page's own scripts run) and a real
// `visibilitychange` event at the document. Everything after that boundary is the page's own
// code. The chime is counted where it reaches the browser: every OscillatorNode started.
import { test, expect, Visitor } from "./fixtures";
import type { Page } from "@playwright/test";

const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true });
const state = (page: Page) => page.getByTestId("call-state");
const soundSwitch = (page: Page) => page.getByTestId("found-sound");

const TITLE = "duet: random video chat";
const FOUND = "Stranger found · duet";

/** Runs in the page before its own scripts: a switchable background, a chime counter. */
function backgroundable() {
  let hidden = false;
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true,
    get: () => (hidden ? "hidden" : "visible"),
  });
  (window as any).__duetSetHidden = (value: boolean) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  };
  (window as any).__duetTonesStarted = 0;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (this: OscillatorNode, ...args: [number?]) {
    (window as any).__duetTonesStarted += 1;
    return start.apply(this, args);
  };
}

const setHidden = (v: Visitor, hidden: boolean) => v.page.evaluate((h) => (window as any).__duetSetHidden(h), hidden);
const tonesStarted = (v: Visitor) => v.page.evaluate(() => (window as any).__duetTonesStarted as number);

test("a stranger found in a background tab changes its title and chimes", async ({ visit }) => {
  const a = await visit("A", { init: backgroundable });
  const b = await visit("B", { init: backgroundable });
  await expect(soundSwitch(a.page), "the sound is on by default").toBeChecked();
  await expect(a.page).toHaveTitle(TITLE);

  // A calls, then goes to another tab; B calls and they meet.
  await button(a.page, "Call").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "searching");
  await setHidden(a, true);
  await button(b.page, "Call").click();
  await expect(a.page).toHaveTitle(FOUND);
  await expect.poll(() => tonesStarted(a), { message: "A's chime started" }).toBeGreaterThan(0);
  // B was looking at its tab: nothing to announce.
  await expect(state(b.page)).toHaveAttribute("data-state", /connecting|connected/);
  expect(await tonesStarted(b)).toBe(0);
  await expect(b.page).toHaveTitle(TITLE);

  // A comes back to the tab: the title is the page's own again.
  await setHidden(a, false);
  await expect(a.page).toHaveTitle(TITLE);

  // Found in the background again, but the stranger leaves before A looks: the title goes
  // back with the call.
  await button(b.page, "End").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "searching");
  await setHidden(a, true);
  await button(b.page, "Call").click();
  await expect(a.page).toHaveTitle(FOUND);
  await button(b.page, "End").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "searching");
  await expect(a.page).toHaveTitle(TITLE);
});

test("with the sound switched off only the title tells, and the switch is remembered", async ({ visit }) => {
  const a = await visit("A", { init: backgroundable });
  const b = await visit("B");
  await soundSwitch(a.page).uncheck();

  await button(a.page, "Call").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "searching");
  await setHidden(a, true);
  await button(b.page, "Call").click();
  // The chime would start in the same step that marks the title.
  await expect(a.page).toHaveTitle(FOUND);
  expect(await tonesStarted(a)).toBe(0);

  // The switch survives a reload, and so does switching it back on. (End first: a reload
  // in a call returns to the call.)
  await setHidden(a, false);
  await button(a.page, "End").click();
  await a.page.reload();
  await expect(button(a.page, "Call")).toBeEnabled();
  await expect(soundSwitch(a.page)).not.toBeChecked();
  await soundSwitch(a.page).check();
  await a.page.reload();
  await expect(button(a.page, "Call")).toBeEnabled();
  await expect(soundSwitch(a.page)).toBeChecked();
});
