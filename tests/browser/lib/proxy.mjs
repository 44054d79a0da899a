// proxy.mjs - a TCP relay on an ephemeral port in front of parleyd. The
// browser keeps one origin (the relay's) while the test stops the server
// and starts a new one on another ephemeral port: no test binds a fixed
// port. setTarget(null) refuses connections (a server that is down).
import net from 'node:net';

export function startProxy(targetPort) {
  let target = targetPort;
  const open = new Set();
  const server = net.createServer((client) => {
    if (!target) {
      client.destroy();
      return;
    }
    const up = net.connect(target, '127.0.0.1');
    open.add(client);
    const end = () => {
      client.destroy();
      up.destroy();
      open.delete(client);
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    client.pipe(up);
    up.pipe(client);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        setTarget(p) {
          target = p;
        },
        close() {
          for (const s of open) s.destroy();
          return new Promise((r) => server.close(r));
        },
      });
    });
  });
}
