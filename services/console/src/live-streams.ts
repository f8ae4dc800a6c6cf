/**
 * The open server-sent event streams, so that a drain ends them (a stream never ends by itself)
 * and the heartbeat can say how many there are. Holds one closer per stream, nothing else: the
 * events themselves are read from PostgreSQL by each stream and never kept.
 */
export class LiveStreams {
  private readonly open = new Set<() => void>();
  private closed = false;

  /** Registers a stream's closer; returns its deregistration. Refused (false) once draining. */
  add(close: () => void): (() => void) | false {
    if (this.closed) return false;
    this.open.add(close);
    return () => this.open.delete(close);
  }

  get size(): number {
    return this.open.size;
  }

  /** Ends every stream (the browsers reconnect, to another console or to this one once restarted). */
  closeAll(): void {
    this.closed = true;
    for (const close of [...this.open]) close();
    this.open.clear();
  }
}
