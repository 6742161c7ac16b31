/**
 * `/health/live` says the process is up; `/health/ready` says it can do its work: every
 * dependency registered by the modules in this process (Postgres, Redis, …) answered just now.
 */
import { Controller, Get, Injectable } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { errorMessage } from './errors';

export type ReadinessProbe = () => Promise<void>;

@Injectable()
export class HealthRegistry {
  private readonly probes = new Map<string, ReadinessProbe>();
  register(name: string, probe: ReadinessProbe): void {
    this.probes.set(name, probe);
  }
  entries(): Array<[string, ReadinessProbe]> {
    return [...this.probes.entries()];
  }
}

const PROBE_TIMEOUT_MS = 2000;

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly registry: HealthRegistry,
  ) {}

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check(
      this.registry.entries().map(([name, probe]) => async () => {
        const indicator = this.indicators.check(name);
        try {
          await Promise.race([
            probe(),
            new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer in ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS).unref()),
          ]);
          return indicator.up();
        } catch (e) {
          return indicator.down({ message: errorMessage(e) });
        }
      }),
    );
  }
}
