/**
 * The log lines of the apps a suite runs in this process, for a personal-data scan
 * (`personalDataFound`): under jest their pino loggers write to `process.stdout`. Every line is
 * kept; a log line below `error` is not printed (`print: 'nothing'`: no log line is), so a suite
 * can log at `info` (what the scan reads) without flooding the run's output. Anything that is not
 * a log line is printed as usual.
 */
export interface CapturedLogs {
  lines: string[];
  restore(): void;
}

export function captureLogs({ print = 'errors' }: { print?: 'errors' | 'nothing' } = {}): CapturedLogs {
  const lines: string[] = [];
  const stdout = process.stdout;
  const write = stdout.write;
  stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    lines.push(text);
    const quiet = text.startsWith('{"level":"') && (print === 'nothing' || !/^\{"level":"(error|fatal)"/.test(text));
    if (!quiet) return (write as (...a: unknown[]) => boolean).call(stdout, chunk, ...rest);
    const done = rest.find((r): r is () => void => typeof r === 'function');
    if (done) process.nextTick(done);
    return true;
  }) as typeof stdout.write;
  return { lines, restore: () => void (stdout.write = write) };
}
