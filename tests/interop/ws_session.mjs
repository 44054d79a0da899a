// ws_session.mjs - one scripted Parley session with the Node `ws` library
// (an independent RFC 6455 client), driven by
// tests/blackbox/test_interop_node.py:
//
//   node ws_session.mjs BASE_URL USERNAME PASSWORD PEER_USERNAME
//
// Logs in over REST, opens /v1/ws (ws offers permessage-deflate by
// default; the server must decline it), checks hello, sends a message and
// receives its ack and its own echo, sends a message in three fragments
// split inside a UTF-8 character, pings at both levels and closes with
// 1000. Prints one JSON line: {"ok":true,...} or {"ok":false,"step",...};
// exits 0 only when every step passed.
import WebSocket from 'ws';

const STEP_MS = 10000;
const [base, username, password, peerName] = process.argv.slice(2);
let step = 'args';

function fail(err) {
    console.log(JSON.stringify({ok: false, step, error: String(err && err.stack || err)}));
    process.exit(1);
}

function check(cond, what) {
    if (!cond)
        throw new Error('check failed: ' + what);
}

async function rest(method, path, token, body) {
    const headers = {'Content-Type': 'application/json'};
    if (token)
        headers.Authorization = 'Bearer ' + token;
    const r = await fetch(base + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(STEP_MS),
    });
    const text = await r.text();
    return {status: r.status, body: text ? JSON.parse(text) : null};
}

// Text frames as parsed JSON, in order; next(pred) waits for the first
// one matching pred and keeps the others.
class Inbox {
    constructor(ws) {
        this.items = [];
        this.waiters = [];
        ws.on('message', (data, isBinary) => {
            check(!isBinary, 'the server sent a binary frame');
            this.items.push(JSON.parse(data.toString('utf8')));
            this.wake();
        });
    }

    wake() {
        for (const w of this.waiters.slice()) {
            const i = this.items.findIndex(w.pred);
            if (i >= 0) {
                this.waiters.splice(this.waiters.indexOf(w), 1);
                clearTimeout(w.timer);
                w.resolve(this.items.splice(i, 1)[0]);
            }
        }
    }

    next(pred, what) {
        return new Promise((resolve, reject) => {
            const w = {pred, resolve};
            w.timer = setTimeout(() => {
                this.waiters.splice(this.waiters.indexOf(w), 1);
                reject(new Error('timed out waiting for ' + what + '; inbox ' +
                                 JSON.stringify(this.items).slice(0, 500)));
            }, STEP_MS);
            this.waiters.push(w);
            this.wake();
        });
    }
}

function once(emitter, event, what) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('timed out: ' + what)), STEP_MS);
        emitter.once(event, (...args) => {
            clearTimeout(timer);
            resolve(args);
        });
    });
}

async function sendAndEcho(inbox, cid, cmid, content) {
    const ack = await inbox.next(o => o.type === 'ack' && o.client_msg_id === cmid,
                                 'ack ' + cmid);
    const msg = await inbox.next(o => o.type === 'message' && o.client_msg_id === cmid,
                                 'own message ' + cmid);
    check(ack.conversation_id === cid, 'ack conversation_id');
    check(msg.seq === ack.seq && msg.message_id === ack.message_id, 'message matches ack');
    check(msg.content === content, 'content round trip: ' + JSON.stringify(msg.content));
    return ack.seq;
}

async function main() {
    const out = {ok: true};
    step = 'login';
    const login = await rest('POST', '/v1/auth/login', null, {username, password});
    check(login.status === 200 && login.body.token_type === 'Bearer', 'login 200');
    const token = login.body.token;

    step = 'conversation';
    const peer = await rest('GET', '/v1/users?username=' + encodeURIComponent(peerName), token);
    check(peer.status === 200, 'peer lookup 200');
    const conv = await rest('POST', '/v1/conversations', token,
                            {type: 'direct', member_ids: [peer.body.user_id]});
    check(conv.status === 201 || conv.status === 200, 'conversation created');
    const cid = conv.body.conversation_id;
    out.conversation_id = cid;

    step = 'connect';
    const ws = new WebSocket(base.replace(/^http/, 'ws') + '/v1/ws',
                             {headers: {Authorization: 'Bearer ' + token},
                              handshakeTimeout: STEP_MS});
    const inbox = new Inbox(ws);
    const closed = once(ws, 'close', 'close event');
    await once(ws, 'open', 'open');
    out.extensions = ws.extensions;
    check(ws.extensions === '', 'no extension negotiated: ' + ws.extensions);

    step = 'hello';
    const hello = await inbox.next(o => o.type === 'hello', 'hello');
    check(hello.user_id === login.body.user_id, 'hello user_id');
    out.heartbeat_interval_ms = hello.heartbeat_interval_ms;

    step = 'send';
    const plain = 'hello from node ws';
    ws.send(JSON.stringify({type: 'send', conversation_id: cid, client_msg_id: 'node-1',
                            content: plain}));
    out.seqs = [await sendAndEcho(inbox, cid, 'node-1', plain)];

    step = 'fragmented';
    const frag = 'fragments: h\u00e9llo \u20ac \u{1F600}';
    const bytes = Buffer.from(JSON.stringify({type: 'send', conversation_id: cid,
                                              client_msg_id: 'node-2', content: frag}));
    const euro = bytes.indexOf(Buffer.from('\u20ac')) + 1;  // inside the character
    const cuts = [0, 10, euro, bytes.length];
    for (let i = 0; i + 1 < cuts.length; i++)
        ws.send(bytes.subarray(cuts[i], cuts[i + 1]),
                {binary: false, fin: i + 2 === cuts.length});
    out.seqs.push(await sendAndEcho(inbox, cid, 'node-2', frag));

    step = 'ping';
    const payload = Buffer.from('node-ping');
    const pong = once(ws, 'pong', 'pong');
    ws.ping(payload);
    const [got] = await pong;
    check(Buffer.compare(got, payload) === 0, 'pong echoes the ping payload');
    ws.send(JSON.stringify({type: 'ping'}));
    await inbox.next(o => o.type === 'pong', 'json pong');

    step = 'close';
    ws.close(1000, 'done');
    const [code] = await closed;
    out.close_code = code;
    check(code === 1000, 'close code 1000, got ' + code);
    console.log(JSON.stringify(out));
}

main().catch(fail);
