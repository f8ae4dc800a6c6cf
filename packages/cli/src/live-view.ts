/**
 * For commands that run until stopped (`events`, `logs -f`): a controller that SIGINT or
 * SIGTERM aborts (the command may abort it too: `q`), and a reader going away (EPIPE,
 * `| head`) ends the process normally (exit 0) before main's handler would call it a failure.
 */
export function stopController(): AbortController {
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stdout.prependListener('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  return abort;
}
