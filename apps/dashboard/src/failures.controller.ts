/** The failures that need a person, with their actions and who did what. */
import { Body, Controller, Get, Param, Post, Query, Req, Res, UseFilters } from '@nestjs/common';
import type { Response } from 'express';
import { AppError } from '@app/platform';
import type { DashboardRequest } from './auth/session.guard';
import { Requires } from './auth/session.guard';
import { columnsOf, sendCsv } from './csv';
import { FAILURE_DONE, FAILURE_KINDS, FailureItem, FailureKind, FailureOutcome, FailuresService } from './failures.service';
import { textOf } from './filters';
import { DashboardErrorFilter, Pages } from './pages';

/** `?resolved=1`: given twice it is a 400, not silently the open list. */
function includeResolved(q: Record<string, unknown>): boolean {
  const problems: string[] = [];
  const v = textOf(q, 'resolved', problems);
  if (problems.length) throw new AppError('invalid_filter', problems.join('; '), 400, problems);
  return v === '1';
}

/** The status box's words for a `?done=` code; anything else shows nothing. */
function flashFor(done: unknown): string | null {
  return typeof done === 'string' && Object.hasOwn(FAILURE_DONE, done) ? FAILURE_DONE[done as keyof typeof FAILURE_DONE] : null;
}

function kindOf(k: unknown): FailureKind | undefined {
  if (k === undefined || k === '') return undefined;
  if (typeof k !== 'string' || !FAILURE_KINDS.includes(k as FailureKind)) throw new AppError('invalid_filter', `kind: one of ${FAILURE_KINDS.join(', ')}`, 400);
  return k as FailureKind;
}

/** The most rows a failures export holds; one more is read to know whether it was cut. */
export const FAILURES_EXPORT_LIMIT = 10_000;

@Controller('failures')
@UseFilters(DashboardErrorFilter)
@Requires('view-failures')
export class FailuresController {
  constructor(private readonly failures: FailuresService, private readonly pages: Pages) {}

  @Get()
  async page(@Req() req: DashboardRequest, @Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const resolved = includeResolved(q);
    const kind = kindOf(q.kind);
    const [items, unmapped] = await Promise.all([this.failures.list({ includeResolved: resolved, kind }), this.failures.unmappedClinics()]);
    const flash = (q.done === 'clinic-mapped' ? await this.failures.clinicMappedFlash(q.ref) : null) ?? flashFor(q.done);
    // Links keep the kind asked for: the other list, and the export of this one.
    const withKind = (resolvedToo: boolean) => {
      const query = new URLSearchParams({ ...(kind ? { kind } : {}), ...(resolvedToo ? { resolved: '1' } : {}) }).toString();
      return query ? `?${query}` : '';
    };
    this.pages.render(req, res, 'failures.njk', {
      title: 'Failures needing a person', items, unmapped, includeResolved: resolved, kind, kinds: FAILURE_KINDS, flash,
      openQuery: withKind(false), allQuery: withKind(true), exportQuery: withKind(resolved),
    });
  }

  @Get('export.csv')
  async csv(@Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const items = await this.failures.list({ includeResolved: includeResolved(q), kind: kindOf(q.kind), limit: FAILURES_EXPORT_LIMIT + 1 });
    sendCsv(res, 'failures.csv', columnsOf<FailureItem>(['kind', 'ref_id', 'trust_ods', 'at', 'summary', 'detail', 'slot_id', 'resolved', 'last_action', 'last_by', 'last_at', 'last_note']), items, FAILURES_EXPORT_LIMIT);
  }

  @Post(':kind/:id/resolve')
  @Requires('act-on-failures')
  async resolve(@Req() req: DashboardRequest, @Res() res: Response, @Param('kind') kind: string, @Param('id') id: string, @Body() body: Record<string, unknown>): Promise<void> {
    await this.failures.resolve(req.session!.principal, kind as FailureKind, id, body?.note, req.ip ?? null);
    this.done(req, res, { done: 'resolved', message: FAILURE_DONE.resolved });
  }

  @Post(':kind/:id/retry')
  @Requires('act-on-failures')
  async retry(@Req() req: DashboardRequest, @Res() res: Response, @Param('kind') kind: string, @Param('id') id: string): Promise<void> {
    this.done(req, res, await this.failures.retry(req.session!.principal, kind as FailureKind, id, req.ip ?? null));
  }

  @Post('hl7/:id/map-clinic')
  @Requires('act-on-failures')
  async mapClinic(@Req() req: DashboardRequest, @Res() res: Response, @Param('id') id: string, @Body() body: Record<string, unknown>): Promise<void> {
    this.done(req, res, await this.failures.mapClinic(req.session!.principal, id, body ?? {}, req.ip ?? null));
  }

  /** Post/redirect/get for forms; JSON for scripts. */
  private done(req: DashboardRequest, res: Response, outcome: FailureOutcome): void {
    if ((req.headers.accept ?? '').includes('text/html')) res.redirect(303, `/failures?done=${outcome.done}${outcome.ref ? `&ref=${encodeURIComponent(outcome.ref)}` : ''}`);
    else res.status(200).json({ message: outcome.message });
  }
}
