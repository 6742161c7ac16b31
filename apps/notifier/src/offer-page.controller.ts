/**
 * The patient's offer page, `/o/{token}`. The token is unguessable (24 random bytes), bound to one
 * offer and useless once the offer ends. Accept and Decline are plain forms (no JavaScript needed)
 * that become the same reply a text would; the first action on a token counts (a unique index on
 * the web reply lets exactly one through), a repeat is told it was already received. Outcomes
 * arrive by text, as for SMS replies. A link that has done its work, or whose offer has ended,
 * shows a plain page saying what happened, never an error.
 *
 * While the offer is live the page also lets the patient change what they are offered: the sites
 * they can reach, dates they cannot make, or no offers at all. Those are written to the offer's
 * waiting-list entry, which is what matching reads (see `savePreferences` for why that one only).
 */
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Res } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { enqueue, rows, wordingFor } from '@app/persistence';
import { Clock, PreferenceForm, PreferenceProblem, applyPreferenceForm, localDateIn, parseIsoDate, MS_PER_MINUTE } from '@app/domain';
import { CLOCK, IcsDirectory } from '@app/platform';
import type { Response } from 'express';
import { DataSource, EntityManager } from 'typeorm';
import { OfferPageRenderer } from './offer-page.renderer';

const TOKEN = /^[A-Za-z0-9_-]{20,64}$/;

interface OfferRecord {
  id: string;
  patient_id: string;
  entry_id: string;
  code: string;
  status: string;
  expires_at: Date;
  trust_ods: string;
  site_ods: string;
  tfc: string;
  start_at: Date;
  /** The trust that holds the offer's waiting-list entry: the patient's own. */
  home_trust_ods: string;
  booking_status: string | null;
  web_intent: string | null;
}

const UNCHANGED = 'Your current appointment and your place on the waiting list have not changed.';

/** Roughly how long is left, as a person would say it ("about 2 hours", "45 minutes"). */
export function timeLeft(ms: number): string {
  const minutes = Math.max(1, Math.round(ms / MS_PER_MINUTE));
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `about ${hours} hour${hours === 1 ? '' : 's'}`;
  return `about ${Math.round(hours / 24)} days`;
}

type DateParts = { day: string; month: string; year: string };

/** The three boxes of the design system's date input, as `YYYY-MM-DD` ('' when all empty; garbage stays garbage). */
function isoFromParts(p: DateParts): string {
  const [d, m, y] = [p.day.trim(), p.month.trim(), p.year.trim()];
  if (d === '' && m === '' && y === '') return '';
  if (!/^\d{1,2}$/.test(d) || !/^\d{1,2}$/.test(m) || !/^\d{4}$/.test(y)) return 'invalid';
  return `${y}-${m.padStart(2, '0')}-${d.padStart(2, '0')}`;
}

function field(body: Record<string, unknown>, name: string): string | string[] | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.map(String);
  return String(v);
}

function dateParts(body: Record<string, unknown>, prefix: string): DateParts {
  const one = (k: string) => {
    const v = field(body, `${prefix}[${k}]`);
    return (Array.isArray(v) ? v[0] : v) ?? '';
  };
  return { day: one('day'), month: one('month'), year: one('year') };
}

