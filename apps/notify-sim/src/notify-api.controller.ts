/**
 * GOV.UK Notify's API v2, as much of it as the notifier and notifications-node-client use:
 * send a text, read one notification, list notifications, list received texts.
 */
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, UseFilters, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { NotifyAuthGuard, NotifyRequest } from './notify-auth';
import { NotifyApiError, NotifyApiErrorFilter } from './notify-errors';
import { ListQuery, NotifySimService, ReceivedText } from './notify-sim.service';
import { notificationView, sendResponse } from './notify-views';
import { OutageGuard } from './outage';
import { SlowSends } from './slow-sends';

type AuthedRequest = Request & NotifyRequest;

/** Notify builds its URIs from the address the client used. */
const hostUrl = (req: Request) => `${req.protocol}://${req.get('host') ?? 'localhost'}/`;

const LIST_KEYS = new Set(['template_type', 'status', 'reference', 'older_than', 'include_jobs']);

function one(v: unknown): string | undefined {
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return v === undefined ? undefined : String(v);
}

function queryString(q: Record<string, unknown>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) for (const x of Array.isArray(v) ? v : [v]) if (x !== undefined) p.append(k, String(x));
  const s = p.toString();
  return s ? `?${s}` : '';
}

@Controller('v2')
@UseGuards(OutageGuard, NotifyAuthGuard)
@UseFilters(NotifyApiErrorFilter)
export class NotifyApiController {
  constructor(
    private readonly sim: NotifySimService,
    private readonly slow: SlowSends,
  ) {}

  @Post('notifications/sms')
  @HttpCode(201)
  async send(@Req() req: AuthedRequest, @Body() body: unknown) {
    // Notify still working on it (`/sim/slow-sends`): nothing is held, nor counted, until it is done.
    await this.slow.delay();
    this.sim.acquireRateLimit();
    return sendResponse(this.sim.sendSms(req.notifyServiceId as string, body), hostUrl(req));
  }

  @Get('notifications/:id')
  get(@Req() req: AuthedRequest, @Param('id') id: string) {
    return notificationView(this.sim.get(id), hostUrl(req));
  }

  @Get('notifications')
  list(@Req() req: AuthedRequest, @Query() query: Record<string, unknown>) {
    const extra = Object.keys(query).filter((k) => !LIST_KEYS.has(k));
    if (extra.length) throw NotifyApiError.validation([`Additional properties are not allowed (${extra.join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`]);
    const status = query.status === undefined ? undefined : (Array.isArray(query.status) ? query.status : [query.status]).flatMap((s) => String(s).split(','));
    const q: ListQuery = { template_type: one(query.template_type), status, reference: one(query.reference), older_than: one(query.older_than) };
    const found = this.sim.list(req.notifyServiceId as string, q);
    const host = hostUrl(req);
    const { older_than: _ignored, ...rest } = query;
    const links: { current: string; next?: string } = { current: `${host}v2/notifications${queryString(query)}` };
    if (found.length) links.next = `${host}v2/notifications${queryString({ ...rest, older_than: found[found.length - 1].id })}`;
    return { notifications: found.map((m) => notificationView(m, host)), links };
  }

  @Get('received-text-messages')
  received(@Req() req: AuthedRequest, @Query() query: Record<string, unknown>) {
    const found = this.sim.receivedTexts(req.notifyServiceId as string, one(query.older_than));
    const host = hostUrl(req);
    const links: { current: string; next?: string } = { current: `${host}v2/received-text-messages${queryString(query)}` };
    if (found.length) links.next = `${host}v2/received-text-messages?older_than=${found[found.length - 1].id}`;
    return { received_text_messages: found.map((r) => receivedView(r)), links };
  }
}

function receivedView(r: ReceivedText) {
  return {
    id: r.id,
    user_number: r.phone.replace(/^\+/, ''),
    notify_number: null as string | null,
    created_at: r.createdAt.toISOString(),
    service_id: r.serviceId,
    content: r.content,
  };
}
