import { Logger } from '@nestjs/common';
import { errorMessage } from './errors';
import { Periodic } from './periodic';

describe('errorMessage', () => {
  it("gives an Error's message, any object's message, and anything else as text", () => {
    expect(errorMessage(new Error('connection refused'))).toBe('connection refused');
    expect(errorMessage({ message: 'rate limited', code: 429 })).toBe('rate limited');
    expect(errorMessage(undefined)).toBe('undefined');
    expect(errorMessage('ECONNRESET')).toBe('ECONNRESET');
  });
});

describe('Periodic', () => {
  it('logs a run that failed with something other than an Error and runs again at the next tick', async () => {
    const warn = jest.fn();
    const logger = { warn } as unknown as Logger;
    let runs = 0;
    const periodic = new Periodic(logger, 'the sweep', () => {
      runs++;
      return runs === 1 ? Promise.reject(undefined) : Promise.resolve();
    });
    periodic.start(10);
    for (let waited = 0; runs < 2; waited += 5) {
      if (waited > 2_000) throw new Error(`ran ${runs} time(s)`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await periodic.stop();
    expect(warn).toHaveBeenCalledWith('the sweep failed, will try again: undefined');
    expect(runs).toBeGreaterThanOrEqual(2);
  });
});
