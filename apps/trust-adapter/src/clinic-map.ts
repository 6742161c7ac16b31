/**
 * The trust's clinic mapping: clinic code → treatment function, appointment type and clinic
 * constraints, from a versioned JSON file. Re-read when the file changes, so a trust can add a
 * clinic without a restart; a file that does not parse leaves the previous mapping in force.
 */
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { isAppointmentType, isTfc } from '@app/domain';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { AdapterConfig } from './config';
import { errorMessage } from '@app/platform';

export interface ClinicMapping { tfc: string; appointmentType: 'NEW' | 'FUP'; minAgeYears?: number; maxAgeYears?: number; sex?: 'M' | 'F' }

export function parseClinicMap(text: string, trustOds: string): { version: string; clinics: Map<string, ClinicMapping> } {
  const json = JSON.parse(text) as { trust?: string; version?: string; clinics?: Record<string, ClinicMapping> };
  if (json.trust !== trustOds) throw new Error(`mapping file is for ${json.trust}, not ${trustOds}`);
  if (!json.version) throw new Error('mapping file has no version');
  const clinics = new Map<string, ClinicMapping>();
  for (const [code, m] of Object.entries(json.clinics ?? {})) {
    if (!isTfc(m.tfc) || !isAppointmentType(m.appointmentType)) throw new Error(`clinic ${code}: tfc and appointmentType (NEW/FUP) are required`);
    clinics.set(code, m);
  }
  return { version: json.version, clinics };
}

@Injectable()
export class ClinicMap implements OnModuleDestroy {
  private readonly logger = new Logger('clinic-map');
  private clinics = new Map<string, ClinicMapping>();
  private readonly reloaded: Array<(codes: string[], version: string) => void> = [];
  version = '';

  constructor(private readonly config: AdapterConfig) {
    this.load();
    watchFile(config.CLINIC_MAP_FILE!, { interval: 2000 }, () => {
      try {
        this.load();
      } catch (e) {
        this.logger.error(`clinic mapping not reloaded, keeping version ${this.version}: ${errorMessage(e)}`);
      }
    });
  }

  private load(): void {
    const { version, clinics } = parseClinicMap(readFileSync(this.config.CLINIC_MAP_FILE!, 'utf8'), this.config.TRUST_ODS);
    this.clinics = clinics;
    this.version = version;
    this.logger.log(`clinic mapping ${version} loaded (${clinics.size} clinics)`);
    for (const fn of this.reloaded) fn([...clinics.keys()], version);
  }

  /** Called with the mapped codes whenever a new version is in force (e.g. to clear the unmapped list). */
  onReload(fn: (codes: string[], version: string) => void): void {
    this.reloaded.push(fn);
  }

  /** Re-reads the file now (the watcher does this on change); throws, keeping the mapping in force, if it is bad. */
  reload(): void {
    this.load();
  }

  lookup(code: string): ClinicMapping | undefined {
    return this.clinics.get(code);
  }

  onModuleDestroy(): void {
    unwatchFile(this.config.CLINIC_MAP_FILE!);
  }
}
