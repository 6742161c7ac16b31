/**
 * Imported first by a suite that waits for jobs to fail for good: the retry back-off read by
 * @app/platform's JOB_DEFAULTS at load (JOB_BACKOFF_MS) becomes 20 ms, so a job's eight attempts
 * take about 3 s instead of about a minute. Restore it with `restoreRetries()` in afterAll, so
 * suites that run later in the same process load the production back-off.
 */
const before = process.env.JOB_BACKOFF_MS;
export const FAST_BACKOFF_MS = 20;
process.env.JOB_BACKOFF_MS = String(FAST_BACKOFF_MS);

export function restoreRetries(): void {
  if (before === undefined) delete process.env.JOB_BACKOFF_MS;
  else process.env.JOB_BACKOFF_MS = before;
}
