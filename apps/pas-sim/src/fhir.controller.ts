/**
 * FHIR R4 `Appointment` for each simulated PAS, under `/{ODS}/fhir`: create (and conditional
 * create with `If-None-Exist`, so a retried booking finds the first one), read, search by
 * identifier or patient, update. Errors are OperationOutcomes that say what is wrong.
 */
import { Body, Controller, Get, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { IcsDirectory } from '@app/platform';
import type { Request, Response } from 'express';
import { Appointment, AppointmentStore, appointmentProblems } from './appointment-store';
import { FaultBox } from './faults';
import { SiuSender } from './siu-sender';

function outcome(res: Response, status: number, code: string, diagnostics: string | string[]): void {
  const issues = (Array.isArray(diagnostics) ? diagnostics : [diagnostics]).map((d) => ({ severity: 'error', code, diagnostics: d }));
  res.status(status).type('application/fhir+json').send(JSON.stringify({ resourceType: 'OperationOutcome', issue: issues }));
}

function bundle(entries: Appointment[]): fhir4.Bundle {
  return { resourceType: 'Bundle', type: 'searchset', total: entries.length, entry: entries.map((resource) => ({ resource })) };
}

function splitToken(v: string): [string, string] {
  const i = v.indexOf('|');
  return i < 0 ? ['', v] : [v.slice(0, i), v.slice(i + 1)];
}

@Controller(':ods/fhir/Appointment')
export class FhirController {
  constructor(
    private readonly store: AppointmentStore,
    private readonly ics: IcsDirectory,
    private readonly faults: FaultBox,
    private readonly siu: SiuSender,
  ) {}

  @Post()
  async create(@Param('ods') ods: string, @Body() body: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    if (!(await this.admit(ods, res, true))) return;
    const problems = appointmentProblems(body);
    if (problems.length) return outcome(res, 400, 'invalid', problems);
    const condition = req.headers['if-none-exist'];
    if (typeof condition === 'string') {
      const m = /^identifier=(.+)$/.exec(condition.trim());
      if (!m) return outcome(res, 400, 'invalid', 'If-None-Exist must be identifier=<system>|<value>');
      const [system, value] = splitToken(decodeURIComponent(m[1]));
      const found = this.store.byIdentifier(ods, system, value);
      if (found.length > 1) return outcome(res, 412, 'duplicate', `${found.length} appointments match ${condition}`);
      if (found.length === 1) return this.send(ods, res, 200, found[0]);
    }
    const created = this.store.create(ods, body as unknown as fhir4.Appointment);
    res.setHeader('Location', `/${ods}/fhir/Appointment/${created.id}/_history/1`);
    this.send(ods, res, 201, created);
  }

  @Get(':id')
  async read(@Param('ods') ods: string, @Param('id') id: string, @Res() res: Response): Promise<void> {
    if (!(await this.admit(ods, res, false))) return;
    const a = this.store.get(ods, id);
    if (!a) return outcome(res, 404, 'not-found', `Appointment/${id} is not known to ${ods}`);
    this.send(ods, res, 200, a);
  }

  @Get()
  async search(@Param('ods') ods: string, @Query() q: Record<string, string>, @Res() res: Response): Promise<void> {
    if (!(await this.admit(ods, res, false))) return;
    let found: Appointment[];
    if (q.identifier) found = this.store.byIdentifier(ods, ...splitToken(q.identifier));
    else if (q['patient:identifier'] ?? q['actor:identifier']) found = this.store.byPatient(ods, ...splitToken(q['patient:identifier'] ?? q['actor:identifier']));
    else found = this.store.all(ods);
    res.status(200).type('application/fhir+json').send(JSON.stringify(bundle(found)));
  }

  @Put(':id')
  async update(@Param('ods') ods: string, @Param('id') id: string, @Body() body: Record<string, unknown>, @Res() res: Response): Promise<void> {
    if (!(await this.admit(ods, res, true))) return;
    const problems = appointmentProblems(body);
    if (problems.length) return outcome(res, 400, 'invalid', problems);
    if ((body as { id?: string }).id && (body as { id?: string }).id !== id) return outcome(res, 400, 'invalid', 'the resource id does not match the URL');
    const before = this.store.get(ods, id);
    if (!before) return outcome(res, 404, 'not-found', `Appointment/${id} is not known to ${ods}`);
    const after = this.store.update(ods, id, body as unknown as fhir4.Appointment);
    if (before.status !== 'cancelled' && after.status === 'cancelled') void this.siu.cancelled(ods, after);
    this.send(ods, res, 200, after);
  }

  /** Known trust, and the faults it was told to have. */
  private async admit(ods: string, res: Response, write: boolean): Promise<boolean> {
    if (!this.ics.trust(ods)) {
      outcome(res, 404, 'not-found', `${ods} is not a trust of this ICS`);
      return false;
    }
    const f = this.faults.get(ods);
    if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
    if (write && f.failNext > 0) {
      f.failNext--;
      outcome(res, 503, 'transient', 'the PAS is temporarily unavailable');
      return false;
    }
    return true;
  }

  private send(ods: string, res: Response, status: number, a: Appointment): void {
    const f = this.faults.get(ods);
    if (f.dropAfterCommitNext > 0 && (status === 201 || res.req.method === 'PUT')) {
      // The write is committed; the answer is lost, as when a connection drops mid-response.
      f.dropAfterCommitNext--;
      res.socket?.destroy();
      return;
    }
    res.status(status).type('application/fhir+json').send(JSON.stringify(a));
  }
}
