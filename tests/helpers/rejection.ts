/**
 * The error `p` rejects with, which must be a `type` (anything else is rethrown, failing the
 * test as it is); a `p` that resolves fails the test.
 */
export async function rejection<E>(p: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  try {
    await p;
  } catch (err) {
    if (err instanceof type) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}
