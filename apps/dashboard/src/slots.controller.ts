/**
 * The slot feed (every freed slot with its state) and a slot's page. Opening a slot's page is a
 * view of patient-level data and is audited, with how many patients were shown.
 */
import { Controller, Get, Param, ParseUUIDPipe, Query, Req, Res, UseFilters } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { AppError, IcsDirectory } from '@app/platform';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { AuditService } from './audit.service';
import { maySeeSlot } from './auth/access';
import type { DashboardRequest } from './auth/session.guard';
import { columnsOf, sendCsv } from './csv';
import { parseFilters } from './filters';
import { FeedCursor, feedCursorAfter, FeedRow, readFeedCursor, slotFeed } from './overview.queries';
import { DashboardErrorFilter, Pages } from './pages';
import { OfferView, slotDetail } from './slot-detail';

const PAGE = 50;
/** The most rows a CSV export holds; one more is read to know whether it was cut. */
export const SLOTS_EXPORT_LIMIT = 10_000;

@Controller('slots')
@UseFilters(DashboardErrorFilter)
export class SlotsController {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly pages: Pages,
    private readonly ics: IcsDirectory,
    private readonly audit: AuditService,
  ) {}

  private async feed(req: DashboardRequest, q: Record<string, unknown>, limit: number) {
    const f = parseFilters(q, req.session!.principal, this.ics, new Date());
    const before = olderThan(q.before);
    const rows = await slotFeed(this.ds, { trust: f.trust, status: f.status ?? undefined, tfc: f.tfc ?? undefined, site: f.site ?? undefined, limit, before });
    return { f, rows };
  }

  @Get()
  async list(@Req() req: DashboardRequest, @Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const { f, rows } = await this.feed(req, q, PAGE);
    const last = rows.length === PAGE ? rows[rows.length - 1] : undefined;
    const query = new URLSearchParams(Object.entries({ trust: f.trust, site: f.site, tfc: f.tfc, status: f.status }).filter(([, v]) => v) as Array<[string, string]>).toString();
    this.pages.render(req, res, 'slots.njk', {
      title: 'Slots', rows, f, query,
      next: last ? `/slots?${query}${query ? '&' : ''}before=${encodeURIComponent(feedCursorAfter(last))}` : null,
    });
  }

  @Get('export.csv')
  async csv(@Req() req: DashboardRequest, @Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const { rows } = await this.feed(req, q, SLOTS_EXPORT_LIMIT + 1);
    const truncated = rows.length > SLOTS_EXPORT_LIMIT;
    await this.audit.record(req.session!.principal, { action: 'export-slots', detail: { rows: Math.min(rows.length, SLOTS_EXPORT_LIMIT), ...(truncated ? { truncated: true } : {}) }, ip: req.ip ?? null });
    sendCsv(res, 'slots.csv', columnsOf<FeedRow>(['id', 'trust_ods', 'site_ods', 'tfc', 'appointment_type', 'start_at', 'released_at', 'state', 'closed_reason', 'waves', 'offers', 'booking_status']), rows, SLOTS_EXPORT_LIMIT);
  }

  @Get(':id')
  async show(@Req() req: DashboardRequest, @Res() res: Response, @Param('id', new ParseUUIDPipe()) id: string, @Query('format') format?: string): Promise<void> {
    const viewer = req.session!.principal;
    const detail = await slotDetail(this.ds, id, viewer, this.ics.timeZone);
    // Another trust's slot is "not found" to a trust viewer: its existence is not theirs to know.
    if (!detail || !maySeeSlot(viewer, detail.slot.trust_ods)) throw new AppError('not_found', 'No such slot', 404);
    await this.audit.record(viewer, {
      action: 'view-slot', targetType: 'slot', targetId: id, trustOds: detail.slot.trust_ods, detail: { patientsShown: detail.patientsShown }, ip: req.ip ?? null,
    });
    if (format === 'csv') {
      return sendCsv<OfferView>(res, `slot-${id}-offers.csv`, [
        { header: 'wave', value: (o) => o.waveRound }, { header: 'patient_trust', value: (o) => o.patientTrust },
        { header: 'nhs_number', value: (o) => o.patient?.nhsNumber ?? '' }, { header: 'rank', value: (o) => o.patient?.rank ?? '' },
        { header: 'explanation', value: (o) => o.patient?.summary ?? '' }, { header: 'status', value: (o) => o.status },
        { header: 'created_at', value: (o) => o.createdAt }, { header: 'responded_at', value: (o) => o.respondedAt },
      ], detail.waves.flatMap((w: { offers: OfferView[] }) => w.offers));
    }
    this.pages.render(req, res, 'slot.njk', { title: `Slot ${detail.slot.clinic_code} at ${detail.slot.site_ods}`, ...detail });
  }
}

/** `before`: the cursor of an "Older slots" link, or (a link saved before cursors) an ISO 8601 time. */
function olderThan(before: unknown): FeedCursor | undefined {
  if (before === undefined || before === '') return undefined;
  if (typeof before !== 'string') throw new AppError('invalid_filter', 'before: give it once', 400);
  const cursor = readFeedCursor(before);
  if (cursor) return cursor;
  const time = new Date(before);
  if (Number.isNaN(time.getTime())) throw new AppError('invalid_filter', 'before: the link from "Older slots", or an ISO 8601 time', 400);
  return { releasedAt: time.toISOString(), id: null };
}
