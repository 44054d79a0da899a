// parleyd.mjs - runs the real build/parleyd for a test, like
// tests/blackbox/conftest.py: an ephemeral port (port 0, the real one read
// from the "listening" log line), a temporary data dir, a clean exit on
// SIGTERM asserted.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..', '..');
const BUILD = process.env.PARLEY_BUILD_DIR || path.join(REPO, 'build');

export function tempDir(prefix = 'parley-browser-') {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  return { path: d, remove: () => rmSync(d, { recursive: true, force: true }) };
}

function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PARLEY_') && !/^(http|https|all)_proxy$/i.test(k)) env[k] = v;
  }
  return env;
}

export class Parleyd {
  constructor(dataDir, args = []) {
    this.dataDir = dataDir;
    this.args = args;
    this.lines = [];
    this.proc = null;
    this.port = 0;
  }

  static async start(dataDir, args = []) {
    const s = new Parleyd(dataDir, args);
    await s.start();
    return s;
  }

  start(timeoutMs = 10000) {
    const argv = ['--listen', '127.0.0.1:0', '--data-dir', this.dataDir,
      '--argon-opslimit', '1', '--argon-memlimit', '8388608', ...this.args];
    this.proc = spawn(path.join(BUILD, 'parleyd'), argv,
      { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve({ code, sig })));
    return new Promise((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`parleyd did not start:\n${this.log()}`)),
        timeoutMs);
      this.proc.stderr.on('data', (chunk) => {
        buf += chunk.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          this.lines.push(line);
          if (this.port) continue;
          try {
            const o = JSON.parse(line);
            if (o.event === 'listening') {
              this.port = Number(o.addr.split(':').pop());
              clearTimeout(timer);
              resolve(this);
            }
          } catch (e) {
            /* not JSON: keep it for the log */
          }
        }
      });
      this.proc.on('exit', () => {
        clearTimeout(timer);
        if (!this.port) reject(new Error(`parleyd exited at start:\n${this.log()}`));
      });
    });
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  log(tail = 60) {
    return this.lines.slice(-tail).join('\n');
  }

  // SIGTERM; the server must exit 0 (it drains and closes sockets with 1001).
  async stop(timeoutMs = 10000) {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const { code, sig } = await this.exited;
    clearTimeout(timer);
    if (code !== 0) throw new Error(`parleyd exited with ${code ?? sig}:\n${this.log()}`);
  }
}
