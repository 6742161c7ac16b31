/** The audit log, for administrators only; reading it is itself audited. */
import { Controller, Get, Query, Req, Res, UseFilters } from '@nestjs/common';
import type { Response } from 'express';
import { AuditService } from './audit.service';
import type { DashboardRequest } from './auth/session.guard';
import { Requires } from './auth/session.guard';
import { sendCsv } from './csv';
import { DashboardErrorFilter, Pages } from './pages';

/** The most rows an audit export holds (newest first); one more is read to know whether it was cut. */
export const AUDIT_EXPORT_LIMIT = 50_000;

@Controller('audit')
@UseFilters(DashboardErrorFilter)
@Requires('read-audit')
export class AuditController {
  constructor(private readonly audit: AuditService, private readonly pages: Pages) {}

  private filter(q: Record<string, unknown>) {
    const s = (k: string) => (typeof q[k] === 'string' && (q[k] as string).trim() ? (q[k] as string).trim().slice(0, 254) : undefined);
    return { userEmail: s('user')?.toLowerCase(), action: s('action') };
  }

  @Get()
  async page(@Req() req: DashboardRequest, @Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const f = this.filter(q);
    const entries = await this.audit.recent({ ...f, limit: 200 });
    await this.audit.record(req.session!.principal, { action: 'view-audit', ip: req.ip ?? null });
    // The export link carries the filters shown, so the download is what the page lists (and more of it).
    const query = new URLSearchParams(Object.entries({ user: f.userEmail, action: f.action }).filter(([, v]) => v) as Array<[string, string]>).toString();
    this.pages.render(req, res, 'audit.njk', { title: 'Audit log', entries, f, query });
  }

  @Get('export.csv')
  async csv(@Req() req: DashboardRequest, @Res() res: Response, @Query() q: Record<string, unknown>): Promise<void> {
    const f = this.filter(q);
    const entries = await this.audit.recent({ ...f, limit: AUDIT_EXPORT_LIMIT + 1 });
    const truncated = entries.length > AUDIT_EXPORT_LIMIT;
    await this.audit.record(req.session!.principal, {
      action: 'export-audit', detail: { rows: Math.min(entries.length, AUDIT_EXPORT_LIMIT), ...(truncated ? { truncated: true } : {}), ...(f.userEmail ? { user: f.userEmail } : {}), ...(f.action ? { filterAction: f.action } : {}) }, ip: req.ip ?? null,
    });
    sendCsv(res, 'audit-log.csv', ['id', 'at', 'user_email', 'role', 'action', 'target_type', 'target_id', 'trust_ods', 'detail', 'ip'].map((k) => ({ header: k, value: (r: Record<string, unknown>) => r[k] })), entries, AUDIT_EXPORT_LIMIT);
  }
}
