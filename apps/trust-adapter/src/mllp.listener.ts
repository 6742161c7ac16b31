/** The trust's MLLP port, open for as long as the app runs; every frame goes through the same intake as `POST /hl7`. */
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { MllpServer } from '@app/hl7';
import { withSpan } from '@app/platform';
import { SpanKind } from '@opentelemetry/api';
import { AdapterConfig } from './config';
import { Hl7IntakeService, IntakeResult } from './hl7-intake.service';

@Injectable()
export class MllpListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('mllp');
  private server?: MllpServer;

  constructor(private readonly config: AdapterConfig, private readonly intake: Hl7IntakeService) {}

  async onApplicationBootstrap(): Promise<void> {
    this.server = new MllpServer({
      port: this.config.MLLP_PORT,
      host: this.config.HOST,
      maxMessageBytes: this.config.MLLP_MAX_MESSAGE_BYTES,
      maxConnections: this.config.MLLP_MAX_CONNECTIONS,
      frameTimeoutMs: this.config.MLLP_FRAME_TIMEOUT_MS,
      // Each frame starts a trace (a PAS sends no trace context): for an S15 this is the root of
      // the freed slot's one trace, carried on through the outbox to the exchange and beyond.
      onMessage: (message) => this.traced(() => this.intake.receive(message)),
      // Over the limit: refused with AR and kept (its head and size) by the intake, as over HTTP.
      onOversized: (head, bytes) => this.traced(() => this.intake.receiveOversized(head, bytes)),
    });
    const port = await this.server.listen();
    this.logger.log(`MLLP for ${this.config.TRUST_ODS} listening on ${port}`);
  }

  private traced(receive: () => Promise<IntakeResult>): Promise<string> {
    return withSpan('mllp receive', { kind: SpanKind.SERVER, attributes: { 'network.transport': 'tcp', 'hl7.trust': this.config.TRUST_ODS } }, async (span) => {
      const result = await receive();
      span.setAttribute('hl7.ack_code', result.code);
      if (result.duplicate) span.setAttribute('hl7.duplicate', true);
      return result.ack;
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.close();
  }
}
