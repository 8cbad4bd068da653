// Several duet nodes sharing one Redis: visitors on different nodes meet and see each other,
// and matching pauses with a clear message while Redis is gone, then works again by itself.
import { test as base, expect, startServer, stopServer, startRedis, killRedis, inCall, waitingOnServer } from "./fixtures";
import type { DuetServer, RedisServer } from "./fixtures";
import type { Page } from "@playwright/test";

/** The test's Redis; a test may kill it and start it again on the same port. */
class Redis {
  constructor(public server: RedisServer) {}
  get url() {
    return this.server.url;
  }
  async kill() {
    await killRedis(this.server);
  }
  async restart() {
    this.server = await startRedis(this.server.port);
  }
}

const nodeArgs = (redis: Redis) => ["--redis-url", redis.url, "--node-timeout", "2s"];

// The fixtures' `server` is node one; `second` is node two, on the same Redis. Node one
// depends on node two so that node two stops last, after every page has closed.
const test = base.extend<{ redis: Redis; second: DuetServer }>({
  redis: async ({}, use) => {
    const redis = new Redis(await startRedis());
    await use(redis);
    await redis.kill();
  },
  server: async ({ redis, second: _ }, use) => {
    const server = await startServer(nodeArgs(redis));
    await use(server);
    await stopServer(server);
  },
  second: async ({ redis }, use) => {
    const server = await startServer(nodeArgs(redis));
    await use(server);
    await stopServer(server);
  },
});

const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true });
const state = (page: Page) => page.getByTestId("call-state");

test("visitors on two nodes meet, see each other and count as one site", async ({ visit, server, second }) => {
  expect(second.url).not.toEqual(server.url);
  const a = await visit("A");
  const b = await visit("B", { url: second.url });
  for (const v of [a, b]) {
    await expect(v.page.getByTestId("online-count")).toHaveText("2 online");
  }

  await button(a.page, "Call").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "searching");
  await button(b.page, "Call").click();
  await inCall(a, b);

  // Chat crosses nodes too.
  await b.page.getByRole("textbox", { name: "Message" }).fill("hello from node two");
  await b.page.getByRole("textbox", { name: "Message" }).press("Enter");
  await expect(a.page.getByTestId("chat-log")).toContainText("hello from node two");

  // C waits on node two; Next on node one: A meets C, and B is told and searches.
  const c = await visit("C", { url: second.url });
  await button(c.page, "Call").click();
  await expect(state(c.page)).toHaveAttribute("data-state", "searching");
  // Waiting in the pool, not only on the page: else A's Next may come first, find nobody but
  // B, and meet B again (the stranger just left is allowed when nobody else waits).
  await waitingOnServer(c.page);
  await button(a.page, "Next").click();
  await inCall(a, c);
  await expect(state(b.page)).toHaveAttribute("data-state", "searching");
  await expect(state(b.page)).toContainText("moved on");
});

test("without Redis matching pauses with a clear message, and resumes by itself", async ({ visit, second, server, redis }) => {
  const a = await visit("A");
  const b = await visit("B", { url: second.url });
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);

  await redis.kill();
  for (const v of [a, b]) {
    await expect(state(v.page)).toHaveAttribute("data-state", "idle");
    await expect(v.page.getByTestId("call-state")).toContainText("Matching is paused");
  }
  // Call is refused while Redis is gone, with the same explanation.
  await button(a.page, "Call").click();
  await expect(state(a.page)).toHaveAttribute("data-state", "idle");
  await expect(a.page.getByTestId("call-state")).toContainText("Matching is paused");

  await redis.restart();
  for (const node of [server, second]) {
    await expect
      .poll(async () => (await fetch(`${node.url}/healthz`)).status, { timeout: 10_000 })
      .toBe(200);
  }
  await button(a.page, "Call").click();
  await button(b.page, "Call").click();
  await inCall(a, b);
});
