// app.js - the page: renders the ChatClient's state and turns what the
// user does into client calls. All user data goes into the DOM through
// textContent (never innerHTML), so a message containing HTML is text.

import { ChatClient } from './client.js';
import {
  UserError, errorText, passwordProblem, presenceLabel, splitNames, timeLabel, usernameProblem,
} from './format.js';

const $ = (id) => document.getElementById(id);

// el('li', {class: 'x', dataset: {seq: 1}}, child, 'text', ...)
function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') n.className = v;
    else if (k === 'text') n.textContent = v;
    else if (k === 'dataset') Object.assign(n.dataset, v);
    else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    n.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return n;
}

const client = new ChatClient();
const convItems = new Map(); // conversation id -> <li>
const input = $('message-input');
let toastTimer = null;

// --- views and dialogs: mounted from <template>s only while shown, so the
// page never holds two controls with the same name (a hidden log-in form
// and a dialog's "Username" field, say) -----------------------------------

function mount(templateId) {
  return $(templateId).content.firstElementChild.cloneNode(true);
}

// Opens a modal dialog from its template; it is removed again on close.
function openDialog(templateId, setup) {
  const d = mount(templateId);
  document.body.append(d);
  d.addEventListener('close', () => d.remove());
  for (const b of d.querySelectorAll('button.cancel')) b.addEventListener('click', () => d.close());
  setup(d);
  d.showModal();
  return d;
}

// Runs a dialog form's action; its error shows in the dialog.
function onSubmit(form, errorEl, action) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const submit = form.querySelector('button[type=submit]');
    submit.disabled = true;
    errorEl.textContent = '';
    try {
      await action();
    } catch (err) {
      errorEl.textContent = errorText(err.code, err.message);
    } finally {
      submit.disabled = false;
    }
  });
}

// --- log in / register -----------------------------------------------------

function showAuth(why) {
  $('main-view').hidden = true;
  for (const d of document.querySelectorAll('dialog')) d.close();
  let view = $('auth-view');
  if (!view) {
    view = mount('auth-template');
    document.body.prepend(view);
    $('auth-form').addEventListener('submit', (e) => {
      e.preventDefault();
      authSubmit(false);
    });
    $('register-btn').addEventListener('click', () => authSubmit(true));
  }
  $('auth-error').textContent = why || '';
  $('auth-username').focus();
}

