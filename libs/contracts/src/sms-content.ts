/**
 * What a patient reads about a slot: hospital, site, specialty, date and time in the ICS's own
 * time zone. Nothing clinical beyond the specialty.
 */
export interface SlotWording {
  hospital: string;
  site: string;
  specialty: string;
  date: string;
  time: string;
}

// Building an Intl.DateTimeFormat costs far more than using one (it was a tenth of the booking
// process's CPU in the acceptance storm), so one is kept per time zone and style.
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(kind: 'date' | 'time', timeZone: string): Intl.DateTimeFormat {
  const key = `${kind} ${timeZone}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', kind === 'date'
      ? { timeZone, weekday: 'long', day: 'numeric', month: 'long' }
      : { timeZone, hour: 'numeric', minute: '2-digit', hour12: true });
    formatters.set(key, f);
  }
  return f;
}

export function formatPatientDate(d: Date, timeZone: string): string {
  return formatter('date', timeZone).format(d);
}

export function formatPatientTime(d: Date, timeZone: string): string {
  return formatter('time', timeZone)
    .format(d)
    .replace(/\s/g, '')
    .toLowerCase();
}

export function slotWording(p: { hospital: string; site: string; specialty: string; start: Date; timeZone: string }): SlotWording {
  return {
    hospital: p.hospital,
    site: p.site,
    specialty: p.specialty,
    date: formatPatientDate(p.start, p.timeZone),
    time: formatPatientTime(p.start, p.timeZone),
  };
}
