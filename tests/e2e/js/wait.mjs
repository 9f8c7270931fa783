// What the e2e client scripts share: how long anything may take, and a bounded wait.
export const TIMEOUT_MS = 10000;

// Resolves once predicate() is true, checking every 20 ms; rejects after TIMEOUT_MS.
export function waitFor(predicate, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (predicate()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > TIMEOUT_MS) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 20);
  });
}
