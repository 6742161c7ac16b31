/**
 * The matching policy in force, its history, and (for administrators) a new version. Versions are
 * written through the policy store the exchange matches by (`@app/persistence` policy-store), so
 * the next wave uses the new settings; an invalid policy is refused and changes nothing. The form
 * carries the version it was made from (`baseVersion`): if another administrator saved a version
 * since, the save is refused (409) and the page shows what is now in force, instead of silently
 * undoing their change.
 */
import { Body, Controller, Get, Post, Req, Res, UseFilters } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DomainError, MatchingPolicy, parseQuietHours } from '@app/domain';
import { currentPolicy, policyHistory, PolicyChangedError, recordPolicy } from '@app/persistence';
import { AppError } from '@app/platform';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { AuditService } from './audit.service';
import { can } from './auth/access';
import type { DashboardRequest } from './auth/session.guard';
import { Requires } from './auth/session.guard';
import { sendCsv } from './csv';
import { DashboardErrorFilter, Pages } from './pages';

const INT_FIELDS = ['waveSize', 'offerTtlMinutes', 'minOfferTtlMinutes', 'minNoticeHours', 'minGainDays'] as const;

/** The form's fields into a policy: every problem named, nothing applied when one is wrong. */
export function policyFromForm(current: MatchingPolicy, body: Record<string, unknown>): { policy: MatchingPolicy; reason: string } {
  const problems: string[] = [];
  const next: MatchingPolicy = { ...current };
  for (const f of INT_FIELDS) {
    const raw = typeof body[f] === 'string' ? (body[f] as string).trim() : '';
    if (!/^\d{1,6}$/.test(raw)) problems.push(`${f}: a whole number`);
    else (next as unknown as Record<string, number>)[f] = Number(raw);
  }
  const strategy = body.strategy;
  if (strategy !== 'broadcast' && strategy !== 'sequential') problems.push('strategy: broadcast or sequential');
  else next.strategy = strategy;
  try {
    next.quietHours = parseQuietHours(typeof body.quietHours === 'string' ? body.quietHours : '');
  } catch (e) {
    problems.push(`quietHours: ${(e as Error).message}`);
  }
  if (typeof body.tfcOverrides === 'string' && body.tfcOverrides.trim()) {
    try {
      const o = JSON.parse(body.tfcOverrides) as unknown;
      if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error('an object keyed by TFC');
      next.tfcOverrides = o as MatchingPolicy['tfcOverrides'];
    } catch (e) {
      problems.push(`tfcOverrides: JSON ${(e as Error).message}`);
    }
  } else next.tfcOverrides = {};
  const reason = typeof body.reason === 'string' ? body.reason.trim() : '';
  if (!reason) problems.push('reason: say why the policy changes (kept in its history)');
  if (reason.length > 500) problems.push('reason: at most 500 characters');
  if (problems.length) throw new AppError('invalid_policy', problems.join('; '), 400, problems);
  return { policy: next, reason };
}

/** The version the form was made from: required, so a save can never overwrite a version its author did not see. */
export function baseVersionOf(body: Record<string, unknown>): number {
  const raw = typeof body.baseVersion === 'string' ? body.baseVersion.trim() : '';
  if (!/^\d{1,9}$/.test(raw)) {
    const problem = 'baseVersion: the version this change was made from is missing: reload the policy page and make the change again';
    throw new AppError('invalid_policy', problem, 400, [problem]);
  }
  return Number(raw);
}

export const POLICY_CHANGED = 'The policy changed since you opened this page';

@Controller('policy')
@UseFilters(DashboardErrorFilter)
export class PolicyController {
  constructor(@InjectDataSource() private readonly ds: DataSource, private readonly pages: Pages, private readonly audit: AuditService) {}

  @Get()
  async page(@Req() req: DashboardRequest, @Res() res: Response): Promise<void> {
    await this.render(req, res, {
      flash: typeof req.query.done === 'string' && /^\d{1,9}$/.test(req.query.done) ? `Policy version ${Number(req.query.done)} is in force.` : null,
    });
  }

  private async render(req: DashboardRequest, res: Response, extra: { flash?: string | null; errors?: string[] }, status = 200): Promise<void> {
    const [current, history] = await Promise.all([currentPolicy(this.ds), policyHistory(this.ds, 50)]);
    this.pages.render(req, res, 'policy.njk', {
      title: extra.errors?.length ? 'Error: Matching policy' : 'Matching policy', current, history, mayEdit: can(req.session!.principal, 'edit-policy'),
      flash: extra.flash ?? null, errors: extra.errors ?? [],
    }, status);
  }

  @Get('history.csv')
  async csv(@Res() res: Response): Promise<void> {
    const history = await policyHistory(this.ds, 1000);
    sendCsv(res, 'policy-history.csv', [
      { header: 'version', value: (h) => h.version }, { header: 'created_at', value: (h) => h.createdAt }, { header: 'source', value: (h) => h.source },
      { header: 'changed_by', value: (h) => h.changedBy }, { header: 'reason', value: (h) => h.reason }, { header: 'settings', value: (h) => h.policy },
    ], history);
  }

  @Post()
  @Requires('edit-policy')
  async change(@Req() req: DashboardRequest, @Res() res: Response, @Body() body: Record<string, unknown>): Promise<void> {
    const who = req.session!.principal;
    const baseVersion = baseVersionOf(body ?? {});
    let version: number;
    try {
      version = await this.ds.transaction(async (tx) => {
        const current = await currentPolicy(tx);
        if (!current) throw new AppError('no_policy', 'No policy is recorded yet: the exchange records its configuration when it starts', 409);
        const { policy, reason } = policyFromForm(current.policy, body ?? {});
        let result: { version: number; created: boolean; previous: number | null };
        try {
          // The base version is compared under the store's lock, with the version the change replaces.
          result = await recordPolicy(tx, policy, { source: 'admin', changedBy: who.email, reason, baseVersion });
        } catch (e) {
          if (e instanceof DomainError) throw new AppError('invalid_policy', e.message, 400, [e.message]);
          throw e;
        }
        if (!result.created) throw new AppError('no_change', 'That is the policy already in force: nothing changed', 400, ['Nothing changed']);
        await this.audit.record(who, { action: 'change-policy', targetType: 'policy', targetId: String(result.version), detail: { from: result.previous, reason }, ip: req.ip ?? null }, tx);
        return result.version;
      });
    } catch (e) {
      if (!(e instanceof PolicyChangedError)) throw e;
      const message = `${POLICY_CHANGED} (you started from version ${e.base}; version ${e.current} is now in force). Your change was not saved: check the policy below and make your change again.`;
      if (!(req.headers.accept ?? '').includes('text/html')) throw new AppError('policy_changed', message, 409, [message]);
      return this.render(req, res, { errors: [message] }, 409);
    }
    res.redirect(303, `/policy?done=${version}`);
  }
}
