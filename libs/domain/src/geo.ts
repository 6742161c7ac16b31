/**
 * Straight-line distance between a patient's postcode and a hospital site's, for the
 * `MAX_TRAVEL_KM` rule. The exchange runs without internet access, so postcodes become
 * coordinates only through a centroid table the ICS supplies (for example the outward codes or
 * full postcodes of the ONS Postcode Directory). A distance is "known" only when both postcodes
 * are found in that table; otherwise it is unknown, and the patient is offered other trusts' sites
 * only if they named them (or said ANY). Nothing is guessed.
 */
import { normaliseUkPostcode } from './postcode';

export interface LatLon {
  lat: number;
  lon: number;
}

const EARTH_RADIUS_KM = 6371.0088;

/** Great-circle distance in kilometres (haversine); ample for "within 10 km" across one ICS. */
export function haversineKm(a: LatLon, b: LatLon): number {
  const rad = (d: number) => (d * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** `SW10 9NH` → `SW10`; null when it is not a UK postcode. */
export function outwardCode(postcode: string): string | null {
  const n = normaliseUkPostcode(postcode);
  return n ? n.split(' ')[0] : null;
}

/**
 * Postcode → coordinates, most precise first: the full postcode when the table has it, else its
 * outward code (district centroid, a few hundred metres to a couple of km off in London).
 */
/** Most postcodes `PostcodeCentroids.locate` remembers (a few MB). */
const LOCATED_MAX = 50_000;

export class PostcodeCentroids {
  private readonly points = new Map<string, LatLon>();
  private readonly located = new Map<string, LatLon | null>();

  constructor(entries: Iterable<[string, LatLon]> = []) {
    for (const [key, p] of entries) {
      const k = key.trim().toUpperCase();
      const full = normaliseUkPostcode(k);
      this.points.set(full ?? k.replace(/\s+/g, ''), p);
    }
  }

  get size(): number {
    return this.points.size;
  }

  locate(postcode: string | null | undefined): LatLon | null {
    if (!postcode) return null;
    // A batch of first waves asks for each candidate's place once per slot (thousands of times
    // for a few hundred postcodes): answers are remembered, up to a bound, as the table never changes.
    const known = this.located.get(postcode);
    if (known !== undefined) return known;
    const full = normaliseUkPostcode(postcode);
    const point = full ? this.points.get(full) ?? this.points.get(full.split(' ')[0]) ?? null : null;
    if (this.located.size >= LOCATED_MAX) this.located.clear();
    this.located.set(postcode, point);
    return point;
  }

  /** Kilometres between two postcodes, or null when either cannot be placed. */
  distanceKm(a: string | null | undefined, b: string | null | undefined): number | null {
    const pa = this.locate(a);
    const pb = this.locate(b);
    return pa && pb ? haversineKm(pa, pb) : null;
  }
}

/**
 * Reads a centroid table as CSV: a header with `postcode` (or `pcd`/`outcode`), `lat`/`latitude`
 * and `lon`/`long`/`longitude` columns, as the ONS Postcode Directory and outward-code lists ship.
 * Rows that do not parse are skipped and counted, never guessed.
 */
export function parseCentroidCsv(text: string): { centroids: PostcodeCentroids; skipped: number } {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) return { centroids: new PostcodeCentroids(), skipped: 0 };
  const header = lines[0].split(',').map((h) => h.trim().replace(/^"|"$/g, '').toLowerCase());
  const col = (...names: string[]) => header.findIndex((h) => names.includes(h));
  const iKey = col('postcode', 'pcd', 'pcds', 'outcode', 'outward_code');
  const iLat = col('lat', 'latitude');
  const iLon = col('lon', 'long', 'lng', 'longitude');
  if (iKey < 0 || iLat < 0 || iLon < 0) throw new Error('centroid CSV needs postcode, latitude and longitude columns');
  const entries: Array<[string, LatLon]> = [];
  let skipped = 0;
  for (const line of lines.slice(1)) {
    const f = line.split(',').map((x) => x.trim().replace(/^"|"$/g, ''));
    const lat = Number(f[iLat]);
    const lon = Number(f[iLon]);
    const key = f[iKey];
    if (!key || !Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180 || f[iLat] === '' || f[iLon] === '') {
      skipped++;
      continue;
    }
    entries.push([key, { lat, lon }]);
  }
  return { centroids: new PostcodeCentroids(entries), skipped };
}
