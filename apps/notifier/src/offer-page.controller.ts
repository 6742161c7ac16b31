/**
 * The patient's offer page, `/o/{token}`. The token is unguessable (24 random bytes), bound to one
 * offer and useless once the offer ends. Accept and Decline are plain forms (no JavaScript needed)
 * that become the same reply a text would; the first action on a token counts, a repeat is told
 * it was already received. Outcomes arrive by text, as for SMS replies.
 */
import { Controller, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { enqueue, wordingFor } from '@app/persistence';
import { IcsDirectory } from '@app/platform';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { OfferPageRenderer } from './offer-page.renderer';

const TOKEN = /^[A-Za-z0-9_-]{20,64}$/;

@Controller('o')
export class OfferPageController {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly ics: IcsDirectory,
    private readonly pages: OfferPageRenderer,
  ) {}

  @Get(':token')
  async show(@Param('token') token: string, @Res() res: Response): Promise<void> {
    const offer = TOKEN.test(token) ? await this.find(token) : undefined;
    if (!offer) return this.pages.message(res, 404, 'This link is not valid', 'Check the link in your text message. If you copied it, make sure you copied all of it.');
    if (offer.status !== 'live' || new Date(offer.expires_at) <= new Date()) {
      return this.pages.message(res, 410, 'This offer has ended', 'This appointment is no longer available. Your current appointment and your place on the waiting list have not changed.');
    }
    const words = wordingFor(this.ics, offer);
    const site = this.ics.site(offer.site_ods)?.site;
    const expires = wordingFor(this.ics, { ...offer, start_at: offer.expires_at });
    this.pages.render(res, 200, 'offer.njk', {
      title: `Earlier ${words.specialty} appointment`, token,
      o: { ...words, address: site?.address ?? '', postcode: site?.postcode ?? '', code: offer.code, expires: `${expires.time} on ${expires.date}` },
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

  private async act(token: string, intent: 'yes' | 'no', res: Response): Promise<void> {
    const offer = TOKEN.test(token) ? await this.find(token) : undefined;
    if (!offer) return this.pages.message(res, 404, 'This link is not valid', 'Check the link in your text message.');
    if (offer.status !== 'live' || new Date(offer.expires_at) <= new Date()) {
      return this.pages.message(res, 410, 'This offer has ended', 'This appointment is no longer available. Your current appointment and your place on the waiting list have not changed.');
    }
    const first = await this.ds.transaction(async (tx) => {
      // One action per token: the unique (channel, external_id) index lets exactly one click through.
      const rows: Array<{ id: string }> = await tx.query(
        `INSERT INTO patient_reply (channel, external_id, patient_id, offer_id, intent, code) VALUES ('web', $1, $2, $3, $4, $5)
         ON CONFLICT (channel, external_id) DO NOTHING RETURNING id`,
        [`${offer.id}`, offer.patient_id, offer.id, intent, offer.code],
      );
      if (rows.length > 0) await enqueue(tx, 'process-reply', { replyId: rows[0].id });
      return rows.length > 0;
    });
    if (!first) return this.pages.message(res, 409, 'We already have your answer', 'You do not need to do anything else. We will send you a text message.');
    if (intent === 'yes') {
      return this.pages.message(res, 200, 'We are booking your appointment', 'We will send you a text message when the hospital has confirmed it. Do not go to the new appointment until you get that text.', { confirmation: true });
    }
    return this.pages.message(res, 200, 'You have kept your current appointment', 'Your current appointment and your place on the waiting list have not changed.', { confirmation: true });
  }

  private async find(token: string) {
    const rows = await this.ds.query(
      `SELECT o.id, o.patient_id, o.code, o.status, o.expires_at, s.trust_ods, s.site_ods, s.tfc, s.start_at
         FROM offer o JOIN slot s ON s.id = o.slot_id WHERE o.token = $1`,
      [token],
    );
    return rows[0] as undefined | { id: string; patient_id: string; code: string; status: string; expires_at: Date; trust_ods: string; site_ods: string; tfc: string; start_at: Date };
  }
}
