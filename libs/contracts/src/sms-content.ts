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

// Building a DateTimeFormat costs far more than using one (every offer SMS formats two instants).
const formatters = new Map<string, Intl.DateTimeFormat>();

function cached(kind: 'date' | 'time', timeZone: string): Intl.DateTimeFormat {
  const key = `${kind}|${timeZone}`;
  let f = formatters.get(key);
  if (!f) {
    f = kind === 'date'
      ? new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'long', day: 'numeric', month: 'long' })
      : new Intl.DateTimeFormat('en-GB', { timeZone, hour: 'numeric', minute: '2-digit', hour12: true });
    formatters.set(key, f);
  }
  return f;
}

export function formatPatientDate(d: Date, timeZone: string): string {
  return cached('date', timeZone).format(d);
}

export function formatPatientTime(d: Date, timeZone: string): string {
  return cached('time', timeZone)
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

/**
 * The confirmation's `previous` line. The confirmation is queued in the transaction that first
 * orders the old appointment's cancel at the home trust, before any PAS has been asked, so it says
 * the cancel is under way, not done (and if it fails, a person sorts it out: the booking is listed).
 */
export function previousAppointmentWording(start: Date, timeZone: string): string {
  return `Your previous appointment on ${formatPatientDate(start, timeZone)} at ${formatPatientTime(start, timeZone)} will be cancelled: we are cancelling it for you.`;
}
