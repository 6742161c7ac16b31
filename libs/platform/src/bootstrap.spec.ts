import { Controller, Get, Ip, Module, INestApplication } from '@nestjs/common';
import { bootstrapApp } from './bootstrap';
import { BaseConfig, ConfigError, loadConfig } from './config';
import { APP_LOGGER, createLogger } from './logger';

@Controller()
class WhoController {
  @Get('who')
  who(@Ip() ip: string): { ip: string } {
    return { ip };
  }
}

@Module({ controllers: [WhoController], providers: [{ provide: APP_LOGGER, useValue: createLogger('test', 'silent') }] })
class WhoModule {}

/** The caller's address as the app sees it, asked over real HTTP with an X-Forwarded-For header. */
async function seenAddress(trustProxy: string): Promise<string> {
  const config = loadConfig(BaseConfig, { PORT: '0', HOST: '127.0.0.1', TRUST_PROXY: trustProxy });
  let app: INestApplication | undefined;
  try {
    app = await bootstrapApp(WhoModule, { config });
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const res = await fetch(`${url}/who`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    return ((await res.json()) as { ip: string }).ip;
  } finally {
    await app?.close();
  }
}

describe('TRUST_PROXY: whose word on the caller\'s address is believed', () => {
  it('by default none: a forged X-Forwarded-For does not change the address', async () => {
    expect(await seenAddress('')).toMatch(/127\.0\.0\.1$/);
  });

  it('behind one ingress (1 hop, or the proxy\'s range named) the forwarded address is the caller', async () => {
    expect(await seenAddress('1')).toBe('203.0.113.7');
    expect(await seenAddress('loopback, 10.0.0.0/8')).toBe('203.0.113.7');
  });

  it('refuses "true" (anyone could name their own address) and anything malformed, at boot', () => {
    for (const bad of ['true', 'everyone', '10.0.0.0/8;rm']) {
      expect(() => loadConfig(BaseConfig, { TRUST_PROXY: bad })).toThrow(ConfigError);
    }
  });
});
