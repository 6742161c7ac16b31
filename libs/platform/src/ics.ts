/**
 * The ICS as configuration (DESIGN.md: "the set of trusts is configuration, not code"): trusts,
 * their sites and ports, and the names of treatment functions, read from `ICS_CONFIG_DIR`
 * (default `config/`). Another ICS runs the same code with its own files.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface IcsSite { ods: string; name: string; address: string; postcode: string }
export interface IcsTrust { ods: string; name: string; httpPort: number; mllpPort: number; sites: IcsSite[] }

export class IcsDirectory {
  private readonly sites = new Map<string, { site: IcsSite; trust: IcsTrust }>();

  constructor(
    readonly name: string,
    readonly timeZone: string,
    readonly trusts: IcsTrust[],
    private readonly tfcNames: Record<string, string>,
  ) {
    for (const trust of trusts) for (const site of trust.sites) this.sites.set(site.ods, { site, trust });
  }

  trust(ods: string): IcsTrust | undefined {
    return this.trusts.find((t) => t.ods === ods);
  }

  site(ods: string): { site: IcsSite; trust: IcsTrust } | undefined {
    return this.sites.get(ods);
  }

  trustOfSite(siteOds: string): string | undefined {
    return this.sites.get(siteOds)?.trust.ods;
  }

  /** "Dermatology" rather than "Dermatology Service": how a patient would say it. */
  specialty(tfc: string): string {
    const name = this.tfcNames[tfc];
    return name ? name.replace(/ Service$/, '') : `specialty ${tfc}`;
  }
}

/** Repository root, found from this file whether it runs from source (ts-jest) or from dist. */
export function repoRoot(): string {
  const here = __dirname;
  const i = here.lastIndexOf(`${'/'}dist${'/'}`);
  return i >= 0 ? here.slice(0, i) : resolve(here, '../../..');
}

export function defaultConfigDir(): string {
  return join(repoRoot(), 'config');
}

export function loadIcsDirectory(dir = defaultConfigDir()): IcsDirectory {
  const ics = JSON.parse(readFileSync(join(dir, 'ics.json'), 'utf8')) as { name: string; timeZone: string; trusts: IcsTrust[] };
  const tfc = JSON.parse(readFileSync(join(dir, 'tfc.json'), 'utf8')) as Record<string, string>;
  return new IcsDirectory(ics.name, ics.timeZone ?? 'Europe/London', ics.trusts, tfc);
}
