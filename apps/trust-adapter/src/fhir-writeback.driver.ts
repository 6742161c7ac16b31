/**
 * Writing to a PAS, behind a small interface: FHIR R4 today; an HL7 SRM driver could follow.
 * Bookings use a conditional create keyed by our booking id, so a retry after a lost response
 * finds the appointment the first attempt made instead of making a second.
 *
 * Every request has a timeout (PAS_TIMEOUT_MS) and goes through this PAS's circuit breaker, so a
 * PAS that is down is not hammered by every retry of every job; retries themselves are BullMQ's
 * (attempts, exponential back-off with jitter: libs/platform/src/queues.ts).
 */
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { NHS_NUMBER_SYSTEM, ODS_SITE_SYSTEM, WritebackOrder } from '@app/contracts';
import { MetricsService, RequestNotSentError, failUnlessSent, tracedFetch } from '@app/platform';
import { CIRCUIT_STATE_VALUE, CircuitBreaker, CircuitOpenError } from './circuit-breaker';
import { AdapterConfig } from './config';

/** Consecutive PAS failures (network, timeout, 5xx, 408, 429) that open the circuit. */
export const PAS_CIRCUIT_THRESHOLD = 5;
/** How long an open circuit fails fast before one probe is let through. */
export const PAS_CIRCUIT_COOL_DOWN_MS = 5_000;

export interface PasCircuitTiming {
  /** How long an open circuit fails fast (PAS_CIRCUIT_COOL_DOWN_MS unless a test sets it). */
  coolDownMs: number;
}

/**
 * Test-only (`AdapterModule.forRoot(config, { circuit })`, not an environment variable): an
 * in-process suite whose scenarios each open the circuit shortens its cool-down, so that the next
 * scenario does not wait seconds for a probe. Production always has PAS_CIRCUIT_COOL_DOWN_MS.
 */
export const PAS_CIRCUIT_TIMING = Symbol('PAS_CIRCUIT_TIMING');

/**
 * A failure's `reason` is ours (status, what was missing) and may be logged; `detail` is the PAS's own
 * answer, which can quote the patient (an OperationOutcome naming them), so it goes only to the
 * exchange's failure record, never to a log line or a job's error.
 * `pasMayHold`: a write whose answer never came (a timeout or a cut connection after the request
 * went out, a 500, 502 or 504, a success without an id) may have been done all the same; one that
 * never reached the PAS (no connection made: refused, no such host, a connect or TLS handshake that
 * timed out; the circuit open), that the PAS turned away (a 4xx) or that was answered 503 (not
 * handled at all) was not: see `answerMayHold` and `noAnswer`.
 * `absent`: a search that plainly found nothing, the one answer that says the PAS holds nothing
 * (a refused search says nothing either way).
 */
export type WritebackResult = { ok: true; pasAppointmentId: string } | { ok: false; permanent: boolean; reason: string; detail?: string; pasMayHold?: boolean; absent?: boolean };

/** Network errors raised before a request was sent: the PAS cannot have acted on it. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** The first network error code (a string; a DOMException's numeric `code` is not one) down an error's causes. */
function networkCode(e: unknown): string | undefined {
  let err = e as { code?: unknown; cause?: unknown; errors?: Array<{ code?: unknown }> } | undefined;
  for (let depth = 0; err && depth < 4; depth++, err = err.cause as typeof err) {
    if (typeof err.code === 'string') return err.code;
    const first = err.errors?.[0]?.code; // a connect that tried IPv4 and IPv6 (an AggregateError)
    if (typeof first === 'string') return first;
  }
  return undefined;
}

/**
 * A PAS call that threw (no HTTP answer at all) as a transient failure; whether the PAS may have
 * acted on it is judged from whether the request went out: one that never had a connection (seen
 * by `failUnlessSent`, whatever timer or error ended it, or told by the error's code when the
 * request was not watched) or met an open circuit never reached the PAS; anything else (a timeout
 * or a reset after the request was written, a connection cut mid-answer) may have.
 */
export function noAnswer(e: unknown): WritebackResult {
  const code = networkCode(e);
  const neverSent = e instanceof CircuitOpenError || e instanceof RequestNotSentError || (code !== undefined && NEVER_SENT.has(code));
  const message = (e as { message?: unknown } | undefined)?.message;
  return { ok: false, permanent: false, reason: `PAS unreachable: ${typeof message === 'string' ? message : String(e)}${code ? ` (${code})` : ''}`, pasMayHold: !neverSent };
}

