/**
 * Queue depth and age for the on-call engineer (and KEDA's Prometheus trigger): for every BullMQ
 * queue this process produces to or consumes, on each scrape, the jobs by state and the age of the
 * oldest job still waiting. A growing `waiting` with a rising age is a stuck or under-scaled worker;
 * `delayed` holds wave expiries and cut-offs and is expected to be large.
 * Labels are queue names and states only.
 */
import { Injectable, OnModuleInit } from '@nestjs/common';
import { MetricsService } from './metrics';
import { QueueService } from './queues';

const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;

@Injectable()
export class QueueMetrics implements OnModuleInit {
  constructor(private readonly queues: QueueService, private readonly metrics: MetricsService) {}

  onModuleInit(): void {
    const queues = this.queues;
    this.metrics.gauge('bullmq_queue_jobs', 'BullMQ jobs by queue and state', ['queue', 'state'], async function collect() {
      this.reset();
      for (const name of queues.names()) {
        const counts = await queues.queue(name).getJobCounts(...STATES).catch(() => undefined);
        if (!counts) continue;
        for (const s of STATES) this.set({ queue: name, state: s }, counts[s] ?? 0);
      }
    });
    this.metrics.gauge('bullmq_queue_oldest_waiting_seconds', 'Age of the oldest job waiting to run (0 when none)', ['queue'], async function collect() {
      this.reset();
      const now = Date.now();
      for (const name of queues.names()) {
        const oldest = await queues.queue(name).getJobs(['wait', 'prioritized'], 0, 0, true).catch(() => []);
        const ts = oldest.reduce((min, j) => Math.min(min, j.timestamp + (j.delay ?? 0)), Infinity);
        this.set({ queue: name }, Number.isFinite(ts) ? Math.max(0, (now - ts) / 1000) : 0);
      }
    });
  }
}
