// Video screening (README, "Video screening"): the stranger's video is blurred until a real
// classifier (nsfwjs' MobileNetV2 on TensorFlow.js, in a worker, served by the site) found a
// frame of Chromium's fake camera clean. With --screening-threshold 0 every frame counts as
// positive: a setting of the real classifier, no stub.
import { test, expect, Visitor, remoteVideoPlays, watchErrors } from "./fixtures";
import type { Page } from "@playwright/test";

const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true });
const state = (page: Page) => page.getByTestId("call-state");
const remote = (page: Page) => page.getByTestId("remote-video");
const filter = (page: Page) => remote(page).evaluate((v) => getComputedStyle(v).filter);

/** Records every request the visitor's pages and workers make, from before the first one. */
function recordRequests(urls: string[]) {
  return async (page: Page) => {
    page.context().on("request", (request) => urls.push(request.url()));
  };
}

/** From now on, records the remote video's screening state and CSS filter as its first frame
 *  is presented; `firstFrame` reads them. */
async function watchFirstFrame(page: Page) {
  await remote(page).evaluate((video: HTMLVideoElement) => {
    (window as any).__duetFirstFrame = new Promise((resolve) =>
      video.requestVideoFrameCallback(() =>
        resolve({ screening: video.dataset.screening, filter: getComputedStyle(video).filter }),
      ),
    );
  });
}
const firstFrame = (page: Page) => page.evaluate(() => (window as any).__duetFirstFrame);

async function call(a: Visitor, b: Visitor) {
  await Promise.all([watchFirstFrame(a.page), watchFirstFrame(b.page)]);
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await Promise.all(
    [a, b].map(({ page }) => expect(state(page)).toHaveAttribute("data-state", "connected", { timeout: 20_000 })),
  );
}

function onlyOwnOrigin(urls: string[], origin: string) {
  const foreign = urls.filter((u) => !u.startsWith(origin + "/") && !u.startsWith(origin.replace("http", "ws") + "/"));
  expect(foreign, "requests that left the site").toEqual([]);
}

test("the stranger's video is blurred at connect and sharp after a clean verdict; nothing leaves the site", async ({
  visit,
  server,
}) => {
  const urls: string[] = [];
  const a = await visit("A", { beforeLoad: recordRequests(urls) });
  const b = await visit("B");
  await call(a, b);
  // The first frame shown was already blurred.
  const first = await firstFrame(a.page);
  expect(["waiting", "checking"]).toContain(first.screening);
  expect(first.filter).toContain("blur");
  // Then sharp, on the classifier's verdict, and the video plays.
  await expect(remote(a.page)).toHaveAttribute("data-screening", "clear", { timeout: 20_000 });
  expect(await filter(a.page)).toBe("none");
  await expect(a.page.getByTestId("screening-veil")).toHaveCount(0);
  await remoteVideoPlays(a.page);
  await expect(remote(b.page)).toHaveAttribute("data-screening", "clear", { timeout: 20_000 });
  // A real model ran on a real backend, frame after frame.
  await expect(remote(a.page)).toHaveAttribute("data-screening-backend", /^(wasm|webgl|cpu)$/);
  await expect(remote(a.page)).toHaveAttribute("data-screening-frame-ms", /^\d/);

  // The worker, TensorFlow.js, the WebAssembly and the model all came from the site itself.
  const screeningFiles = urls.filter((u) => u.includes("/screening/"));
  expect(screeningFiles.some((u) => /\/screening\/worker\.[0-9a-f]{16}\.js$/.test(u))).toBe(true);
  expect(screeningFiles.some((u) => /\/screening\/weights\.[0-9a-f]{16}\.bin$/.test(u))).toBe(true);
  expect(screeningFiles.some((u) => /\.wasm$/.test(u))).toBe(true);
  onlyOwnOrigin(urls, server.url);
  // Cached for good: the names change with the content.
  const worker = screeningFiles.find((u) => u.includes("/screening/worker."))!;
  const response = await a.page.request.get(worker);
  expect(response.headers()["cache-control"]).toBe("public, max-age=31536000, immutable");
});

test.describe("every frame positive", () => {
  test.use({ serverArgs: ["--screening-threshold", "0", "--admin-token", "t0ken-for-the-moderators"] });

  test("the video stays blurred; Show anyway shows it; Report sends nudity, flagged by screening", async ({
    visit,
    server,
  }) => {
    const a = await visit("A");
    const b = await visit("B");
    await call(a, b);
    for (const v of [a, b]) {
      await expect(remote(v.page)).toHaveAttribute("data-screening", "flagged", { timeout: 20_000 });
      await expect(v.page.getByTestId("screening-veil")).toContainText("may show nudity");
      expect(await filter(v.page)).toContain("blur");
    }
    // It stays blurred while frames keep coming.
    await remoteVideoPlays(a.page);
    await expect(remote(a.page)).toHaveAttribute("data-screening", "flagged");

    await button(a.page, "Show anyway").click();
    await expect(remote(a.page)).toHaveAttribute("data-screening", "shown");
    expect(await filter(a.page)).toBe("none");
    await expect(a.page.getByTestId("screening-veil")).toHaveCount(0);

    // Report moves on, as any report does; with nobody else online, the two meet again at
    // once, so the status line's thanks may already be gone: the moderators' page is the proof.
    await b.page.getByTestId("screening-report").click();
    // The moderators' page reads the reports once, when it opens: only after the server has
    // recorded this one.
    await expect
      .poll(async () => {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        return Number(/^duet_reports_total (\d+)/m.exec(text)?.[1]);
      })
      .toBe(1);

    const mod = await visit("moderator", { url: `${server.url}/admin`, expectLobby: false });
    await mod.page.getByTestId("admin-token").fill("t0ken-for-the-moderators");
    await button(mod.page, "Sign in").click();
    const rows = mod.page.getByTestId("reports").locator("tbody tr");
    await expect(rows).toHaveCount(1);
    await expect(rows).toContainText("nudity");
    await expect(rows.getByTestId("screened")).toHaveText("flagged by screening");
  });
});

