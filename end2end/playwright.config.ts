import { defineConfig } from "@playwright/test";

// Each test starts its own duet server on a free port (see tests/fixtures.ts), so tests never
// share strangers. Debian's Chromium with a fake camera and microphone; nothing is retried:
// a flaky test gets fixed, not retried.
export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  // Two cores: one test at a time, each with up to three browsers sending video.
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [["list"]],
  use: {
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    permissions: ["camera", "microphone"],
    trace: "retain-on-failure",
  },
  projects: [{ name: "chromium", use: { browserName: "chromium" } }],
});
