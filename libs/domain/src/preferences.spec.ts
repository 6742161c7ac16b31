import { applyPreferenceForm, MAX_UNAVAILABLE_PERIODS, StoredPreferences } from './preferences';

const SITES = new Set(['RQM01', 'RQM91', 'RAS01', 'RYJ02']);
const TODAY = new Date('2026-12-01T00:00:00Z');
const NONE: StoredPreferences = { acceptableSites: [], unavailable: [] };

describe('applyPreferenceForm', () => {
  it('stores the sites ticked, whatever their case, once each and sorted', () => {
    const r = applyPreferenceForm({ sites: ['ras01', 'RQM01', 'RQM01'] }, NONE, SITES, TODAY);
    expect(r).toEqual({ ok: true, value: { acceptableSites: ['RAS01', 'RQM01'], unavailable: [], stopOffers: false } });
  });

  it('takes a single checkbox value as well as several', () => {
    expect(applyPreferenceForm({ sites: 'RYJ02' }, NONE, SITES, TODAY)).toMatchObject({ ok: true, value: { acceptableSites: ['RYJ02'] } });
  });

  it('adds a period they cannot make, and one day when only the first date is given', () => {
    const r = applyPreferenceForm({ unavailableFrom: '2026-12-20', unavailableTo: '2026-12-27' }, { acceptableSites: [], unavailable: [{ from: '2027-01-10', to: '2027-01-10' }] }, SITES, TODAY);
    expect(r).toMatchObject({ ok: true, value: { unavailable: [{ from: '2026-12-20', to: '2026-12-27' }, { from: '2027-01-10', to: '2027-01-10' }] } });
    expect(applyPreferenceForm({ unavailableFrom: '2026-12-05' }, NONE, SITES, TODAY)).toMatchObject({ ok: true, value: { unavailable: [{ from: '2026-12-05', to: '2026-12-05' }] } });
  });

  it('removes ticked periods and forgets ones that have ended', () => {
    const current = { acceptableSites: [], unavailable: [{ from: '2026-11-01', to: '2026-11-20' }, { from: '2026-12-10', to: '2026-12-12' }, { from: '2027-02-01', to: '2027-02-03' }] };
    const r = applyPreferenceForm({ removeUnavailable: '2026-12-10/2026-12-12' }, current, SITES, TODAY);
    expect(r).toMatchObject({ ok: true, value: { unavailable: [{ from: '2027-02-01', to: '2027-02-03' }] } });
  });

  it('reads "stop offers" only from an explicit yes', () => {
    expect(applyPreferenceForm({ stopOffers: 'yes' }, NONE, SITES, TODAY)).toMatchObject({ ok: true, value: { stopOffers: true } });
    expect(applyPreferenceForm({ stopOffers: 'on' }, NONE, SITES, TODAY)).toMatchObject({ ok: true, value: { stopOffers: false } });
  });

  it.each([
    [{ sites: ['RQM01', 'XXX99'] }, 'sites'],
    [{ unavailableFrom: '2026-02-30', unavailableTo: '2026-12-20' }, 'unavailableFrom'],
    [{ unavailableFrom: '20/12/2026' }, 'unavailableFrom'],
    [{ unavailableTo: '2026-12-20' }, 'unavailableFrom'],
    [{ unavailableFrom: '2026-12-20', unavailableTo: '2026-12-10' }, 'unavailableTo'],
    [{ unavailableFrom: '2026-11-01', unavailableTo: '2026-11-05' }, 'unavailableTo'],
    [{ unavailableFrom: '2028-01-01', unavailableTo: '2028-01-02' }, 'unavailableFrom'],
  ])('refuses %p, naming %s, and changes nothing', (form, field) => {
    const r = applyPreferenceForm(form, NONE, SITES, TODAY);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.field)).toContain(field);
  });

  it('keeps the list bounded', () => {
    const many = { acceptableSites: [], unavailable: Array.from({ length: MAX_UNAVAILABLE_PERIODS }, (_, i) => ({ from: `2027-01-${String(i + 1).padStart(2, '0')}`, to: `2027-01-${String(i + 1).padStart(2, '0')}` })) };
    expect(applyPreferenceForm({ unavailableFrom: '2027-03-01' }, many, SITES, TODAY).ok).toBe(false);
  });
});