/**
 * Whether a PAS (or a gateway in front of it) that answered `status` may have acted on the request,
 * for a trust's integration engineer to check against their own set-up:
 * - a 4xx is a refusal, 429 and 408 included (not taken, try later): no;
 * - 503 Service Unavailable (RFC 9110 §15.6.4): the server is not handling requests (overloaded,
 *   in maintenance, or a gateway or load balancer with no healthy PAS behind it): no;
 * - 500 may come after a commit (the PAS failing on its way back); 502 Bad Gateway and 504 Gateway
 *   Timeout say a gateway sent the request on and got no valid answer in time, which the PAS may
 *   have made the appointment for; any other 5xx likewise: yes. A gateway's 502 for a PAS that
 *   refused its connection cannot be told from one for a PAS that died mid-answer, so this errs
 *   on "may hold": at worst a slot is closed and listed for a person to check, never booked twice.
 */
export function answerMayHold(status: number): boolean {
  return status >= 500 && status !== 503;
}

export abstract class PasWritebackDriver {
  abstract book(order: WritebackOrder): Promise<WritebackResult>;
  abstract cancel(order: WritebackOrder): Promise<WritebackResult>;
  /**
   * Whether the PAS already holds what the order asks for (without writing anything): `ok` with
   * the appointment id when it does; a permanent failure marked `absent` when it plainly does
   * not; a transient one when the PAS could not be asked, a permanent one when it refused to be. An answer that never came back (a timeout, a cut
   * connection, a 5xx) does not mean the PAS did nothing, so this is asked before such a failure
   * is reported for good.
   */
  abstract check(order: WritebackOrder): Promise<WritebackResult>;
}

@Injectable()
export class FhirWritebackDriver extends PasWritebackDriver {
  private readonly logger = new Logger('pas');
  readonly breaker: CircuitBreaker;

  constructor(private readonly config: AdapterConfig, metrics: MetricsService, @Optional() @Inject(PAS_CIRCUIT_TIMING) timing?: Partial<PasCircuitTiming>) {
    super();
    const gauge = metrics.gauge('pas_circuit_state', 'Circuit breaker per PAS: 0 closed, 1 half-open, 2 open', ['trust']);
    gauge.set({ trust: config.TRUST_ODS }, 0);
    this.breaker = new CircuitBreaker({
      threshold: PAS_CIRCUIT_THRESHOLD,
      coolDownMs: timing?.coolDownMs ?? PAS_CIRCUIT_COOL_DOWN_MS,
      onStateChange: (state) => {
        gauge.set({ trust: config.TRUST_ODS }, CIRCUIT_STATE_VALUE[state]);
        this.logger.warn(`circuit to ${config.TRUST_ODS} PAS is ${state}`);
      },
    });
  }

  async book(order: WritebackOrder): Promise<WritebackResult> {
    const a = order.appointment;
    const start = new Date(a.start);
    const resource: fhir4.Appointment = {
      resourceType: 'Appointment',
      status: 'booked',
      identifier: [{ system: this.config.BOOKING_IDENTIFIER_SYSTEM, value: order.bookingId }],
      start: start.toISOString(),
      end: new Date(start.getTime() + (a.durationMinutes ?? 15) * 60_000).toISOString(),
      minutesDuration: a.durationMinutes ?? undefined,
      serviceType: a.clinicCode ? [{ coding: [{ code: a.clinicCode }] }] : undefined,
      participant: [
        { actor: { type: 'Patient', identifier: { system: NHS_NUMBER_SYSTEM, value: order.patient.nhsNumber } }, status: 'accepted' },
        ...(a.siteOds ? [{ actor: { type: 'Location', identifier: { system: ODS_SITE_SYSTEM, value: a.siteOds } }, status: 'accepted' as const }] : []),
        ...(a.clinicianId ? [{ actor: { type: 'Practitioner', identifier: { value: a.clinicianId } }, status: 'accepted' as const }] : []),
      ],
    };
    const res = await this.request('POST', '/Appointment', resource, { 'If-None-Exist': `identifier=${this.config.BOOKING_IDENTIFIER_SYSTEM}|${order.bookingId}` });
    if (res.status === 200 || res.status === 201) {
      const id = (res.json as fhir4.Appointment | undefined)?.id;
      if (id) return { ok: true, pasAppointmentId: id };
      return { ok: false, permanent: false, reason: 'PAS answered without an appointment id', pasMayHold: true };
    }
    return this.failure(res);
  }

