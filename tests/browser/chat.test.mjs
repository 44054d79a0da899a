// chat.test.mjs - the web client in a real browser (Debian's chromium,
// headless, driven by playwright-core) against the real parleyd: two
// people in two browser contexts, one on a wide screen and one on a
// phone-sized one. Screenshots go to test-output/browser/.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { Parleyd, tempDir } from './lib/parleyd.mjs';
import { startProxy } from './lib/proxy.mjs';
import * as ui from './lib/ui.mjs';

const PW = 'correct-horse-1';
const A = ui.unique('alice');
const B = ui.unique('bob');
let data;
let srv;
let proxy;
let browser;
let base;
let alice; // wide screen
let bob; // phone
let direct; // the alice-bob conversation id
const said = []; // what the direct chat holds, in order

before(async () => {
  data = tempDir();
  srv = await Parleyd.start(data.path);
  proxy = await startProxy(srv.port);
  base = `http://127.0.0.1:${proxy.port}/`;
  browser = await chromium.launch({ executablePath: ui.CHROMIUM, headless: true });
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  await srv?.stop();
  data?.remove();
});

test('two people register, chat, and see typing, presence and "seen"', async () => {
  alice = await ui.person(browser, base, ui.WIDE);
  bob = await ui.person(browser, base, ui.NARROW);
  // the log-in page names its controls
  for (const name of ['Username', 'Password']) {
    await alice.getByRole('textbox', { name, exact: true }).waitFor();
  }
  await alice.getByRole('button', { name: 'Log in', exact: true }).waitFor();
  await ui.shot(alice, 'login');
  await ui.register(alice, A, PW);
  await ui.register(bob, B, PW);

  await ui.startChat(alice, B);
  await alice.getByRole('heading', { name: B }).waitFor();
  await alice.locator('#chat-sub-text', { hasText: /^online$/ }).waitFor(); // presence dot + text
  direct = (await alice.evaluate(() => location.hash)).slice(1);
  for (const [role, name] of [['textbox', 'Message'], ['button', 'Send'], ['button', 'Members'],
    ['button', 'New chat'], ['button', 'New group'], ['log', 'Chat history']]) {
    assert.equal(await alice.getByRole(role, { name, exact: true }).count(), 1, `${role} ${name}`);
  }

  // HTML in a message is text, everywhere it shows
  const html = '<img src=x onerror="window.__xss=1"><b>bold?</b> & co';
  await ui.send(alice, html);
  said.push(html);
  await ui.expectMessages(alice, said);

  // bob, on his phone, sees the chat in his list: unread count, last message
  const item = ui.conversation(bob, A);
  await item.filter({ hasText: '1 unread message' }).waitFor();
  assert.match(await item.textContent(), /<b>bold\?<\/b> & co/);
  await ui.shot(bob, 'narrow-list');
  await item.click();
  await ui.expectMessages(bob, said);
  assert.equal(await bob.locator('#messages b, #messages img').count(), 0);
  assert.equal(await bob.evaluate(() => window.__xss), undefined);
  assert.equal(await item.count(), 0, 'on a phone the list gives way to the chat');

  // bob has read it: alice's message says so
  await alice.locator('#messages li.mine .seen', { hasText: 'Seen' }).waitFor();

  // typing shows on the other side, and goes when the message arrives
  const box = bob.getByRole('textbox', { name: 'Message' });
  await box.fill('typing a reply');
  const typing = alice.getByText(`${B} is typing…`);
  await typing.waitFor();
  await ui.shot(alice, 'typing');
  await box.press('Enter');
  said.push('typing a reply');
  await ui.expectMessages(alice, said);
  await typing.waitFor({ state: 'hidden' });

  // keyboard only: the message box has focus, Shift+Enter is a new line,
  // Enter sends, Tab moves on to Send
  await alice.keyboard.type('line one');
  await alice.keyboard.press('Shift+Enter');
  await alice.keyboard.type('line two');
  await alice.keyboard.press('Enter');
  said.push('line one\nline two');
  await ui.expectMessages(alice, said);
  await ui.expectMessages(bob, said);
  await alice.keyboard.press('Tab');
  assert.equal(await alice.evaluate(() => document.activeElement.textContent), 'Send');

  // bob reads everything while the chat is open: no unread badge left
  await alice.locator('#messages li.mine').last().locator('.seen').waitFor();
  await ui.shot(alice, 'wide-chat');
  await ui.shot(bob, 'narrow-chat');
  // the phone's back button returns to the list, with nothing unread
  await bob.getByRole('button', { name: 'Back to conversations' }).click();
  await item.waitFor();
  assert.doesNotMatch(await item.textContent(), /unread/);
  await item.click();
  assert.deepEqual(alice.errors.concat(bob.errors), []);
});

