// api.js - the REST half of the v1 protocol (PROTOCOL.md §2). Every call
// resolves to the parsed JSON body or throws an ApiError carrying the
// server's error code; a network failure is code "network".

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(base = '') {
    this.base = base;
    this.token = null;
    this.onUnauthorized = null; // called on any 401 of an authenticated call
  }

  async request(method, path, body) {
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiError(0, 'network', 'cannot reach the server');
    }
    if (res.status === 204) return null;
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      const err = (data && data.error) || {};
      const e = new ApiError(res.status, err.code || `http_${res.status}`, err.message);
      if (res.status === 401 && this.token && this.onUnauthorized) this.onUnauthorized(e);
      throw e;
    }
    return data;
  }

  register(username, password) {
    return this.request('POST', '/v1/auth/register', { username, password });
  }

  login(username, password) {
    return this.request('POST', '/v1/auth/login', { username, password });
  }

  me() {
    return this.request('GET', '/v1/me');
  }

  user(id) {
    return this.request('GET', `/v1/users/${encodeURIComponent(id)}`);
  }

  userByName(name) {
    return this.request('GET', `/v1/users?username=${encodeURIComponent(name)}`);
  }

  conversations() {
    return this.request('GET', '/v1/conversations');
  }

  conversation(id) {
    return this.request('GET', `/v1/conversations/${id}`);
  }

  createDirect(userId) {
    return this.request('POST', '/v1/conversations', { type: 'direct', member_ids: [userId] });
  }

  createGroup(name, memberIds) {
    return this.request('POST', '/v1/conversations', { type: 'group', name, member_ids: memberIds });
  }

  members(id, cursor) {
    const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    return this.request('GET', `/v1/conversations/${id}/members?limit=1000${q}`);
  }

  addMembers(id, userIds) {
    return this.request('POST', `/v1/conversations/${id}/members`, { user_ids: userIds });
  }

  removeMember(id, userId) {
    return this.request('DELETE', `/v1/conversations/${id}/members/${userId}`);
  }

  // { limit } for the latest, { before_seq, limit } for older pages
  messages(id, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) q.set(k, String(v));
    return this.request('GET', `/v1/conversations/${id}/messages?${q}`);
  }
}
