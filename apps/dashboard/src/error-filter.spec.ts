import type { ArgumentsHost } from '@nestjs/common';
import { DashboardErrorFilter, Pages } from './pages';

describe('DashboardErrorFilter', () => {
  it('logs an unhandled error without the personal data its message quotes', () => {
    const written: string[] = [];
    const spy = jest.spyOn(console, 'error').mockImplementation((line: unknown) => void written.push(String(line)));
    const res = { headersSent: false, status: () => ({ json: () => undefined }) };
    const host = { switchToHttp: () => ({ getRequest: () => ({ headers: { accept: 'application/json' } }), getResponse: () => res }) } as unknown as ArgumentsHost;
    try {
      new DashboardErrorFilter({} as Pages).catch(new Error('invalid input syntax for type uuid: "9990000018" (+447700900123)'), host);
    } finally {
      spy.mockRestore();
    }
    expect(written).toHaveLength(1);
    expect(written[0]).toContain('unhandled dashboard error');
    expect(written[0]).not.toMatch(/9990000018|7700900123/);
  });
});
