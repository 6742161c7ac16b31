import { JobName, JobPayloads, jobId, queueFor, QueueName, smsResendJobSuffix, smsResendOfJobId } from './queues';
import { SMS_TEMPLATES, renderTemplate, templateById } from './sms';
import { formatPatientTime } from './sms-content';

describe('job ids', () => {
  const samples: { [N in JobName]: JobPayloads[N] } = {
    'forward-hl7': { hl7MessageId: 'a1' },
    'match-slot': { slotId: 's1', round: 2 },
    'expire-wave': { waveId: 'w1' },
    'close-slot': { slotId: 's1' },
    'send-sms': { smsId: 'm1' },
    'process-reply': { replyId: 'r1' },
    'process-replies': { replyIds: ['r1', 'r2'] },
    'write-back': { writebackId: 'b1' },
    'writeback-outcome': { writebackId: 'b1' },
    'offer-undeliverable': { offerId: 'o1' },
  };

  it.each(Object.keys(samples) as JobName[])('%s: deterministic, distinct and free of ":"', (name) => {
    const id = jobId(name, samples[name] as never);
    expect(jobId(name, samples[name] as never)).toBe(id);
    expect(id).not.toContain(':');
    expect(id).not.toMatch(/^\d+$/); // BullMQ refuses integer-looking custom ids
  });

  it('gives every job kind its own id space', () => {
    const ids = (Object.keys(samples) as JobName[]).map((n) => jobId(n, samples[n] as never));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('tells match rounds apart, so a next wave is not swallowed by the first', () => {
    expect(jobId('match-slot', { slotId: 's', round: 1 })).not.toBe(jobId('match-slot', { slotId: 's', round: 2 }));
  });

  it("reads back which send of a text a send-sms job is for: 0 for the first send's id, n for the n-th resend's", () => {
    const smsId = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
    const base = jobId('send-sms', { smsId });
    expect(smsResendOfJobId(base)).toBe(0);
    // As the outbox builds a suffixed id (outboxValues: `<id>-<suffix>`).
    for (const n of [1, 2, 12]) expect(smsResendOfJobId(`${base}-${smsResendJobSuffix(n)}`)).toBe(n);
  });

  it('routes trust-scoped jobs to that trust only, and refuses to guess', () => {
    expect(queueFor('write-back', 'RQM')).toBe(QueueName.trustWriteback('RQM'));
    expect(queueFor('write-back', 'RYJ')).not.toBe(queueFor('write-back', 'RQM'));
    expect(() => queueFor('write-back')).toThrow(/ODS/);
    expect(queueFor('send-sms')).toBe('sms-outbound');
  });
});

describe('SMS templates', () => {
  const words = { hospital: 'H', site: 'S', specialty: 'Dermatology', date: 'Thursday 26 November', time: '2:00pm', code: '4821', expires: '4:00pm', link: 'https://x/o/t', previous: '' };
  const render = (kind: keyof typeof SMS_TEMPLATES) => renderTemplate(SMS_TEMPLATES[kind].body, words);

  it('carries the wording the contract promises', () => {
    expect(render('offer')).toContain('YES 4821');
    expect(render('offer')).toContain('NO 4821');
    expect(render('confirmed')).toContain('confirmed');
    expect(render('taken')).toContain('no longer available');
    expect(render('expired')).toContain('expired');
    expect(render('booking_failed')).toContain('could not');
  });

  it('lets only the offer look like an offer to a reader of "YES <code>"', () => {
    for (const kind of Object.keys(SMS_TEMPLATES) as Array<keyof typeof SMS_TEMPLATES>) {
      const hasCode = /YES\s+([A-Za-z0-9]{3,10})/.test(render(kind));
      expect([kind, hasCode]).toEqual([kind, kind === 'offer']);
    }
  });

  it('keeps each template id unique and findable', () => {
    const ids = Object.values(SMS_TEMPLATES).map((t) => t.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const t of Object.values(SMS_TEMPLATES)) expect(templateById(t.id)).toBe(t);
  });

  it('formats times for patients in Europe/London across the clock change', () => {
    expect(formatPatientTime(new Date('2026-07-01T13:00:00Z'), 'Europe/London')).toBe('2:00pm');
    expect(formatPatientTime(new Date('2026-12-01T13:00:00Z'), 'Europe/London')).toBe('1:00pm');
  });
});
