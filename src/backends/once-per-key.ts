// Calls under one idempotency key in flight in this process share one attempt: the second
// is answered with the first's promise. Calls without a key each run.
export function oncePerKey<R extends { idempotencyKey?: string }, T>(
  run: (request: R) => Promise<T>,
): (request: R) => Promise<T> {
  const inFlight = new Map<string, Promise<T>>();
  return (request) => {
    const key = request.idempotencyKey;
    if (!key) return run(request);
    const pending = inFlight.get(key) ?? run(request).finally(() => inFlight.delete(key));
    inFlight.set(key, pending);
    return pending;
  };
}