test('a reload keeps the session and shows the history', async () => {
  await bob.reload();
  await ui.expectMessages(bob, said); // the open chat (#id) comes back
  await bob.getByRole('heading', { name: A }).waitFor();
});

test('a group: create it, add a member, scroll back through its history', async () => {
  const C = ui.unique('carol');
  const reg = await fetch(`${srv.url}/v1/auth/register`, {
    method: 'POST', body: JSON.stringify({ username: C, password: PW }),
  });
  assert.equal(reg.status, 201);

  await alice.getByRole('button', { name: 'New group' }).click();
  const dialog = alice.getByRole('dialog', { name: 'New group' });
  await dialog.getByRole('textbox', { name: 'Group name' }).fill('launch crew');
  await dialog.getByRole('textbox', { name: 'Members' }).fill(B);
  await dialog.getByRole('button', { name: 'Create group' }).click();
  await alice.getByRole('heading', { name: 'launch crew' }).waitFor();
  const group = (await alice.evaluate(() => location.hash)).slice(1);

  // add carol from the Members dialog
  await alice.getByRole('button', { name: 'Members', exact: true }).click();
  const members = alice.getByRole('dialog', { name: 'Members of launch crew' });
  await members.getByRole('textbox', { name: 'Add members' }).fill(C);
  await members.getByRole('button', { name: 'Add', exact: true }).click();
  await members.getByRole('listitem').filter({ hasText: C }).waitFor();
  assert.equal(await members.getByRole('listitem').count(), 3);
  await members.getByRole('button', { name: 'Close' }).click();
  await alice.locator('#chat-sub-text', { hasText: '3 members' }).waitFor();

  // 70 messages from another device: bob sees the latest 50, then the rest
  const tok = await ui.token(alice);
  const texts = [];
  for (let i = 1; i <= 70; i += 1) {
    const r = await ui.rest(srv.url, tok, 'POST', `/v1/conversations/${group}/messages`,
      { client_msg_id: `bulk-${i}`, content: `history ${i}` });
    assert.equal(r.status, 201);
    texts.push(`history ${i}`);
  }
  await bob.getByRole('button', { name: 'Back to conversations' }).click();
  await ui.conversation(bob, 'launch crew').filter({ hasText: '70 unread messages' }).waitFor();
  await ui.conversation(bob, 'launch crew').click();
  await ui.expectMessages(bob, texts.slice(20), { first: 21 });
  await bob.getByRole('button', { name: 'Load older messages' }).click();
  await ui.expectMessages(bob, texts);
  await bob.locator('#scroller').evaluate((e) => { e.scrollTop = 0; });
  assert.equal(await bob.getByRole('button', { name: 'Load older messages' }).count(), 0);
  // names of senders show in a group
  assert.equal(await bob.locator('#messages .sender', { hasText: A }).count(), 70);
});

test('the server restarts mid-chat: both recover, nothing lost or doubled', async () => {
  // back to the direct chat on both sides
  await bob.getByRole('button', { name: 'Back to conversations' }).click();
  await ui.conversation(bob, A).click();
  await ui.conversation(alice, B).click();
  await ui.expectMessages(alice, said);
  await ui.expectMessages(bob, said);
  const bobToken = await ui.token(bob);

  await srv.stop(); // SIGTERM: WebSockets get 1001
  proxy.setTarget(null); // and nobody answers until the new server is up
  await alice.locator('#conn-status', { hasText: /Offline|Connecting/ }).waitFor();
  await ui.send(alice, 'written while the server was down');
  await alice.locator('#messages li.pending', { hasText: 'written while' }).waitFor();
  await ui.shot(alice, 'offline-pending');

  srv = await Parleyd.start(data.path); // same data, new port
  // bob's other device sends while both browsers are still cut off: a gap
  const r = await ui.rest(srv.url, bobToken, 'POST', `/v1/conversations/${direct}/messages`,
    { client_msg_id: 'other-device-1', content: 'from bob’s other device' });
  assert.equal(r.status, 201);
  proxy.setTarget(srv.port);

  said.push('from bob’s other device', 'written while the server was down');
  await ui.expectMessages(alice, said, { timeout: 40000 });
  await ui.expectMessages(bob, said, { timeout: 40000 });
  await ui.send(bob, 'back online');
  said.push('back online');
  await ui.expectMessages(alice, said);
  await ui.expectMessages(bob, said);
  assert.deepEqual(alice.errors.concat(bob.errors), []);
});

