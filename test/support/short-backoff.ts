/**
 * Imported first by a suite that must spend a job's every retry in seconds: the queue's back-off
 * is read once, when @app/platform's queues module loads (JOB_BACKOFF_MS; production keeps 500 ms).
 * With 50 ms a job's eight attempts are spent within about 3–6.5 s.
 */
process.env.JOB_BACKOFF_MS ??= '50';
export const SHORT_BACKOFF_MS = Number(process.env.JOB_BACKOFF_MS);
