// The example, driven: two users (alice and bob) in their own browser contexts on one backend.
// Returns a report (every step with the requests it caused, what each user saw, each client's
// cache) that the browser test asserts on and scripts/run.sh prints.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UserPage } from './user.mjs';

/** Titles of the run; alice's and bob's own are what must never cross over. */
export const TITLES = {
  aliceOwn: ['buy milk'],
  bobOwn: ['call the plumber'],
  shared: ['plan the trip', 'book the hotel'],
};

/**
 * Drive `url` (a backend serving the built frontend) with `page` (`/` React, `/vue.html` Vue).
 * `screenshots`: a directory for alice.png and bob.png, or null.
 */
export async function runScenario(browser, url, { page = '/', screenshots = null } = {}) {
  const steps = [];
  const users = [];
  const record = async (user, what, action, extra = {}) => {
    const step = { who: user.name, what, ...extra };
    step.requests = await user.step(() => action(step));
    steps.push(step);
    return step;
  };
  try {
    const alice = await UserPage.open(browser, url, 'alice', page);
    users.push(alice);
    await record(alice, `opens ${new URL(page, url).href}`, () => alice.page.waitForSelector('#sign-in'));
    await record(alice, 'signs in', () => alice.signIn());

    // The optimistic add: the call is held in the network until the page has shown the todo.
    await record(alice, `adds "${TITLES.aliceOwn[0]}" to her own list`, async (step) => {
      let release;
      const held = new Promise((r) => (release = r));
      await alice.page.route('**/api/mizan/call/', async (route) => (await held, route.continue()), { times: 1 });
      await alice.add('mine', TITLES.aliceOwn[0]);
      await alice.waitForTodo('mine', TITLES.aliceOwn[0], { pending: true });
      step.optimistic = 'shown before the server answered';
      release();
      await alice.waitForTodo('mine', TITLES.aliceOwn[0], { pending: false });
    });
    await record(alice, `adds "${TITLES.shared[0]}" to the shared list`, async () => {
      await alice.add('shared', TITLES.shared[0]);
      await alice.waitForTodo('shared', TITLES.shared[0]);
    });
    await record(alice, `ticks "${TITLES.aliceOwn[0]}" off`, async () => {
      await alice.toggle('mine', TITLES.aliceOwn[0]);
      await alice.waitForTodo('mine', TITLES.aliceOwn[0], { done: true });
    });

    const bob = await UserPage.open(browser, url, 'bob', page);
    users.push(bob);
    await record(bob, `opens ${new URL(page, url).href} and signs in`, async () => {
      await bob.page.waitForSelector('#sign-in');
      await bob.signIn();
      await bob.waitForTodo('shared', TITLES.shared[0]);
    });
    await record(bob, `adds "${TITLES.bobOwn[0]}" to his own list`, async () => {
      await bob.add('mine', TITLES.bobOwn[0]);
      await bob.waitForTodo('mine', TITLES.bobOwn[0]);
    });

    // A shared change reaches the other user when his page refetches (nothing is pushed).
    const bobBefore = bob.log.length;
    await record(alice, `adds "${TITLES.shared[1]}" to the shared list`, async () => {
      await alice.add('shared', TITLES.shared[1]);
      await alice.waitForTodo('shared', TITLES.shared[1]);
    });
    await bob.settle();
    const bobMeanwhile = bob.log.slice(bobBefore);
    const bobSharedBefore = (await bob.lists()).shared.map((t) => t.title);
    await record(
      bob,
      'refetches the shared list (the ↻ button; focus or reconnect do the same)',
      async () => {
        await bob.refresh('shared');
        await bob.waitForTodo('shared', TITLES.shared[1]);
      },
      { requestsWhileAliceAdded: bobMeanwhile, sharedBefore: bobSharedBefore },
    );

    const saw = {};
    const caches = {};
    for (const user of users) {
      saw[user.name] = await user.lists();
      caches[user.name] = await user.cache();
    }
    const shots = {};
    if (screenshots) {
      await mkdir(screenshots, { recursive: true });
      for (const user of users) {
        shots[user.name] = join(screenshots, `${user.name}.png`);
        await user.page.screenshot({ path: shots[user.name], fullPage: true });
      }
    }
    const errors = Object.fromEntries(users.map((u) => [u.name, u.errors]));
    return { url, page, steps, saw, caches, screenshots: shots, errors };
  } finally {
    for (const user of users) await user.close();
  }
}

/** The contexts a step fetched (`GET /api/mizan/ctx/NAME/`). */
export const fetched = (requests) => requests.filter((r) => r.path.includes('/ctx/')).map((r) => r.path.split('/ctx/')[1].split('/')[0]);

/** Every string anywhere in a JSON value. */
export function strings(value, out = []) {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}
