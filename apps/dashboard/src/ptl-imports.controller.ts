/** Waiting list (PTL) imports: how each trust's latest lists went, and when each was last refreshed. */
import { Controller, Get, Query, Req, Res, UseFilters } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { IcsDirectory } from '@app/platform';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import type { DashboardRequest } from './auth/session.guard';
import { columnsOf, sendCsv } from './csv';
import { parseTrustFilter } from './filters';
import { DashboardErrorFilter, Pages } from './pages';
import { latestPtlImports, PTL_STALE_AFTER_HOURS, PtlImport, ptlStateByTrust } from './ptl-imports.queries';

@Controller('waiting-list-imports')
@UseFilters(DashboardErrorFilter)
export class PtlImportsController {
  constructor(@InjectDataSource() private readonly ds: DataSource, private readonly pages: Pages, private readonly ics: IcsDirectory) {}

  private async load(req: DashboardRequest, q: Record<string, unknown>) {
    const trust = parseTrustFilter(q, req.session!.principal, this.ics);
    const [imports, lastByTrust] = await Promise.all([
      latestPtlImports(this.ds, trust),
      ptlStateByTrust(this.ds, trust ? [trust] : this.ics.trusts.map((t) => t.ods), new Date()),
    ]);
    return { trust, imports, lastByTrust };
  }

  @Get()
  async page(@Req() req: DashboardRequest, @Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const data = await this.load(req, q);
    this.pages.render(req, res, 'ptl-imports.njk', { title: 'Waiting list imports', ...data, staleAfterHours: PTL_STALE_AFTER_HOURS, query: data.trust ? `?trust=${data.trust}` : '' });
  }

  @Get('data.json')
  async json(@Req() req: DashboardRequest, @Query() q: Record<string, unknown>) {
    return this.load(req, q);
  }

  @Get('export.csv')
  async csv(@Req() req: DashboardRequest, @Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const imports = await latestPtlImports(this.ds, parseTrustFilter(q, req.session!.principal, this.ics));
    sendCsv(res, 'waiting-list-imports.csv', columnsOf<PtlImport>(['trust_ods', 'mode', 'status', 'started_at', 'completed_at', 'rows', 'rejected', 'closed', 'deferred', 'closing_withheld']), imports);
  }
}
