/**
 * Groups calls into batches: the first item goes at once; items that arrive while a batch is
 * running wait and go together in the next one (at most `maxBatch`), so batches grow with load
 * and latency stays low when idle. `run` returns one result per item, in order.
 *
 * A batch that fails with an error `isolate` accepts (one that would fail again the same way,
 * such as PostgreSQL refusing one item's data) is run again item by item, so that one bad item
 * fails alone instead of failing, at every retry, every item that shares its batch.
 */
export class Batcher<I, R> {
  private readonly waiting: Array<{ item: I; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private running = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<R[]>,
    private readonly maxBatch: number,
    private readonly parallel = 1,
    private readonly isolate: (err: unknown) => boolean = () => false,
  ) {}

  add(item: I): Promise<R> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    while (this.running < this.parallel && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.maxBatch);
      this.running += 1;
      this.run(batch.map((b) => b.item))
        .then((results) => batch.forEach((b, i) => b.resolve(results[i] as R)))
        .catch(async (err: unknown) => {
          if (batch.length === 1 || !this.isolate(err)) {
            batch.forEach((b) => b.reject(err));
            return;
          }
          for (const b of batch) {
            try {
              b.resolve((await this.run([b.item]))[0] as R);
            } catch (alone) {
              b.reject(alone);
            }
          }
        })
        .finally(() => {
          this.running -= 1;
          this.kick();
        });
    }
  }
}
