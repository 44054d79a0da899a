// conn.js - the WebSocket (PROTOCOL.md §3): connects with the token in
// `access_token` (browsers cannot set headers on a WebSocket), waits for
// `hello`, keeps the connection alive with `ping`, and reconnects with
// jittered exponential backoff until stop().
//
// Events (EventTarget): "hello" (detail: the hello frame), "frame" (any
// other frame), "state" (detail: {state, retryAt}) where state is
// "connecting" | "online" | "offline", and "failed" when a connection
// closed before its hello (the token may have expired: the owner checks).

import { backoffDelay } from './backoff.js';

export class Connection extends EventTarget {
  constructor(url) {
    super();
    this.url = url; // ws://host/v1/ws
    this.token = null;
    this.ws = null;
    this.open = false; // hello received on the current socket
    this.attempt = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.beatTimer = null;
    this.lastSent = 0;
    this.lastRecv = 0;
    this.heartbeat = 30000;
  }

  start(token) {
    this.token = token;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.teardown(1000);
    this.setState('offline', 0);
  }

  // Reconnects at once (the browser came back online, or the user asked).
  now() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  // Sends a frame on a live session; false when there is none (the caller
  // keeps what must not be lost and resends it after the next hello).
  send(frame) {
    if (!this.open || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    this.lastSent = Date.now();
    return true;
  }

  connect() {
    this.setState('connecting', 0);
    const url = `${this.url}?access_token=${encodeURIComponent(this.token)}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => this.onMessage(ws, ev);
    ws.onclose = () => this.onClose(ws);
    ws.onerror = () => {}; // onclose follows and does the work
  }

  onMessage(ws, ev) {
    if (ws !== this.ws) return;
    this.lastRecv = Date.now();
    let f;
    try {
      f = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    if (!f || typeof f.type !== 'string') return;
    if (f.type === 'hello') {
      this.open = true;
      this.attempt = 0; // reset only once the session really started
      this.heartbeat = f.heartbeat_interval_ms || 30000;
      this.startBeat();
      this.setState('online', 0);
      this.dispatchEvent(new CustomEvent('hello', { detail: f }));
      return;
    }
    if (f.type === 'pong') return;
    this.dispatchEvent(new CustomEvent('frame', { detail: f }));
  }

  onClose(ws) {
    if (ws !== this.ws) return;
    const hadHello = this.open;
    this.teardown();
    if (this.stopped) return;
    if (!hadHello) this.dispatchEvent(new CustomEvent('failed'));
    this.scheduleRetry();
  }

  teardown(code) {
    clearInterval(this.beatTimer);
    this.beatTimer = null;
    const ws = this.ws;
    this.ws = null;
    this.open = false;
    if (ws) {
      ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(code || 1000);
      } catch (e) {
        /* already closed */
      }
    }
  }

  scheduleRetry() {
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.setState('offline', Date.now() + delay);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  // Pings when nothing was sent or received for half the interval (the
  // server closes after two silent intervals; the pong proves the server
  // is there), and gives up on a server that stopped answering: no frame
  // at all, not even a pong, for one and a half intervals.
  startBeat() {
    clearInterval(this.beatTimer);
    const tick = Math.max(250, Math.floor(this.heartbeat / 4));
    this.lastSent = this.lastRecv = Date.now();
    this.beatTimer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastRecv > this.heartbeat * 1.5) {
        const ws = this.ws;
        this.onClose(ws);
        return;
      }
      const half = this.heartbeat / 2;
      if (now - this.lastSent >= half || now - this.lastRecv >= half) {
        this.send({ type: 'ping' });
      }
    }, tick);
  }

  setState(state, retryAt) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, retryAt } }));
  }
}