async function authSubmit(register) {
  const name = $('auth-username').value.trim();
  const pw = $('auth-password').value;
  const problem = (register && usernameProblem(name)) || (register && passwordProblem(pw)) ||
    (!name || !pw ? 'Enter your username and password.' : '');
  $('auth-error').textContent = problem;
  if (problem) return;
  const buttons = [$('login-btn'), $('register-btn')];
  buttons.forEach((b) => { b.disabled = true; });
  $('auth-error').textContent = register ? 'Creating your account…' : 'Logging in…';
  try {
    if (register) await client.register(name, pw);
    else await client.login(name, pw);
  } catch (e) {
    if ($('auth-error')) $('auth-error').textContent = errorText(e.code, e.message);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

$('logout-btn').addEventListener('click', () => client.logout());

function showMain() {
  if ($('auth-view')) $('auth-view').remove();
  $('main-view').hidden = false;
  $('me-name').textContent = client.me.username;
  convItems.clear();
  $('conv-list').replaceChildren();
  hideChat();
  renderList();
  $('new-chat-btn').focus();
}

client.addEventListener('session', (e) => {
  if (client.me) showMain();
  else showAuth(e.detail && e.detail.why);
});

// --- conversation list -------------------------------------------------------

function initial(title) {
  return (title.trim()[0] || '?').toUpperCase();
}

function previewText(c) {
  const typers = client.typers(c);
  if (typers.length) return { text: 'typing…', typing: true };
  const m = c.preview;
  if (!m) return { text: c.type === 'group' ? `${c.member_count} members` : 'No messages yet' };
  const mine = m.sender_id === client.me.user_id;
  const who = mine ? 'You: ' : c.type === 'group' ? `${client.userName(m.sender_id)}: ` : '';
  return { text: who + m.content.replace(/\s+/g, ' ') };
}

function convItem(c) {
  let li = convItems.get(c.id);
  if (!li) {
    li = el('li', { dataset: { id: c.id } });
    convItems.set(c.id, li);
  }
  const title = client.title(c);
  const unread = client.unread(c);
  const p = c.peer ? client.presence.get(c.peer.user_id) : null;
  const online = p && p.status === 'online';
  const pv = previewText(c);
  const button = el('button', {
    type: 'button',
    class: 'conv',
    'aria-current': client.openId === c.id ? 'true' : 'false',
    onclick: () => openChat(c.id),
  },
  el('span', { class: 'avatar', 'aria-hidden': 'true' }, initial(title),
    c.type === 'direct' ? el('span', { class: `dot ${online ? 'online' : ''}` }) : null),
  el('span', { class: 'name' }, title,
    c.type === 'direct' && p ? el('span', { class: 'sr-only', text: online ? ', online' : ', offline' }) : null),
  el('span', { class: 'when', text: c.preview ? timeLabel(c.preview.created_at) : '' }),
  el('span', { class: `preview${pv.typing ? ' is-typing' : ''}`, text: pv.text }),
  unread ? el('span', { class: 'badge' }, String(unread),
    el('span', { class: 'sr-only', text: unread === 1 ? ' unread message' : ' unread messages' }))
    : el('span'));
  li.replaceChildren(button);
  return li;
}

function renderList() {
  if (!client.me) return;
  const list = $('conv-list');
  const focused = document.activeElement;
  const focusedId = focused && focused.closest && focused.closest('#conv-list li')
    ? focused.closest('#conv-list li').dataset.id : null;
  const convs = client.list();
  const keep = new Set(convs.map((c) => c.id));
  for (const [id, li] of convItems) {
    if (!keep.has(id)) {
      li.remove();
      convItems.delete(id);
    }
  }
  convs.forEach((c, i) => {
    const li = convItem(c);
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
  });
  $('conv-empty').hidden = convs.length > 0;
  // keep keyboard focus on the same conversation when the list reorders
  if (focusedId && convItems.has(focusedId)) convItems.get(focusedId).querySelector('button').focus();
  const total = convs.reduce((n, c) => n + client.unread(c), 0);
  document.title = total ? `(${total}) Parley` : 'Parley';
}

// --- the open conversation -------------------------------------------------

const scroller = $('scroller');
const msgList = $('messages');

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
}

function toBottom() {
  scroller.scrollTop = scroller.scrollHeight;
  $('jump-btn').hidden = true;
}

function openChat(id, focusInput = true) {
  const c = client.convs.get(id);
  if (!c) return;
  history.replaceState(null, '', `#${id}`);
  client.open(id);
  $('chat-empty').hidden = true;
  $('chat-view').hidden = false;
  $('main-view').classList.add('chat-open');
  renderHeader(c);
  renderAllMessages(c);
  renderTyping(c);
  renderList();
  toBottom();
  if (focusInput) $('message-input').focus();
}

function hideChat() {
  $('chat-view').hidden = true;
  $('chat-empty').hidden = false;
  $('main-view').classList.remove('chat-open');
  msgList.replaceChildren();
}

function closeChat(focusList = true) {
  const id = client.openId;
  client.close();
  hideChat();
  if (location.hash) history.replaceState(null, '', location.pathname);
  renderList();
  if (focusList && id && convItems.has(id)) convItems.get(id).querySelector('button').focus();
}

$('back-btn').addEventListener('click', () => closeChat());

function renderHeader(c) {
  $('chat-title').textContent = client.title(c);
  const note = c.gone ? 'You are no longer a member of this conversation.' : '';
  if ($('chat-note').textContent !== note) $('chat-note').textContent = note;
  input.disabled = c.gone;
  $('send-btn').disabled = c.gone;
  $('members-btn').disabled = c.gone;
  const dot = $('chat-dot');
  if (c.type === 'direct' && c.peer) {
    const p = client.presence.get(c.peer.user_id);
    dot.className = `dot ${p && p.status === 'online' ? 'online' : ''}`;
    $('chat-sub-text').textContent = presenceLabel(p) || ' ';
  } else {
    dot.className = 'dot none';
    $('chat-sub-text').textContent = c.type === 'group' ? `${c.member_count} members` : ' ';
  }
}

// Follows the previous message from the same sender within 5 minutes:
// shown without its own name and time line.
function continues(c, m) {
  const prev = c.tl && c.tl.get(m.seq - 1);
  return !!prev && prev.sender_id === m.sender_id &&
    Date.parse(m.created_at) - Date.parse(prev.created_at) < 5 * 60 * 1000;
}

function messageItem(c, m) {
  const mine = m.sender_id === client.me.user_id;
  const showSender = !mine && c.type === 'group';
  const cls = `msg ${mine ? 'mine' : 'theirs'}${continues(c, m) ? ' cont' : ''}`;
  return el('li', { class: cls, dataset: { seq: m.seq } },
    el('div', { class: 'meta' },
      showSender ? el('span', { class: 'sender', dataset: { user: m.sender_id },
        text: client.userName(m.sender_id) }) : null,
      mine ? el('span', { class: 'sr-only', text: 'You' }) : null,
      el('time', { datetime: m.created_at, title: new Date(m.created_at).toLocaleString(),
        text: timeLabel(m.created_at) })),
    el('div', { class: 'bubble' }, el('p', { class: 'text', text: m.content })));
}

function pendingItem(e) {
  let state;
  if (e.state === 'failed') {
    // not retried: the same message would be refused the same way
    state = el('div', { class: 'state' }, `Not sent: ${e.error}`,
      el('button', { type: 'button', 'aria-label': 'Delete unsent message',
        onclick: () => client.discard(e.client_msg_id) }, 'Delete'));
  } else {
    const text = e.state === 'sent' ? 'Sent' : e.note || (client.conn.open ? 'Sending…' : 'Waiting for connection…');
    state = el('div', { class: 'state', text });
  }
  return el('li', {
    class: `msg mine pending${e.state === 'failed' ? ' failed' : ''}`,
    dataset: { cmid: e.client_msg_id },
  }, el('div', { class: 'bubble' }, el('p', { class: 'text', text: e.content })), state);
}

function renderAllMessages(c) {
  const items = c.tl && c.tl.loaded ? c.tl.msgs.map((m) => messageItem(c, m)) : [];
  msgList.replaceChildren(...items);
  if (c.tl && !c.tl.loaded) msgList.append(el('li', { class: 'empty loading', text: 'Loading…' }));
  renderPending(c);
  renderSeen(c);
  $('older-btn').hidden = !(c.tl && c.tl.hasOlder);
}

function renderPending(c) {
  for (const li of msgList.querySelectorAll('li.pending')) li.remove();
  for (const e of client.pending(c.id)) msgList.append(pendingItem(e));
}

// "Seen" under my newest message that someone has read: in a direct chat
// the other person, in a group the members named.
function renderSeen(c) {
  for (const s of msgList.querySelectorAll('.seen')) s.remove();
  if (!c.tl || !c.tl.loaded) return;
  for (let i = c.tl.msgs.length - 1; i >= 0; i -= 1) {
    const m = c.tl.msgs[i];
    if (m.sender_id !== client.me.user_id) continue;
    const by = client.seenBy(c, m.seq);
    if (!by.length) continue;
    const li = msgList.querySelector(`li[data-seq="${m.seq}"]`);
    if (!li) return;
    let text = 'Seen';
    if (c.type === 'group') {
      const names = by.map((u) => client.userName(u));
      text = names.length > 3 ? `Seen by ${names.slice(0, 3).join(', ')} and ${names.length - 3} more`
        : `Seen by ${names.join(', ')}`;
    }
    li.append(el('span', { class: 'seen', text }));
    return;
  }
}

function onMessages(d) {
  const c = client.convs.get(d.id);
  if (!c || client.openId !== d.id) return;
  if (d.kind === 'reset') {
    renderAllMessages(c);
    toBottom();
    return;
  }
  if (d.kind === 'prepend') {
    const before = scroller.scrollHeight;
    const top = scroller.scrollTop;
    const oldTop = msgList.querySelector('li.msg[data-seq]');
    msgList.prepend(...d.msgs.map((m) => messageItem(c, m)));
    // the former first message may now follow one from the same sender
    if (oldTop) oldTop.classList.toggle('cont', continues(c, c.tl.get(Number(oldTop.dataset.seq))));
    scroller.scrollTop = top + (scroller.scrollHeight - before);
    $('older-btn').hidden = !c.tl.hasOlder;
    return;
  }
  const stick = nearBottom() || d.msgs.some((m) => m.sender_id === client.me.user_id);
  const firstPending = msgList.querySelector('li.pending');
  for (const m of d.msgs) msgList.insertBefore(messageItem(c, m), firstPending);
  renderPending(c);
  renderSeen(c);
  if (stick) toBottom();
  else $('jump-btn').hidden = false;
}

function renderTyping(c) {
  const t = client.typers(c);
  let text = '';
  if (t.length === 1) text = `${t[0]} is typing…`;
  else if (t.length === 2) text = `${t[0]} and ${t[1]} are typing…`;
  else if (t.length > 2) text = `${t.length} people are typing…`;
  if ($('typing').textContent !== text) $('typing').textContent = text;
}

client.addEventListener('messages', (e) => onMessages(e.detail));
// Many events can change the list at once (a sync page of 200 messages):
// render it once per turn of the event loop, also in a background tab.
let listQueued = false;
function queueList() {
  if (listQueued) return;
  listQueued = true;
  setTimeout(() => {
    listQueued = false;
    renderList();
  }, 0);
}
client.addEventListener('list', queueList);
client.addEventListener('users', () => {
  for (const s of msgList.querySelectorAll('.sender[data-user]')) {
    s.textContent = client.userName(s.dataset.user);
  }
  const c = client.convs.get(client.openId);
  if (c) renderSeen(c);
  renderList();
});
client.addEventListener('conv', (e) => {
  const c = client.convs.get(e.detail.id);
  if (!c || client.openId !== c.id) return;
  const stick = nearBottom();
  renderHeader(c);
  renderTyping(c);
  renderPending(c);
  renderSeen(c);
  if (stick) toBottom();
});
client.addEventListener('closed', () => closeChat(false));

scroller.addEventListener('scroll', () => {
  if (scroller.scrollTop < 40 && client.openId) client.loadOlder(client.openId);
  if (nearBottom()) $('jump-btn').hidden = true;
});
$('older-btn').addEventListener('click', () => client.loadOlder(client.openId));
$('jump-btn').addEventListener('click', () => toBottom());

// --- composing ---------------------------------------------------------------

function autosize() {
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight + 2, 144)}px`;
}

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text || !client.openId) return;
  client.send(client.openId, text);
  input.value = '';
  autosize();
  toBottom();
  input.focus();
});

input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('composer').requestSubmit();
  }
});

input.addEventListener('input', () => {
  autosize();
  if (input.value.trim() && client.openId) client.typing(client.openId);
});

// --- dialogs -----------------------------------------------------------------

$('new-chat-btn').addEventListener('click', () => openDialog('new-chat-template', (d) => {
  onSubmit($('new-chat-form'), $('new-chat-error'), async () => {
    const id = await client.startDirect($('new-chat-user').value.trim());
    d.close();
    openChat(id);
  });
}));

$('new-group-btn').addEventListener('click', () => openDialog('new-group-template', (d) => {
  onSubmit($('new-group-form'), $('new-group-error'), async () => {
    const name = $('new-group-name').value.trim();
    if (!name) throw new UserError('Give the group a name.');
    const id = await client.createGroup(name, splitNames($('new-group-members').value));
    d.close();
    openChat(id);
  });
}));

async function renderMembers(c) {
  const list = $('member-list');
  if (!list) return;
  list.replaceChildren(el('li', { text: 'Loading…' }));
  const members = await client.loadMembers(c);
  const admin = c.role === 'admin';
  list.replaceChildren(...members.map((m) => {
    const me = m.user_id === client.me.user_id;
    return el('li', {},
      el('span', { class: 'mname', text: me ? `${m.username} (you)` : m.username }),
      el('span', { class: 'role', text: m.role }),
      admin && !me && c.type === 'group'
        ? el('button', { type: 'button', 'aria-label': `Remove ${m.username}`,
          onclick: () => removeMember(c, m) }, 'Remove') : null);
  }));
}

async function removeMember(c, m) {
  $('members-error').textContent = '';
  try {
    await client.removeMember(c.id, m.user_id);
    await renderMembers(c);
    renderHeader(c);
  } catch (err) {
    $('members-error').textContent = errorText(err.code, err.message);
  }
}

$('members-btn').addEventListener('click', () => {
  const c = client.convs.get(client.openId);
  if (!c) return;
  const group = c.type === 'group';
  openDialog('members-template', (d) => {
    $('add-member-form').hidden = !group;
    $('leave-btn').hidden = !group;
    $('members-title').textContent = group ? `Members of ${c.name}` : 'Members';
    onSubmit($('add-member-form'), $('members-error'), async () => {
      const names = splitNames($('add-member-input').value);
      if (!names.length) return;
      const added = await client.addMembers(c.id, names);
      $('add-member-input').value = '';
      $('members-error').textContent = added ? '' : 'They are already members.';
      await renderMembers(c);
      renderHeader(c);
    });
    $('leave-btn').addEventListener('click', async () => {
      try {
        await client.removeMember(c.id, client.me.user_id);
        d.close();
        closeChat(false);
        $('new-chat-btn').focus();
      } catch (err) {
        $('members-error').textContent = errorText(err.code, err.message);
      }
    });
    renderMembers(c).catch((err) => {
      $('members-error').textContent = errorText(err.code, err.message);
    });
  });
  (group ? $('add-member-input') : $('members-close')).focus();
});

// --- connection state, notices, timers ------------------------------------

let conn = { state: 'offline', retryAt: 0 };

function renderStatus() {
  const s = $('conn-status');
  let text = '';
  if (conn.state === 'connecting') text = 'Connecting…';
  else if (conn.state === 'offline' && client.me) {
    const secs = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
    text = secs > 0 ? `Offline. Reconnecting in ${secs} s…` : 'Offline. Reconnecting…';
  }
  s.dataset.state = conn.state;
  s.className = `status ${conn.state}`;
  if (s.textContent !== text) s.textContent = text;
  $('me-dot').className = `dot ${conn.state === 'online' ? 'online' : ''}`;
}

client.addEventListener('status', (e) => {
  conn = e.detail;
  renderStatus();
  const c = client.convs.get(client.openId);
  if (c) renderPending(c);
});

client.addEventListener('notice', (e) => {
  const t = $('toast');
  t.textContent = e.detail.text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 6000);
});

setInterval(() => {
  renderStatus();
  const c = client.convs.get(client.openId);
  if (c) renderHeader(c);
}, 1000);
setInterval(() => renderList(), 30000); // relative times

document.addEventListener('visibilitychange', () => {
  const c = client.convs.get(client.openId);
  if (c) client.markRead(c);
  // background tabs run timers late: do not wait out a long backoff
  if (document.visibilityState === 'visible' && client.me) client.conn.now();
});
window.addEventListener('online', () => client.conn.now());

// A reload lands where it was: the conversation named in the address
// (#id) opens once the list has it (only then, not on later list events).
let reopen = location.hash.slice(1) || null;
client.addEventListener('list', () => {
  if (!reopen || !client.convs.has(reopen)) return;
  const id = reopen;
  reopen = null;
  if (client.openId !== id) openChat(id, false);
});

if (!client.restore()) showAuth(); // restore() shows the main view itself
