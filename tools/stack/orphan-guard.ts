/**
 * Preloaded (`node --require`) into every process the launcher starts. The launcher puts each
 * child in its own process group, so that a Ctrl-C reaches only the launcher, which then stops
 * the children in order; the price is that a launcher killed outright (SIGKILL, a crashed
 * terminal) can no longer take them down. This guard closes that gap: once the parent is gone
 * the child stops itself gracefully, exactly as if it had been sent SIGTERM.
 */
const parent = Number(process.env.STACK_PARENT_PID);

if (parent > 0 && process.ppid === parent) {
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
    // Graceful shutdown has the same 10 s the launcher would give it.
    setTimeout(() => process.exit(1), 10_000).unref();
  }, 1000);
  // The guard alone must never keep a process alive.
  timer.unref();
}

export {};
