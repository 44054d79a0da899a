// ui.mjs - what a test does on the page, through the names a person (and
// assistive technology) sees: roles and accessible names, not CSS ids.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './parleyd.mjs';

export const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
export const SHOTS = path.join(REPO, 'test-output', 'browser');
mkdirSync(SHOTS, { recursive: true });

export const WIDE = { width: 1280, height: 800 };
export const NARROW = { width: 390, height: 844 }; // a phone

export function unique(prefix) {
  return `${prefix}${Math.random().toString(36).slice(2, 8)}`;
}

// A new browser context (its own sessionStorage: a separate person) on
// the client, with page errors collected so a test can assert none.
export async function person(browser, base, viewport) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(base);
  return page;
}

export async function register(page, name, password) {
  await page.getByRole('textbox', { name: 'Username' }).fill(name);
  await page.getByRole('textbox', { name: 'Password' }).fill(password);
  await page.getByRole('button', { name: 'Register' }).click();
  await page.getByRole('button', { name: 'New chat' }).waitFor();
}

export async function startChat(page, other) {
  await page.getByRole('button', { name: 'New chat' }).click();
  const dialog = page.getByRole('dialog', { name: 'New chat' });
  await dialog.getByRole('textbox', { name: 'Username' }).fill(other);
  await dialog.getByRole('button', { name: 'Start chat' }).click();
  await dialog.waitFor({ state: 'detached' });
}

export async function send(page, text) {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
}

export function conversation(page, title) {
  return page.getByRole('list', { name: 'Conversation list' })
    .getByRole('button', { name: new RegExp(`^${title}\\b`) });
}

// The shown (stored) messages of the open conversation, in page order.
export function shown(page) {
  return page.$$eval('#messages li.msg:not(.pending)', (els) => els.map((e) => ({
    seq: Number(e.dataset.seq),
    text: e.querySelector('.text').textContent,
    mine: e.classList.contains('mine'),
  })));
}

// Waits until the open conversation shows exactly these texts, in this
// order, with seqs first..first+n-1 (no gap, no duplicate), and nothing
// pending; fails with what it shows.
export async function expectMessages(page, texts, { first = 1, timeout = 15000 } = {}) {
  const deadline = Date.now() + timeout;
  let got = [];
  let pending = 0;
  for (;;) {
    got = await shown(page);
    pending = await page.locator('#messages li.pending').count();
    const ok = pending === 0 && got.length === texts.length &&
      got.every((m, i) => m.text === texts[i] && m.seq === first + i);
    if (ok) return got;
    if (Date.now() > deadline) break;
    await page.waitForTimeout(100);
  }
  assert.deepEqual({ texts: got.map((m) => m.text), seqs: got.map((m) => m.seq), pending },
    { texts, seqs: texts.map((_, i) => first + i), pending: 0 });
  return got;
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

export function token(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('parley.session')).token);
}

// A REST call as the page's user, straight to a server (not through the
// page): another device of the same person.
export async function rest(url, tok, method, p, body) {
  const res = await fetch(url + p, {
    method,
    headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
