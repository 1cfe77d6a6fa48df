// The example's stand-in login (HTTP builds only): the backend trusts the name and keeps it in a
// cookie (examples/todo/README.md). Identity changed, so the client is reset: every cached
// bundle of the previous user goes at once, and what is on screen refetches as the new one.
import type { MizanClient } from '@mizan/kernel-wasm/client';

/** What the backends accept as a user name. */
export const NAME = /^[a-z0-9_-]{1,32}$/;

async function post(path: string, body: object): Promise<void> {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (!response.ok) {
    const answer = (await response.json().catch(() => null)) as { error?: string } | null;
    throw new Error(answer?.error ?? `${path}: HTTP ${response.status}`);
  }
}

export async function signIn(client: MizanClient, name: string): Promise<void> {
  await post('/auth/login', { name });
  client.reset();
}

export async function signOut(client: MizanClient): Promise<void> {
  await post('/auth/logout', {});
  client.reset();
}
