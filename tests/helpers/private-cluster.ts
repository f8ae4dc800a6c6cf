import { PrivateBroker } from './private-broker';
import { waitFor } from './wait';

/**
 * A RabbitMQ cluster of the test's own: `size` nodes `NAME1@localhost`... on 127.0.0.1 ports
 * `port`, `port + 1`... (distribution ports + 20000), joined to the first. Nodes boot in turn
 * (three at once are slow on two cores) and share the system's Erlang cookie.
 */
export class PrivateCluster {
  private constructor(readonly nodes: PrivateBroker[]) {}

  static async start(name: string, port: number, size = 3): Promise<PrivateCluster> {
    const nodes: PrivateBroker[] = [];
    const cluster = new PrivateCluster(nodes);
    try {
      for (let i = 0; i < size; i += 1) nodes.push(await PrivateBroker.start(`${name}${i + 1}`, port + i));
      const first = nodes[0] as PrivateBroker;
      for (const node of nodes.slice(1)) {
        await node.ctl('stop_app');
        await node.ctl('join_cluster', first.node);
        await node.ctl('start_app');
      }
      await cluster.waitRunning(size);
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Every node's URL, comma-separated, as `amqp.urls` takes them. */
  get urls(): string {
    return this.nodes.map((n) => n.url).join(',');
  }

  /** The node called `node` (`name2@localhost`). */
  byName(node: string): PrivateBroker {
    const found = this.nodes.find((n) => n.node === node);
    if (found === undefined) throw new Error(`no node ${node} in the cluster`);
    return found;
  }

  /** The node serving the broker port `port`. */
  byPort(port: number): PrivateBroker {
    const found = this.nodes.find((n) => n.url.endsWith(`:${port}`));
    if (found === undefined) throw new Error(`no node on port ${port} in the cluster`);
    return found;
  }

  /** Names of the running nodes, as a live node sees them. */
  async running(): Promise<string[]> {
    for (const node of this.nodes) {
      try {
        const status = JSON.parse(await node.ctl('cluster_status', '--formatter', 'json')) as {
          running_nodes?: string[];
        };
        return status.running_nodes ?? [];
      } catch {
        // that node is down: ask the next
      }
    }
    return [];
  }

  async waitRunning(n: number, timeoutMs = 90_000): Promise<void> {
    await waitFor(async () => (await this.running()).length === n, timeoutMs, `${n} running cluster nodes`);
  }

  /** `rabbitmqctl list_queues ARGS` on the first live node, as rows of columns. */
  async rows(...args: string[]): Promise<string[][]> {
    for (const node of this.nodes) {
      try {
        return (await node.ctl(...args))
          .trim()
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => l.split('\t'));
      } catch {
        // that node is down: ask the next
      }
    }
    throw new Error(`no node answered rabbitmqctl ${args.join(' ')}`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
