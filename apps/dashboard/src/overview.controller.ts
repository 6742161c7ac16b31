/** The overview page, its JSON, and the live stream that keeps it current without reloads. */
import { Controller, Get, Req, Res, UseFilters } from '@nestjs/common';
import type { Response } from 'express';
import { trustScope } from './auth/access';
import type { DashboardRequest } from './auth/session.guard';
import { DashboardErrorFilter, Pages } from './pages';
import { LiveService } from './live.service';
import { sendCsv } from './csv';

@Controller()
@UseFilters(DashboardErrorFilter)
export class OverviewController {
  constructor(private readonly live: LiveService, private readonly pages: Pages) {}

  @Get()
  async page(@Req() req: DashboardRequest, @Res() res: Response): Promise<void> {
    const scope = trustScope(req.session!.principal);
    const { overview, feed } = await this.live.snapshot(scope);
    this.pages.render(req, res, 'overview.njk', { title: 'Overview', overview, feed, scope });
  }

  @Get('api/overview')
  async json(@Req() req: DashboardRequest) {
    return this.live.snapshot(trustScope(req.session!.principal));
  }

  @Get('overview.csv')
  async csv(@Req() req: DashboardRequest, @Res() res: Response): Promise<void> {
    const { overview } = await this.live.snapshot(trustScope(req.session!.principal));
    sendCsv(res, 'overview.csv', [
      { header: 'window', value: (w) => w.window }, { header: 'freed', value: (w) => w.freed }, { header: 'eligible', value: (w) => w.eligible },
      { header: 'offered', value: (w) => w.offered }, { header: 'filled', value: (w) => w.filled }, { header: 'fill_rate', value: (w) => w.fillRate },
      { header: 'median_minutes_to_fill', value: (w) => w.medianMinutesToFill }, { header: 'median_days_brought_forward', value: (w) => w.medianDaysBroughtForward },
      { header: 'sms_per_booking', value: (w) => w.smsPerBooking },
      { header: 'closed_unfilled', value: (w) => w.closedUnfilled.map((c) => `${c.reason}=${c.count}`).join('; ') },
    ], overview.windows);
  }

  @Get('events')
  events(@Req() req: DashboardRequest, @Res() res: Response): void {
    this.live.subscribe(res, req.session!);
  }
}
