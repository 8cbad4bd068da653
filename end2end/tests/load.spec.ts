// A cold load on a slow phone: Chromium's CPU throttled 4× and Lighthouse's "slow 4G" link
// (1.6 Mbit/s down, 750 kbit/s up, 150 ms latency), fresh context (nothing cached). The test
// checks that Call works once the page has loaded this way, and prints the time from
// navigation to a usable Call button for scripts/bench.sh (docs/BENCHMARKS.md): speed goals
// live in the benchmarks, not as timed assertions here.
import { test, expect, watchErrors } from "./fixtures";

test("Call works after a cold load on a throttled CPU and link", async ({ browser, server }) => {
  test.setTimeout(120_000);
  const context = await browser.newContext();
  await context.addInitScript(() => window.localStorage.setItem("duet.termsAccepted", "yes"));
  // The moment the Call button turns on, in the page's own clock (performance.now() counts
  // from the navigation's start). The server renders it disabled; the page enables it from an
  // effect once it has hydrated, so this is when a click first works. A MutationObserver
  // sees it at once, where polling from the test would add its own interval.
  await context.addInitScript(() => {
    const w = window as any;
    const check = () => {
      const call = document.querySelector("button.call") as HTMLButtonElement | null;
      if (w.__callReadyAt === undefined && call && !call.disabled) {
        w.__callReadyAt = performance.now();
        observer.disconnect();
      }
    };
    const observer = new MutationObserver(check);
    observer.observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["disabled"] });
  });
  const page = await context.newPage();
  const errors = watchErrors(page);

  const cdp = await context.newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 150,
    downloadThroughput: 1.6e6 / 8,
    uploadThroughput: 750e3 / 8,
  });

  await page.goto(server.url);
  const call = page.getByRole("button", { name: "Call", exact: true });
  await expect(call).toBeEnabled({ timeout: 60_000 });
  const readyAt = await page.evaluate(() => (window as any).__callReadyAt as number | undefined);
  expect(readyAt, "the observer saw Call turn on").toBeDefined();

  // Usable means a click does what it says, on the same throttled page.
  await call.click();
  await expect(page.getByTestId("call-state")).toHaveAttribute("data-state", "searching", { timeout: 30_000 });

  // Where the time went: the page's own timings of the document and the built files.
  const timings = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
    const files = performance
      .getEntriesByType("resource")
      .map((e) => e as PerformanceResourceTiming)
      .filter((e) => e.name.includes("/pkg/"))
      .map((e) => `${e.name.split("/").pop()} ${e.transferSize} B ${Math.round(e.startTime)}-${Math.round(e.responseEnd)} ms`);
    return `html ${Math.round(nav.responseStart)}-${Math.round(nav.responseEnd)} ms, ${files.join(", ")}`;
  });
  console.log(
    `nav-to-call: ${Math.round(readyAt!)} ms from navigation to a working Call button ` +
      `(CPU 4x slower, 1.6 Mbit/s down, 750 kbit/s up, 150 ms; ${timings})`,
  );
  await context.close();
  expect(errors, "console errors in the page").toEqual([]);
});
