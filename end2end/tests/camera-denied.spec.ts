// A visitor who does not allow the camera gets a clear message, not a silent failure.
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

test("a blocked camera says so and leaves the visitor idle", async ({ visit }) => {
  const { page } = await visit("A");
  await page.getByRole("button", { name: "Call", exact: true }).click();
  await expect(page.getByTestId("call-state")).toHaveText(
    "Camera or microphone blocked. Allow access in your browser, then press Call.",
  );
  await expect(page.getByTestId("call-state")).toHaveAttribute("data-state", "idle");
  await expect(page.getByRole("button", { name: "Call", exact: true })).toBeEnabled();
});
