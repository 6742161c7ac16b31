/**
 * The clock port. Domain code never reads the wall clock itself: rules take `now: Date` and
 * services hold a `Clock`, so every time-dependent rule can be tested at any instant (BST, GMT,
 * the night the clocks change) without faking globals.
 *
 * The system clock lives with the apps (`@app/platform`), not here, so nothing in this library
 * can reach for real time by accident.
 */
import { DomainError } from './errors';

export interface Clock {
  now(): Date;
}

/** A clock that only moves when told to: for tests, simulations and replays. */
export class FixedClock implements Clock {
  private ms: number;

  constructor(start: Date) {
    this.ms = validTime(start);
  }

  /** A fresh Date each call, so a caller mutating it cannot move the clock. */
  now(): Date {
    return new Date(this.ms);
  }

  set(d: Date): void {
    this.ms = validTime(d);
  }

  advance(ms: number): void {
    if (!Number.isFinite(ms)) throw new DomainError('invalid-clock-step', `cannot advance the clock by ${ms} ms`);
    this.ms += ms;
  }
}

function validTime(d: Date): number {
  const ms = d.getTime();
  if (Number.isNaN(ms)) throw new DomainError('invalid-date', 'FixedClock needs a valid Date');
  return ms;
}