test('errors say what went wrong', async () => {
  // an unknown user
  await alice.getByRole('button', { name: 'New chat' }).click();
  const dialog = alice.getByRole('dialog', { name: 'New chat' });
  await dialog.getByRole('textbox', { name: 'Username' }).fill('nobody-here');
  await dialog.getByRole('button', { name: 'Start chat' }).click();
  await dialog.getByRole('alert').filter({ hasText: 'No user is called “nobody-here”.' }).waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();

  // a message over the server's max-content: not sent, can be deleted
  await ui.send(alice, 'x'.repeat(5000));
  const failed = alice.locator('#messages li.failed');
  await failed.filter({ hasText: 'Not sent: This message is too long to send.' }).waitFor();
  await failed.getByRole('button', { name: 'Delete unsent message' }).click();
  await failed.waitFor({ state: 'detached' });
  await ui.expectMessages(alice, said);

  // removed from a group while it is open: sending says why it failed
  await ui.conversation(alice, 'launch crew').click();
  await bob.getByRole('button', { name: 'Back to conversations' }).click();
  await ui.conversation(bob, 'launch crew').click();
  await alice.getByRole('button', { name: 'Members', exact: true }).click();
  await alice.getByRole('button', { name: `Remove ${B}` }).click();
  await alice.getByRole('dialog').getByRole('listitem').nth(1).waitFor(); // re-rendered
  await alice.getByRole('button', { name: 'Close' }).click();
  await ui.send(bob, 'am I still here?');
  await bob.locator('#messages li.failed', {
    hasText: 'Not sent: You are not a member of this conversation.',
  }).waitFor();
  // the chat stays readable, says why, and can no longer be written in
  await bob.getByText('You are no longer a member of this conversation.').waitFor();
  assert.equal(await bob.getByRole('textbox', { name: 'Message' }).isDisabled(), true);
  await ui.shot(bob, 'narrow-not-a-member');
  await bob.getByRole('button', { name: 'Back to conversations' }).click();
  await ui.conversation(bob, A).waitFor();
  assert.equal(await ui.conversation(bob, 'launch crew').count(), 0);
  await ui.conversation(bob, A).click();

  // a wrong password
  const eve = await ui.person(browser, base, ui.WIDE);
  await eve.getByRole('textbox', { name: 'Username' }).fill(A);
  await eve.getByRole('textbox', { name: 'Password' }).fill('not-the-password');
  await eve.getByRole('button', { name: 'Log in' }).click();
  await eve.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
  await eve.context().close();
});

test('last seen: a person who leaves is shown offline with the time', async () => {
  await ui.conversation(alice, B).click();
  await alice.locator('#chat-sub-text', { hasText: /^online$/ }).waitFor();
  await bob.context().close(); // the presence grace (3 s) then "offline"
  await alice.locator('#chat-sub-text', { hasText: 'last seen just now' })
    .waitFor({ timeout: 15000 });
  await ui.shot(alice, 'last-seen');
});

test('sending too fast: rate-limited messages are retried, in order', async () => {
  const d = tempDir();
  const slow = await Parleyd.start(d.path, ['--send-rate', '2', '--send-burst', '1']);
  try {
    const carol = await ui.person(browser, `${slow.url}/`, ui.WIDE);
    const dave = await ui.person(browser, `${slow.url}/`, ui.NARROW);
    const C = ui.unique('carol');
    const D = ui.unique('dave');
    await ui.register(carol, C, PW);
    await ui.register(dave, D, PW);
    await ui.startChat(carol, D);
    const burst = ['one', 'two', 'three', 'four', 'five'];
    for (const t of burst) await ui.send(carol, t);
    await carol.locator('#messages li.pending', { hasText: 'Sending too fast' }).first().waitFor();
    await ui.expectMessages(carol, burst, { timeout: 20000 });
    await ui.conversation(dave, C).click();
    await ui.expectMessages(dave, burst);
    await carol.context().close();
    await dave.context().close();
  } finally {
    await slow.stop();
    d.remove();
  }
});
