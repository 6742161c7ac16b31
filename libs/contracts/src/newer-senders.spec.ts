import { strictValidationPipe } from '@app/platform';
import { IsString } from 'class-validator';
import { SlotEventBatchDto, WaitingListBatchDto, WritebackOutcomeDto } from './exchange-api';

const event = {
  eventId: 'ev-1', kind: 'slot-released', controlId: 'C1', siteOds: 'RQM01', clinicCode: '330-NEW', tfc: '330', appointmentType: 'NEW',
  start: '2026-12-03T09:00:00Z', durationMinutes: 20, fillerAppointmentId: 'F1',
};
const pipe = strictValidationPipe();
const asBody = (metatype: Function) => ({ type: 'body' as const, metatype: metatype as never, data: undefined });

describe('what a trust adapter posts, from a newer release than the exchange (rolling release)', () => {
  it('has a field this exchange does not know dropped, not refused, also inside a batch\'s events', async () => {
    const batch = (await pipe.transform({ events: [{ ...event, fromANewerRelease: 'S13' }], alsoNew: 1 }, asBody(SlotEventBatchDto))) as SlotEventBatchDto;
    expect(batch.events).toHaveLength(1);
    expect(batch.events[0]).toMatchObject({ eventId: 'ev-1', kind: 'slot-released' });
    expect(batch.events[0]).not.toHaveProperty('fromANewerRelease');
    expect(batch).not.toHaveProperty('alsoNew');
    const outcome = await pipe.transform({ outcome: 'failed', permanent: true, reason: 'x', aNewFlag: true }, asBody(WritebackOutcomeDto));
    expect(outcome).not.toHaveProperty('aNewFlag');
  });

  it('still refuses a known field that is wrong', async () => {
    await expect(pipe.transform({ events: [{ ...event, tfc: '33' }] }, asBody(SlotEventBatchDto))).rejects.toMatchObject({ status: 400 });
  });

  it('leaves every other request strict: an unknown field is refused with its name', async () => {
    class Other { @IsString() name!: string; }
    await expect(pipe.transform({ name: 'a', extra: 1 }, asBody(Other))).rejects.toMatchObject({ response: { details: [expect.stringMatching(/extra/)] } });
    await expect(pipe.transform({ mode: 'delta', rows: [], surprise: true }, asBody(WaitingListBatchDto))).rejects.toMatchObject({ status: 400 });
  });
});