@Controller('o')
export class OfferPageController {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly ics: IcsDirectory,
    private readonly pages: OfferPageRenderer,
  ) {}

  @Get(':token')
  async show(@Param('token') token: string, @Res() res: Response): Promise<void> {
    const offer = await this.find(token);
    if (!offer || !this.isOpen(offer)) return this.ended(res, offer);
    const words = wordingFor(this.ics, offer);
    const site = this.ics.site(offer.site_ods)?.site;
    const expires = wordingFor(this.ics, { ...offer, start_at: offer.expires_at });
    this.pages.render(res, 200, 'offer.njk', {
      title: `Earlier ${words.specialty} appointment`, token,
      o: {
        ...words, address: site?.address ?? '', postcode: site?.postcode ?? '', code: offer.code,
        expires: `${expires.time} on ${expires.date}`,
        lasts: timeLeft(new Date(offer.expires_at).getTime() - this.clock.now().getTime()),
      },
    });
  }

  @Post(':token/accept')
  @HttpCode(200)
  accept(@Param('token') token: string, @Res() res: Response): Promise<void> {
    return this.act(token, 'yes', res);
  }

  @Post(':token/decline')
  @HttpCode(200)
  decline(@Param('token') token: string, @Res() res: Response): Promise<void> {
    return this.act(token, 'no', res);
  }

  @Get(':token/preferences')
  async preferences(@Param('token') token: string, @Res() res: Response): Promise<void> {
    const offer = await this.find(token);
    if (!offer || !this.isOpen(offer)) return this.ended(res, offer);
    const current = await this.currentPreferences(this.ds.manager, offer);
    this.renderPreferences(res, 200, token, offer, current, [], { from: { day: '', month: '', year: '' }, to: { day: '', month: '', year: '' } });
  }

  @Post(':token/preferences')
  @HttpCode(200)
  async savePreferences(@Param('token') token: string, @Body() body: Record<string, unknown>, @Res() res: Response): Promise<void> {
    const offer = await this.find(token);
    if (!offer || !this.isOpen(offer)) return this.ended(res, offer);
    const from = dateParts(body ?? {}, 'unavailableFrom');
    const to = dateParts(body ?? {}, 'unavailableTo');
    const form: PreferenceForm = {
      sites: field(body ?? {}, 'sites'),
      removeUnavailable: field(body ?? {}, 'removeUnavailable'),
      stopOffers: [field(body ?? {}, 'stopOffers')].flat()[0],
      unavailableFrom: isoFromParts(from),
      unavailableTo: isoFromParts(to),
    };
    const knownSites = new Set(this.ics.trusts.flatMap((t) => t.sites.map((s) => s.ods)));
    // The patient's calendar date, in the ICS's time zone.
    const today = localDateIn(this.clock.now(), this.ics.timeZone);
    const outcome = await this.ds.transaction(async (tx) => {
      const current = await this.currentPreferences(tx, offer, { lock: true });
      const change = applyPreferenceForm(form, current, knownSites, today);
      if (!change.ok) return { ok: false as const, current, problems: change.problems };
      // Only what the form showed, and only to the pathway it was read from. Its values are this
      // entry's (its sites, its periods to untick) and its site list leaves out this entry's own
      // trust, so they say nothing about the patient's pathways at other trusts: written there
      // (as they once were, to every open entry) a date saved here wiped the ICS-wide sites of a
      // pathway elsewhere and stamped them stated, so the PTL could not put them back. The sites
      // are shown, and so written and stamped, only with ICS-wide consent.
      await tx.query(
        `UPDATE waiting_list_entry
            SET unavailable = $2::jsonb, preferences_stated_at = now(), updated_at = now(),
                any_site = CASE WHEN $3 THEN false ELSE any_site END,
                acceptable_sites = CASE WHEN $3 THEN $4::text[] ELSE acceptable_sites END,
                sites_stated_at = CASE WHEN $3 THEN now() ELSE sites_stated_at END
          WHERE id = $1`,
        [offer.entry_id, JSON.stringify(change.value.unavailable), current.icsWide, change.value.acceptableSites],
      );
      if (change.value.stopOffers) {
        // The same path as a texted STOP: no more offers, live offers end, one "stopped" text.
        const stop = await rows(tx,
          `INSERT INTO patient_reply (channel, external_id, patient_id, offer_id, intent) VALUES ('web', $1, $2, $3, 'stop')
           ON CONFLICT (channel, external_id) DO NOTHING RETURNING id`,
          [`stop-${offer.id}`, offer.patient_id, offer.id],
        );
        if (stop.length > 0) await enqueue(tx, 'process-reply', { replyId: stop[0].id });
      }
      return { ok: true as const, stopped: change.value.stopOffers };
    });
    if (!outcome.ok) {
      // Shown again as the patient filled it in, so nothing they chose is lost.
      const ticked = [form.sites ?? []].flat().map((x) => x.toUpperCase());
      return this.renderPreferences(res, 400, token, offer, { ...outcome.current, anySite: false, acceptableSites: ticked }, outcome.problems, { from, to });
    }
    if (outcome.stopped) {
      return this.pages.message(res, 200, 'We will not send you any more offers', `${UNCHANGED} We will send you a text message to confirm. Reply START to that number if you change your mind.`, { confirmation: true });
    }
    return this.pages.message(res, 200, 'Your choices have been saved', 'We will use them for every offer we send you from now on.', {
      confirmation: true, back: { href: `/o/${token}`, text: 'Back to the offer' },
    });
  }

  private async act(token: string, intent: 'yes' | 'no', res: Response): Promise<void> {
    const offer = await this.find(token);
    if (!offer || !this.isOpen(offer)) return this.ended(res, offer, { action: true });
    const first = await this.ds.transaction(async (tx) => {
      // One action per token: the unique (channel, external_id) index lets exactly one click through.
      const inserted = await rows(tx,
        `INSERT INTO patient_reply (channel, external_id, patient_id, offer_id, intent, code) VALUES ('web', $1, $2, $3, $4, $5)
         ON CONFLICT (channel, external_id) DO NOTHING RETURNING id`,
        [`${offer.id}`, offer.patient_id, offer.id, intent, offer.code],
      );
      if (inserted.length > 0) await enqueue(tx, 'process-reply', { replyId: inserted[0].id });
      return inserted.length > 0;
    });
    if (!first) return this.pages.message(res, 409, 'We already have your answer', 'You do not need to do anything else. We will send you a text message.');
    if (intent === 'yes') {
      return this.pages.message(res, 200, 'We are booking your appointment', 'We will send you a text message when the hospital has confirmed it. Do not go to the new appointment until you get that text. Until then, keep your current appointment.', { confirmation: true });
    }
    return this.pages.message(res, 200, 'You have kept your current appointment', `${UNCHANGED} We will keep offering you earlier appointments when they come up.`, { confirmation: true });
  }

  private isOpen(offer: OfferRecord): boolean {
    return offer.status === 'live' && new Date(offer.expires_at) > this.clock.now() && offer.web_intent === null;
  }

  /** A clear page for every way a link can have finished its work. */
  private ended(res: Response, offer: OfferRecord | undefined, opts: { action?: boolean } = {}): void {
    if (!offer) {
      return this.pages.message(res, 404, 'This link is not valid', 'Check the link in your text message. If you copied it, make sure you copied all of it.');
    }
    if (offer.status === 'accepted') {
      if (offer.booking_status === 'confirmed') return this.pages.message(res, 200, 'Your appointment is confirmed', 'We have sent you a text message with the details. Your old appointment for this treatment will be cancelled: we are cancelling it for you.');
      if (offer.booking_status === 'failed') return this.pages.message(res, 200, 'We could not book this appointment', `Sorry. ${UNCHANGED}`);
      return this.pages.message(res, 200, 'You have accepted this appointment', 'We are booking it with the hospital and will send you a text message when it is confirmed.');
    }
    if (offer.status === 'live' && offer.web_intent !== null && new Date(offer.expires_at) > this.clock.now()) {
      return this.pages.message(res, opts.action ? 409 : 200, 'We already have your answer', 'You do not need to do anything else. We will send you a text message.');
    }
    if (offer.status === 'declined') return this.pages.message(res, 200, 'You turned down this offer', `${UNCHANGED} Turning down an offer never moves you down the list.`);
    if (offer.status === 'superseded' || offer.status === 'withdrawn') {
      return this.pages.message(res, 410, 'This appointment is no longer available', `Sorry, someone else has taken it or the clinic has changed. ${UNCHANGED}`);
    }
    return this.pages.message(res, 410, 'This offer has expired', `The time to answer this offer has passed. ${UNCHANGED}`);
  }

  private renderPreferences(res: Response, status: number, token: string, offer: OfferRecord, current: { acceptableSites: string[]; unavailable: Array<{ from: string; to: string }>; anySite: boolean; icsWide: boolean }, problems: PreferenceProblem[], form: { from: DateParts; to: DateParts }): void {
    const home = offer.home_trust_ods;
    const ownTrust = this.ics.trust(home)?.name ?? 'your own hospital trust';
    const siteItems = this.ics.trusts.filter((t) => t.ods !== home).flatMap((t) => t.sites.map((s) => ({
      value: s.ods, text: `${s.name} (${t.name})`, checked: current.anySite || current.acceptableSites.includes(s.ods),
    })));
    const fmt = (d: string) => new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', day: 'numeric', month: 'long', year: 'numeric' }).format(parseIsoDate(d) as Date);
    const periods = current.unavailable.map((p) => ({ value: `${p.from}/${p.to}`, text: p.from === p.to ? fmt(p.from) : `${fmt(p.from)} to ${fmt(p.to)}` }));
    const fieldErrors: Record<string, string> = {};
    for (const p of problems) fieldErrors[p.field] ??= p.message;
    // The error summary links to the first box of the field at fault.
    const anchor = (f: string) => (f === 'unavailableFrom' || f === 'unavailableTo' ? `#${f}-day` : `#${f}`);
    this.pages.render(res, status, 'preferences.njk', {
      title: problems.length ? 'Error: Change what we offer you' : 'Change what we offer you',
      token, ownTrust, icsWide: current.icsWide, siteItems, periods, fieldErrors, form,
      exampleYear: String(this.clock.now().getUTCFullYear() + 1),
      errors: problems.map((p) => ({ text: p.message, href: anchor(p.field) })),
    });
  }

  private async currentPreferences(tx: EntityManager, offer: OfferRecord, opts: { lock?: boolean } = {}) {
    const [e] = await tx.query(
      `SELECT any_site, acceptable_sites, unavailable, ics_wide_consent FROM waiting_list_entry WHERE id = $1${opts.lock ? ' FOR UPDATE' : ''}`,
      [offer.entry_id],
    );
    return {
      anySite: e?.any_site === true,
      acceptableSites: (e?.acceptable_sites as string[] | undefined) ?? [],
      unavailable: (e?.unavailable as Array<{ from: string; to: string }> | undefined) ?? [],
      icsWide: e?.ics_wide_consent === true,
    };
  }

  private async find(token: string): Promise<OfferRecord | undefined> {
    if (!TOKEN.test(token)) return undefined;
    const found = await this.ds.query(
      `SELECT o.id, o.patient_id, o.entry_id, o.code, o.status, o.expires_at, s.trust_ods, s.site_ods, s.tfc, s.start_at,
              e.trust_ods AS home_trust_ods, b.status AS booking_status, r.intent AS web_intent
         FROM offer o JOIN slot s ON s.id = o.slot_id JOIN waiting_list_entry e ON e.id = o.entry_id
         LEFT JOIN booking b ON b.offer_id = o.id
         LEFT JOIN patient_reply r ON r.channel = 'web' AND r.external_id = o.id::text
        WHERE o.token = $1`,
      [token],
    );
    return found[0];
  }
}
