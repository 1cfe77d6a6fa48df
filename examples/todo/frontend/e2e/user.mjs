// One user's page in headless Chromium (its own browser context: its own cookie, its own client),
// with every request to the backend recorded: method, path, the function a call ran, status,
// `X-Mizan-Cache`, and what a call's answer invalidated and merged.

const API = /\/(api\/mizan|auth)\//;
/** How long no request may run before the page counts as settled. */
const QUIET_MS = 250;

export class UserPage {
  static async open(browser, baseUrl, name, path = '/') {
    const context = await browser.newContext();
    const page = await context.newPage();
    const user = new UserPage(name, context, page);
    await page.goto(new URL(path, baseUrl).href);
    return user;
  }

  constructor(name, context, page) {
    this.name = name;
    this.context = context;
    this.page = page;
    /** Every backend request of this page, in the order they were sent. */
    this.log = [];
    this.errors = [];
    this.inflight = 0;
    this.lastActivity = Date.now();
    const entries = new Map();
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (!API.test(url.pathname)) return;
      const entry = { method: req.method(), path: url.pathname + url.search };
      if (url.pathname.endsWith('/call/')) entry.fn = JSON.parse(req.postData() ?? '{}').fn;
      entries.set(req, entry);
      this.log.push(entry);
      this.inflight += 1;
      this.lastActivity = Date.now();
    });
    const done = async (req) => {
      const entry = entries.get(req);
      if (!entry) return;
      entries.delete(req);
      try {
        const res = await req.response();
        if (res) {
          entry.status = res.status();
          const headers = res.headers();
          if (headers['x-mizan-cache']) entry.cache = headers['x-mizan-cache'];
          if (headers['x-mizan-invalidate']) entry.invalidateHeader = headers['x-mizan-invalidate'];
          if (entry.fn) {
            const body = await res.json();
            entry.invalidate = body.invalidate;
            if (body.merge) entry.merge = body.merge.map((m) => `${m.context}.${m.slot}`);
          }
        } else entry.status = 'failed';
      } catch (e) {
        entry.error = String(e); // a call answer that is not JSON: the assertions see it
      } finally {
        this.inflight -= 1;
        this.lastActivity = Date.now();
      }
    };
    page.on('requestfinished', done);
    page.on('requestfailed', done);
    page.on('pageerror', (e) => this.errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && this.errors.push(m.text()));
  }

  /** Until no request runs and none started for a moment. */
  async settle(timeoutMs = 20_000) {
    const end = Date.now() + timeoutMs;
    while (this.inflight > 0 || Date.now() - this.lastActivity < QUIET_MS) {
      if (Date.now() > end) throw new Error(`${this.name}'s page did not settle (${this.inflight} requests running)`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Run `action`, wait for the page to settle, and return the requests it caused. */
  async step(action) {
    const mark = this.log.length;
    await action();
    await this.settle();
    return this.log.slice(mark);
  }

  async signIn() {
    await this.page.fill('#sign-in input[name=name]', this.name);
    await this.page.click('#sign-in button');
    await this.page.waitForSelector('#mine[data-status="success"]');
    await this.page.waitForSelector('#shared[data-status="success"]');
  }

  /** Type `title` into a list's form and submit it. `list`: `mine` or `shared`. */
  async add(list, title) {
    await this.page.fill(`#${list} form.add input[name=title]`, title);
    await this.page.press(`#${list} form.add input[name=title]`, 'Enter');
  }

  async waitForTodo(list, title, { pending = false, done } = {}) {
    const doneSel = done === undefined ? '' : `[data-done="${done}"]`;
    await this.page.locator(`#${list} li[data-pending="${pending}"]${doneSel}`, { hasText: title }).first().waitFor({ timeout: 15_000 });
  }

  async toggle(list, title) {
    await this.page.locator(`#${list} li`, { hasText: title }).first().click();
  }

  async refresh(list) {
    await this.page.click(`#${list} button.refresh`);
  }

  /** What the page shows: each list's todos as `{title, done, author, pending}`. */
  async lists() {
    return this.page.evaluate(() => {
      const read = (id) =>
        [...document.querySelectorAll(`#${id} li`)].map((li) => ({
          title: li.querySelector('.title').textContent,
          done: li.dataset.done === 'true',
          author: li.querySelector('small').textContent,
          pending: li.dataset.pending === 'true',
        }));
      return { me: document.getElementById('me')?.textContent ?? null, mine: read('mine'), shared: read('shared') };
    });
  }

  /** The page's client cache: `window.mizan.dehydrate()` (every instance with data). */
  cache() {
    return this.page.evaluate(() => window.mizan.dehydrate());
  }

  close() {
    return this.context.close();
  }
}
