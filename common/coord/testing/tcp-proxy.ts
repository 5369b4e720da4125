// Test harness: a TCP proxy in front of etcd that can lose the reply to the next request — the
// request reaches etcd and is applied, then the connection dies before the answer comes back. This
// is the exact fault under which a retrying client re-sends an applied CAS (DESIGN.md §5 pitfall).
import { createServer, connect, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** The next bytes from any client are forwarded, every reply is dropped, and after `ms` both sockets are destroyed. */
  loseNextReply(ms?: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let armed: number | undefined;
  let dropping = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const kill = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (data) => {
      upstream.write(data);
      if (armed !== undefined && !dropping) {
        dropping = true;
        const ms = armed;
        armed = undefined;
        setTimeout(() => {
          kill();
          dropping = false;
        }, ms);
      }
    });
    upstream.on('data', (data) => {
      if (!dropping) client.write(data);
    });
    client.on('error', kill).on('close', kill);
    upstream.on('error', kill).on('close', kill);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    loseNextReply(ms = 300) {
      armed = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
