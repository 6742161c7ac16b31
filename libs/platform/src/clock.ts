import type { Clock } from '@app/domain';

/** The wall clock, for production. Tests inject `FixedClock` from @app/domain instead. */
export class SystemClock implements Clock {
  now(): Date {
    return new Date();
  }
}

export const CLOCK = Symbol('CLOCK');
