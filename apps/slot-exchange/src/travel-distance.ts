/**
 * Distances from a patient's postcode to a hospital site, for `MAX_TRAVEL_KM`. The exchange has
 * no internet access in production or in the sandbox, so there is no geocoding service: a
 * distance is known only when both the patient's postcode and the site's (from `config/ics.json`)
 * are in the centroid table named by `POSTCODE_CENTROIDS_FILE`. Without the table, or for a
 * postcode it lacks, the distance is unknown and the domain rule falls back to the sites the
 * patient named. See `@app/domain` geo.ts.
 */
import { PostcodeCentroids, parseCentroidCsv } from '@app/domain';
import { IcsDirectory } from '@app/platform';
import { readFileSync } from 'node:fs';

export class TravelDistances {
  constructor(private readonly centroids: PostcodeCentroids, private readonly ics: IcsDirectory) {}

  static load(file: string | undefined, ics: IcsDirectory): TravelDistances {
    if (!file) return new TravelDistances(new PostcodeCentroids(), ics);
    const { centroids } = parseCentroidCsv(readFileSync(file, 'utf8'));
    return new TravelDistances(centroids, ics);
  }

  /** Whether any patient could have a known distance to this site (the site itself is placed). */
  knowable(siteOds: string): boolean {
    return this.centroids.locate(this.ics.site(siteOds)?.site.postcode) !== null;
  }

  /** Kilometres, or null when either end cannot be placed. */
  km(patientPostcode: string | null, siteOds: string): number | null {
    return this.centroids.distanceKm(patientPostcode, this.ics.site(siteOds)?.site.postcode);
  }
}
