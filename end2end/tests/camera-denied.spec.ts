// A visitor who does not allow the camera gets a clear message, and can still meet strangers
// by text.
import { test, expect } from "./fixtures";

// Without --use-fake-ui-for-media-stream and without the permission, Chromium refuses
// getUserMedia as a person pressing "Block" would.
test.use({
  permissions: [],
  launchOptions: {
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--use-fake-device-for-media-stream", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  },
});

test("a blocked camera is explained, and text-only still meets strangers", async ({ visit }) => {
  const a = await visit("A");
  await a.page.getByRole("button", { name: "Call", exact: true }).click();
  await expect(a.page.getByTestId("call-state")).toHaveText(
    'Camera or microphone blocked. Allow access in your browser, then press Call. Or tick "Text only" to meet strangers by chat.',
  );
  await expect(a.page.getByTestId("call-state")).toHaveAttribute("data-state", "idle");

  const b = await visit("B");
  for (const { page } of [a, b]) {
    await page.getByTestId("text-only").check();
    await page.getByRole("button", { name: "Call", exact: true }).click();
  }
  for (const { page } of [a, b]) {
    await expect(page.getByTestId("call-state")).toHaveAttribute("data-state", "connected");
    await expect(page.getByTestId("remote-placeholder")).toHaveText(
      "This stranger is in text-only mode: say hi in the chat.",
    );
  }
  await a.page.getByTestId("chat-input").fill("no camera, no problem");
  await a.page.getByTestId("chat-input").press("Enter");
  await expect(b.page.getByTestId("chat-log").locator('[data-from="stranger"]')).toHaveText(
    "Stranger: no camera, no problem",
  );
});
