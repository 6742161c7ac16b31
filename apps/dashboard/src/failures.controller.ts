/** The failures that need a person, with their actions and who did what. */
import { Body, Controller, Get, Param, Post, Query, Req, Res, UseFilters } from '@nestjs/common';
import type { Response } from 'express';
import { AppError } from '@app/platform';
import type { DashboardRequest } from './auth/session.guard';
import { Requires } from './auth/session.guard';
import { columnsOf, sendCsv } from './csv';
import { FAILURE_KINDS, FailureItem, FailureKind, FailuresService } from './failures.service';
import { DashboardErrorFilter, Pages } from './pages';

function kindOf(k: unknown): FailureKind | undefined {
  if (k === undefined || k === '') return undefined;
  if (typeof k !== 'string' || !FAILURE_KINDS.includes(k as FailureKind)) throw new AppError('invalid_filter', `kind: one of ${FAILURE_KINDS.join(', ')}`, 400);
  return k as FailureKind;
}

@Controller('failures')
@UseFilters(DashboardErrorFilter)
@Requires('view-failures')
export class FailuresController {
  constructor(private readonly failures: FailuresService, private readonly pages: Pages) {}

  @Get()
  async page(@Req() req: DashboardRequest, @Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const includeResolved = q.resolved === '1';
    const kind = kindOf(q.kind);
    const [items, unmapped] = await Promise.all([this.failures.list({ includeResolved, kind }), this.failures.unmappedClinics()]);
    const flash = typeof q.done === 'string' ? q.done.slice(0, 300) : null;
    this.pages.render(req, res, 'failures.njk', { title: 'Failures needing a person', items, unmapped, includeResolved, kind, kinds: FAILURE_KINDS, flash });
  }

  @Get('export.csv')
  async csv(@Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const items = await this.failures.list({ includeResolved: q.resolved === '1', kind: kindOf(q.kind), limit: 10_000 });
    sendCsv(res, 'failures.csv', columnsOf<FailureItem>(['kind', 'ref_id', 'trust_ods', 'at', 'summary', 'detail', 'slot_id', 'resolved', 'last_action', 'last_by', 'last_at', 'last_note']), items);
  }

  @Post(':kind/:id/resolve')
  @Requires('act-on-failures')
  async resolve(@Req() req: DashboardRequest, @Res() res: Response, @Param('kind') kind: string, @Param('id') id: string, @Body() body: Record<string, unknown>): Promise<void> {
    await this.failures.resolve(req.session!.principal, kind as FailureKind, id, body?.note, req.ip ?? null);
    this.done(req, res, 'Marked as resolved.');
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
  private done(req: DashboardRequest, res: Response, message: string): void {
    if ((req.headers.accept ?? '').includes('text/html')) res.redirect(303, `/failures?done=${encodeURIComponent(message)}`);
    else res.status(200).json({ message });
  }
}
