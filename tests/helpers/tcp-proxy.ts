import { type Server, Socket, createServer } from 'node:net';

interface Pair {
  client: Socket;
  server: Socket;
  severed: boolean;
}

/**
 * A TCP proxy on 127.0.0.1 in front of `targetPort` that counts the connections it accepts and
 * the ones that closed, and can make every open connection stale: `sever()` closes the server
 * side but leaves the client's socket open, so the client learns of it only when it next sends
 * (the proxy then resets it) — like a NAT or a host that forgot the connection.
 * `pauseDownstream()` holds back what the target sends (the client hears nothing: a slow peer)
 * while what the client sends still goes through, until `resumeDownstream()`.
 */
export class TcpProxy {
  accepted = 0;
  closed = 0;
  private readonly pairs = new Set<Pair>();
  private downstreamPaused = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no port');
    const proxy = new TcpProxy(server, address.port);
    server.on('connection', (client) => proxy.accept(client, targetPort));
    return proxy;
  }

  /** Connections open now (client side). */
  get open(): number {
    return this.pairs.size;
  }

  sever(): void {
    for (const pair of this.pairs) {
      pair.severed = true;
      pair.server.destroy();
    }
  }

  /**
   * Stops passing on what the target sends, on every connection open now or accepted later;
   * it waits, in order, in the proxy's socket and the kernel until `resumeDownstream()`.
   */
  pauseDownstream(): void {
    this.downstreamPaused = true;
    for (const pair of this.pairs) pair.server.pause();
  }

  /** Passes on again, first everything held back. */
  resumeDownstream(): void {
    this.downstreamPaused = false;
    for (const pair of this.pairs) pair.server.resume();
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.server.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, targetPort: number): void {
    this.accepted += 1;
    const server = new Socket();
    const pair: Pair = { client, server, severed: false };
    this.pairs.add(pair);
    server.connect(targetPort, '127.0.0.1');
    client.on('data', (d: Buffer) => {
      if (pair.severed) client.resetAndDestroy();
      else server.write(d);
    });
    server.on('data', (d: Buffer) => client.write(d));
    if (this.downstreamPaused) server.pause();
    server.on('close', () => {
      if (!pair.severed) client.destroy();
    });
    client.on('close', () => {
      this.closed += 1;
      this.pairs.delete(pair);
      server.destroy();
    });
    client.on('error', () => undefined);
    server.on('error', () => undefined);
  }
}
