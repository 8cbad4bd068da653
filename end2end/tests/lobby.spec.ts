// The lobby as the server renders it, and as it comes alive once the wasm hydrates it.
import { test, expect } from "./fixtures";

test("the server renders the whole lobby without JavaScript", async ({ browser, server, request }) => {
  const response = await request.get(server.url);
  expect(response.status()).toBe(200);
  const html = await response.text();
  expect(html).toContain('data-testid="call-state"');
  expect(html).toContain('data-state="idle"');
  expect(html).toContain('data-testid="local-video"');
  expect(html).toContain('data-testid="remote-video"');
  expect(html).toMatch(/data-testid="online-count"[^>]*>\s*0 online/);

  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(server.url);
  await expect(page.getByRole("heading", { name: "duet" })).toBeVisible();
  await expect(page.getByTestId("call-state")).toHaveAttribute("data-state", "idle");
  await expect(page.getByTestId("online-count")).toHaveText("0 online");
  // Without the wasm the buttons cannot work, so they say so by being disabled.
  for (const name of ["Call", "Next", "End"]) {
    await expect(page.getByRole("button", { name, exact: true })).toBeDisabled();
  }
  await context.close();
});

test("the page hydrates: Call turns on and responds, and the count goes live", async ({ visit }) => {
  const { page } = await visit("A");
  await expect(page.getByTestId("online-count")).toHaveText("1 online");
  await page.getByRole("button", { name: "Call", exact: true }).click();
  await expect(page.getByTestId("call-state")).toHaveAttribute("data-state", "searching");
  await expect(page.getByTestId("call-state")).toHaveText("Looking for a stranger…");
  await expect(page.getByRole("button", { name: "Call", exact: true })).toBeDisabled();
  await expect(page.getByRole("button", { name: "End", exact: true })).toBeEnabled();
});

test("health check and built assets are served", async ({ server, request }) => {
  const health = await request.get(`${server.url}/healthz`);
  expect(health.status()).toBe(200);
  expect(await health.json()).toMatchObject({ status: "ok", online: 0 });
  const wasm = await request.get(`${server.url}/pkg/duet.wasm`, { headers: { "accept-encoding": "gzip" } });
  expect(wasm.status()).toBe(200);
  const css = await request.get(`${server.url}/pkg/duet.css`);
  expect(css.status()).toBe(200);
});
