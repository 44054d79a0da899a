// screenshot.mjs - makes docs/img/client.png, the README's picture of the
// client: a fresh parleyd, three people, a direct chat and a group, seen
// on a wide screen and a phone side by side.
//   node tests/browser/screenshot.mjs      (after make build, deps.sh browser)
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Parleyd, REPO, tempDir } from './lib/parleyd.mjs';
import * as ui from './lib/ui.mjs';

const PW = 'correct-horse-1';
const out = path.join(REPO, 'docs', 'img');
const d = tempDir();
const srv = await Parleyd.start(d.path);
const browser = await chromium.launch({ executablePath: ui.CHROMIUM, headless: true });
try {
  const base = `${srv.url}/`;
  const alice = await ui.person(browser, base, { width: 1000, height: 640 });
  const bob = await ui.person(browser, base, { width: 360, height: 640 });
  const carol = await ui.person(browser, base, ui.NARROW);
  await ui.register(alice, 'alice', PW);
  await ui.register(bob, 'bob', PW);
  await ui.register(carol, 'carol', PW);

  await alice.getByRole('button', { name: 'New group' }).click();
  const g = alice.getByRole('dialog', { name: 'New group' });
  await g.getByRole('textbox', { name: 'Group name' }).fill('launch crew');
  await g.getByRole('textbox', { name: 'Members' }).fill('bob, carol');
  await g.getByRole('button', { name: 'Create group' }).click();
  await ui.send(alice, 'Release candidate is up. Anyone for a last look?');
  await ui.conversation(carol, 'launch crew').click();
  await ui.send(carol, 'On it, looking now.');

  await ui.startChat(alice, 'bob');
  await ui.send(alice, 'Morning! Did the migration finish overnight?');
  await ui.conversation(bob, 'alice').click(); // listed once it has a message
  const lines = [
    [bob, 'It did: 1.2 M rows, no errors.'],
    [bob, 'The dashboard is green too.'],
    [alice, 'Great. Shipping at 10 then!'],
  ];
  for (const [who, text] of lines) {
    await ui.send(who, text);
    await alice.locator('#messages li.msg:not(.pending)', { hasText: text }).waitFor();
  }
  await alice.locator('#messages li.mine .seen').last().waitFor();
  await bob.waitForTimeout(3100); // typing is throttled to one per 3 s
  await bob.getByRole('textbox', { name: 'Message' }).fill('See you');
  await alice.getByText('bob is typing…').waitFor();
  await alice.getByRole('textbox', { name: 'Message' }).fill('');
  for (const p of [alice, bob]) await p.evaluate(() => document.activeElement.blur());
  mkdirSync(out, { recursive: true });
  await alice.screenshot({ path: path.join(out, 'client-wide.png') });
  await bob.screenshot({ path: path.join(out, 'client-phone.png') });

  // the two side by side in one picture
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 680 } })).newPage();
  const img = (f) => readFileSync(path.join(out, f)).toString('base64');
  const [w, p] = [img('client-wide.png'), img('client-phone.png')];
  await page.setContent(`<body style="margin:0;background:#e5e7eb;display:flex;gap:20px;padding:20px">
    <img style="border-radius:8px;box-shadow:0 2px 10px #0003" src="data:image/png;base64,${w}">
    <img style="border-radius:8px;box-shadow:0 2px 10px #0003" src="data:image/png;base64,${p}">
    </body>`);
  await page.screenshot({ path: path.join(out, 'client.png') });
  rmSync(path.join(out, 'client-wide.png'));
  rmSync(path.join(out, 'client-phone.png'));
  console.log(`wrote ${path.join(out, 'client.png')}`);
} finally {
  await browser.close();
  await srv.stop();
  d.remove();
}
