/** Flows between trusts and by specialty, as tables first (with CSV) and a chart on top. */
import { Controller, Get, Query, Req, Res, UseFilters } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { IcsDirectory } from '@app/platform';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import type { DashboardRequest } from './auth/session.guard';
import { columnsOf, sendCsv } from './csv';
import { parseFilters } from './filters';
import { FlowCell, flows, TfcRow } from './flows.queries';
import { DashboardErrorFilter, Pages } from './pages';

@Controller('flows')
@UseFilters(DashboardErrorFilter)
export class FlowsController {
  constructor(@InjectDataSource() private readonly ds: DataSource, private readonly pages: Pages, private readonly ics: IcsDirectory) {}

  private async load(req: DashboardRequest, q: Record<string, unknown>) {
    const f = parseFilters(q, req.session!.principal, this.ics, new Date());
    const { matrix, tfc } = await flows(this.ds, f);
    return { f, matrix, tfc };
  }

  @Get()
  async page(@Req() req: DashboardRequest, @Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const { f, matrix, tfc } = await this.load(req, q);
    const trusts = this.ics.trusts.map((t) => t.ods);
    const cell = (a: string, b: string) => matrix.find((m) => m.from_trust === a && m.to_trust === b)?.bookings ?? 0;
    const grid = trusts.map((a) => ({ from: a, cells: trusts.map((b) => cell(a, b)), total: trusts.reduce((s, b) => s + cell(a, b), 0) }));
    const query = new URLSearchParams({ from: f.fromText, to: f.toText, ...(f.trust ? { trust: f.trust } : {}), ...(f.site ? { site: f.site } : {}), ...(f.tfc ? { tfc: f.tfc } : {}) }).toString();
    this.pages.render(req, res, 'flows.njk', { title: 'Flows', f, trustCodes: trusts, grid, tfc, query, sites: this.ics.trusts.flatMap((t) => t.sites) });
  }

  @Get('matrix.csv')
  async matrixCsv(@Req() req: DashboardRequest, @Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const { matrix } = await this.load(req, q);
    sendCsv(res, 'flows-trust-to-trust.csv', columnsOf<FlowCell>(['from_trust', 'to_trust', 'bookings']), matrix);
  }

  @Get('tfc.csv')
  async tfcCsv(@Req() req: DashboardRequest, @Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const { tfc } = await this.load(req, q);
    sendCsv(res, 'flows-by-specialty.csv', columnsOf<TfcRow>(['tfc', 'freed', 'eligible', 'filled', 'cross_trust', 'fill_rate', 'received']), tfc);
  }

  @Get('data.json')
  async json(@Req() req: DashboardRequest, @Query() q: Record<string, unknown>) {
    const { matrix, tfc } = await this.load(req, q);
    return { matrix, tfc };
  }
}
