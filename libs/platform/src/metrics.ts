/**
 * Prometheus metrics. Label values are never personal data: trust codes, queue names, outcomes.
 */
import { Controller, Get, Header, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly counters = new Map<string, Counter>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly gauges = new Map<string, Gauge>();

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
  }

  counter(name: string, help: string, labelNames: string[] = []): Counter {
    let c = this.counters.get(name);
    if (!c) {
      c = new Counter({ name, help, labelNames, registers: [this.registry] });
      this.counters.set(name, c);
    }
    return c;
  }

  histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]): Histogram {
    let h = this.histograms.get(name);
    if (!h) {
      h = new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
      this.histograms.set(name, h);
    }
    return h;
  }

  gauge(name: string, help: string, labelNames: string[] = [], collect?: (this: Gauge) => Promise<void> | void): Gauge {
    let g = this.gauges.get(name);
    if (!g) {
      g = new Gauge({ name, help, labelNames, registers: [this.registry], collect });
      this.gauges.set(name, g);
    }
    return g;
  }
}

@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  async scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