  async cancel(order: WritebackOrder): Promise<WritebackResult> {
    const id = order.appointment.pasAppointmentId;
    if (!id) return { ok: false, permanent: true, reason: 'no PAS appointment id to cancel' };
    const current = await this.request('GET', `/Appointment/${encodeURIComponent(id)}`);
    if (current.status !== 200) return this.failure(current);
    const appt = current.json as fhir4.Appointment;
    if (appt.status === 'cancelled') return { ok: true, pasAppointmentId: id };
    const updated: fhir4.Appointment = {
      ...appt,
      status: 'cancelled',
      cancelationReason: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason', code: 'pat-swl', display: 'Patient: Swap with another patient' }] },
    };
    const res = await this.request('PUT', `/Appointment/${encodeURIComponent(id)}`, updated);
    if (res.status === 200 || res.status === 201) return { ok: true, pasAppointmentId: id };
    return this.failure(res);
  }

  /**
   * Goes around the circuit breaker: it is asked once per write-back, when the failures that led
   * here have most likely opened the circuit, which would refuse it without asking the PAS at all.
   */
  async check(order: WritebackOrder): Promise<WritebackResult> {
    const ask = (path: string) => this.send('GET', path, undefined, {});
    if (order.kind === 'cancel') {
      const id = order.appointment.pasAppointmentId;
      if (!id) return { ok: false, permanent: true, reason: 'no PAS appointment id to cancel' };
      const res = await ask(`/Appointment/${encodeURIComponent(id)}`);
      if (res.status !== 200) return this.failure(res);
      if ((res.json as fhir4.Appointment).status === 'cancelled') return { ok: true, pasAppointmentId: id };
      return { ok: false, permanent: true, reason: 'the PAS still holds the appointment (not cancelled)' };
    }
    // The identifier of the conditional create: the appointment a lost or late answer was about.
    const identifier = encodeURIComponent(`${this.config.BOOKING_IDENTIFIER_SYSTEM}|${order.bookingId}`);
    const res = await ask(`/Appointment?identifier=${identifier}`);
    if (res.status !== 200) return this.failure(res);
    const live = ((res.json as fhir4.Bundle | undefined)?.entry ?? [])
      .map((e) => e.resource as fhir4.Appointment | undefined)
      .find((a) => a?.resourceType === 'Appointment' && a.id && a.status !== 'cancelled' && a.status !== 'entered-in-error');
    if (live?.id) return { ok: true, pasAppointmentId: live.id };
    return { ok: false, permanent: true, reason: 'the PAS holds no appointment for this booking', absent: true };
  }

  private failure(res: { status: number; text: string }): WritebackResult {
    const permanent = res.status >= 400 && res.status < 500 && ![408, 409, 429].includes(res.status);
    return { ok: false, permanent, reason: `PAS answered ${res.status}`, detail: res.text.slice(0, 200), pasMayHold: answerMayHold(res.status) };
  }

  private request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; json: unknown }> {
    // A 4xx refusal is the PAS working; only what says "the PAS is unwell" counts against it.
    return this.breaker.run(() => this.send(method, path, body, headers), (r) => r.status >= 500 || r.status === 408 || r.status === 429);
  }

  /** Throws a `RequestNotSentError` when no connection to the PAS was made (see `noAnswer`). */
  private send(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; text: string; json: unknown }> {
    return failUnlessSent(async (requestId) => {
      const res = await tracedFetch(`${this.config.PAS_FHIR_BASE_URL.replace(/\/$/, '')}${path}`, {
        method,
        headers: { accept: 'application/fhir+json', ...(body ? { 'content-type': 'application/fhir+json' } : {}), ...headers, ...requestId },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.config.PAS_TIMEOUT_MS),
      }, 'pas-fhir');
      const text = await res.text();
      let json: unknown;
      try { json = JSON.parse(text); } catch { json = undefined; }
      return { status: res.status, text, json };
    });
  }
}
