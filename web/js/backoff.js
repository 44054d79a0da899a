// backoff.js - reconnect delays: "full jitter" exponential backoff
// (PROTOCOL.md §7): random(0, min(cap, base * 2^attempt)), with a small
// floor so a client never hot-loops against a server that is down.

export const BACKOFF = { base: 500, cap: 30000, floor: 100 };

export function backoffDelay(attempt, rand = Math.random, opts = BACKOFF) {
  const ceiling = Math.min(opts.cap, opts.base * 2 ** Math.min(attempt, 30));
  return Math.max(opts.floor, Math.floor(rand() * ceiling));
}
