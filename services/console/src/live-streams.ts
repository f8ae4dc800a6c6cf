/**
 * The open server-sent event streams, so that a drain ends them (a stream never ends by itself)
 * and the heartbeat can say how many there are. Holds one closer per stream, nothing else: the
 * events themselves are read from PostgreSQL by each stream and never kept.
 */
export class LiveStreams {
  private readonly open = new Set<() => void>();
  private readonly owned = new Map<string, number>();
  private closed = false;

  /**
   * Registers a stream's closer, opened by `owner` (a principal); returns its deregistration
   * (idempotent). Refused (false) once draining.
   */
  add(close: () => void, owner = ''): (() => void) | false {
    if (this.closed) return false;
    this.open.add(close);
    this.owned.set(owner, this.ownedBy(owner) + 1);
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.open.delete(close);
      const left = this.ownedBy(owner) - 1;
      if (left > 0) this.owned.set(owner, left);
      else this.owned.delete(owner);
    };
  }

  /** How many streams `owner` has open now. */
  ownedBy(owner: string): number {
    return this.owned.get(owner) ?? 0;
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