test("a visitor who switched screening off sees the video at once and loads no model", async ({ visit }) => {
  const urls: string[] = [];
  const a = await visit("A", { beforeLoad: recordRequests(urls) });
  const b = await visit("B");
  await a.page.getByTestId("screen-video").uncheck();
  // Remembered: the visitor's next page has it off, and fetches nothing of the screening. (The
  // first page is closed, with the worker it may already have started while idle.)
  const context = a.page.context();
  await a.page.close();
  urls.length = 0;
  const page = await context.newPage();
  const again: Visitor = { page, errors: watchErrors(page), name: "A again" };
  await page.goto(a.page.url());
  await expect(button(page, "Call")).toBeEnabled();
  await expect(page.getByTestId("screen-video")).not.toBeChecked();
  await call(again, b);
  const first = await firstFrame(page);
  expect(first).toEqual({ screening: "off", filter: "none" });
  await remoteVideoPlays(page);
  expect(urls.filter((u) => u.includes("/screening/"))).toEqual([]);
  expect(again.errors).toEqual([]);
  // The stranger still screens for themselves.
  await expect(remote(b.page)).toHaveAttribute("data-screening", "clear", { timeout: 20_000 });
});

test.describe("operator default off", () => {
  test.use({ serverArgs: ["--screening", "off"] });

  test("the video shows at once and no model is loaded", async ({ visit }) => {
    const urls: string[] = [];
    const a = await visit("A", { beforeLoad: recordRequests(urls) });
    const b = await visit("B");
    await expect(a.page.getByTestId("screen-video")).not.toBeChecked();
    await call(a, b);
    expect(await firstFrame(a.page)).toEqual({ screening: "off", filter: "none" });
    await remoteVideoPlays(a.page);
    expect(urls.filter((u) => u.includes("/screening/"))).toEqual([]);
  });
});

// The benchmark (scripts/bench.sh, docs/BENCHMARKS.md "Video screening"): from the first
// remote frame presented to the first verdict, the worker's time per frame, and the model's
// load, at full speed and with the page's CPU 4x slower (Chromium's own throttle).
for (const rate of [1, 4]) {
  test(`screening benchmark, CPU ${rate}x`, async ({ visit }) => {
    const a = await visit("A");
    const b = await visit("B");
    if (rate > 1) {
      const cdp = await a.page.context().newCDPSession(a.page);
      await cdp.send("Emulation.setCPUThrottlingRate", { rate });
    }
    // The model is loaded (the lobby was idle) before the call, as for a visitor who calls
    // a moment after the page opened.
    await expect(remote(a.page)).toHaveAttribute("data-screening-load-ms", /^\d/, { timeout: 30_000 });
    await remote(a.page).evaluate((video: HTMLVideoElement) => {
      (window as any).__duetVerdict = new Promise((resolve) => {
        video.requestVideoFrameCallback((_now, frame) => {
          const first = performance.timeOrigin + frame.presentationTime;
          new MutationObserver((_, observer) => {
            if (video.dataset.screening === "clear" || video.dataset.screening === "flagged") {
              observer.disconnect();
              resolve(performance.timeOrigin + performance.now() - first);
            }
          }).observe(video, { attributes: true, attributeFilter: ["data-screening"] });
        });
      });
    });
    await button(a.page, "Call").click();
    await button(b.page, "Call").click();
    const firstVerdict = (await a.page.evaluate(() => (window as any).__duetVerdict)) as number;
    // Five more frames, for the time per frame.
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const previous = await remote(a.page).getAttribute("data-screening-frame-ms");
      await expect(remote(a.page)).not.toHaveAttribute("data-screening-frame-ms", previous!, { timeout: 10_000 });
      times.push(Number(await remote(a.page).getAttribute("data-screening-frame-ms")));
    }
    times.sort((x, y) => x - y);
    const load = await remote(a.page).getAttribute("data-screening-load-ms");
    const backend = await remote(a.page).getAttribute("data-screening-backend");
    console.log(
      `screening-${rate}x: ${Math.round(firstVerdict)} ms from the first frame to the first verdict; ` +
        `${times[2].toFixed(1)} ms per frame (median of 5, max ${times[4].toFixed(1)}); model loaded in ${load} ms (${backend})`,
    );
  });
}

test("a screening that could not load (the site was restarting) tries again, then checks the video", async ({
  visit,
}) => {
  // A's first fetch of TensorFlow.js fails, as it would while the site restarts.
  let refused = 0;
  const failOnce = async (page: Page) => {
    await page.context().route(/\/screening\/tf\.[0-9a-f]{16}\.js$/, (route) =>
      refused++ === 0 ? route.abort("connectionrefused") : route.continue(),
    );
  };
  const a = await visit("A", { beforeLoad: failOnce });
  const b = await visit("B");
  await call(a, b);
  // Meanwhile the video waits blurred; once the second try loads, it is checked and sharp.
  await expect(remote(a.page)).toHaveAttribute("data-screening", "clear", { timeout: 30_000 });
  expect(await filter(a.page)).toBe("none");
  expect(refused, "the first load failed, a later one came through").toBeGreaterThanOrEqual(2);
});
