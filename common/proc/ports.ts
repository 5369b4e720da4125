// Loopback ports for tests, benchmarks and the local cluster: a port free a moment ago (bound, then
// released — connecting to it is refused until someone binds it), and a black hole that accepts
// connections and never answers (what a partitioned or hung peer looks like to a client).
import net from 'node:net';

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
  return port;
}

export interface BlackHole {
  /** `127.0.0.1:<port>` */
  readonly address: string;
  readonly port: number;
  /** Destroys the accepted connections and stops listening. */
  close(): Promise<void>;
}

export async function startBlackHole(host = '127.0.0.1'): Promise<BlackHole> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
