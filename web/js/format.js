// format.js - text the UI shows: times, "last seen", error messages.
// Pure functions (no DOM), unit-tested in tests/browser/unit.test.mjs.

const pad = (n) => String(n).padStart(2, '0');

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() &&
    a.getDate() === b.getDate();
}

function clock(d) {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// "14:05" today, "yesterday 14:05", "24 Nov 14:05" this year, else the date.
export function timeLabel(iso, now = new Date()) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  if (sameDay(d, now)) return clock(d);
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return `yesterday ${clock(d)}`;
  const month = d.toLocaleString('en', { month: 'short' });
  if (d.getFullYear() === now.getFullYear()) return `${d.getDate()} ${month} ${clock(d)}`;
  return `${d.getDate()} ${month} ${d.getFullYear()}`;
}

// What a direct chat's header says about the peer.
export function presenceLabel(p, now = new Date()) {
  if (!p) return '';
  if (p.status === 'online') return 'online';
  if (!p.last_seen_at) return 'offline';
  const d = new Date(p.last_seen_at);
  const s = Math.max(0, Math.round((now - d) / 1000));
  if (s < 60) return 'last seen just now';
  if (s < 3600) return `last seen ${Math.floor(s / 60)} min ago`;
  if (sameDay(d, now)) return `last seen today at ${clock(d)}`;
  return `last seen ${timeLabel(p.last_seen_at, now)}`;
}

// UTF-8 length in bytes (the server's max-content counts bytes).
export function utf8Length(s) {
  return new TextEncoder().encode(s).length;
}

const TEXT = {
  not_a_member: 'You are not a member of this conversation.',
  content_too_large: 'This message is too long to send.',
  payload_too_large: 'That request is too large.',
  rate_limited: 'You are sending too fast; retrying shortly.',
  overloaded: 'The server is busy; retrying.',
  internal: 'The server had a problem; retrying.',
  unauthorized: 'Your session has expired. Please log in again.',
  invalid_credentials: 'Wrong username or password.',
  username_taken: 'That username is taken.',
  forbidden: 'Only group admins can do that.',
  user_not_found: 'No such user.',
  not_found: 'Not found.',
  network: 'Cannot reach the server. Check your connection.',
};

// A sentence for an error code. The server's own message (human text) is
// used for invalid_request, where it says which field is wrong; code
// "user" marks a message the client wrote for the user (UserError).
export function errorText(code, serverMessage) {
  if ((code === 'user' || !code) && serverMessage) return serverMessage; // our own words
  if (code === 'invalid_request' && serverMessage) {
    return serverMessage.charAt(0).toUpperCase() + serverMessage.slice(1) + '.';
  }
  return TEXT[code] || serverMessage || 'Something went wrong.';
}

// The rules of PROTOCOL.md "Field rules", checked before a request so the
// user learns at once what is wrong.
export function usernameProblem(name) {
  if (!/^[A-Za-z0-9_.-]{3,32}$/.test(name)) {
    return 'A username has 3 to 32 letters, digits, dots, dashes or underscores.';
  }
  return '';
}

export function passwordProblem(pw) {
  const n = utf8Length(pw);
  if (n < 8) return 'A password has at least 8 characters.';
  if (n > 1024) return 'A password has at most 1024 bytes.';
  return '';
}

// Usernames typed into one field: "bob, carol dave" -> ["bob","carol","dave"].
export function splitNames(text) {
  return [...new Set(text.split(/[\s,;]+/).filter(Boolean))];
}

// An error whose message is written for the user (a check the client
// makes before asking the server).
export class UserError extends Error {
  constructor(message) {
    super(message);
    this.code = 'user';
  }
}
