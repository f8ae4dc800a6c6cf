/**
 * Chooses which due actions to publish now: at most `free` in all, at most `tenantCap` in flight
 * per tenant, filled round-robin across tenants (those with least in flight first), so one
 * tenant's flood never starves another's single action.
 * @param candidates per tenant, its due actions in the order they should go
 * @param inflight per tenant, how many are queued or running
 */
export function pickFair<T>(
  candidates: ReadonlyMap<string, readonly T[]>,
  inflight: ReadonlyMap<string, number>,
  free: number,
  tenantCap: number,
): T[] {
  const queues = [...candidates.entries()]
    .map(([tenant, items]) => ({ tenant, items, next: 0, room: Math.max(0, tenantCap - (inflight.get(tenant) ?? 0)) }))
    .filter((q) => q.room > 0 && q.items.length > 0)
    .sort((a, b) => (inflight.get(a.tenant) ?? 0) - (inflight.get(b.tenant) ?? 0) || a.tenant.localeCompare(b.tenant));
  const picked: T[] = [];
  let active = queues;
  while (picked.length < free && active.length > 0) {
    for (const q of active) {
      if (picked.length >= free) break;
      picked.push(q.items[q.next] as T);
      q.next += 1;
      q.room -= 1;
    }
    active = active.filter((q) => q.room > 0 && q.next < q.items.length);
  }
  return picked;
}
