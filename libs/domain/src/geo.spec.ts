import { haversineKm, outwardCode, parseCentroidCsv, PostcodeCentroids } from './geo';

describe('haversineKm', () => {
  it('measures great-circle distance', () => {
    // One degree of latitude is about 111.2 km everywhere.
    expect(haversineKm({ lat: 51, lon: 0 }, { lat: 52, lon: 0 })).toBeCloseTo(111.2, 0);
    expect(haversineKm({ lat: 51.5, lon: -0.2 }, { lat: 51.5, lon: -0.2 })).toBe(0);
    const a = { lat: 51.48, lon: -0.18 };
    const b = { lat: 51.55, lon: -0.4 };
    expect(haversineKm(a, b)).toBeCloseTo(haversineKm(b, a), 9);
  });
});

describe('PostcodeCentroids', () => {
  const table = new PostcodeCentroids([
    ['SW10 9NH', { lat: 51.0, lon: 0 }],
    ['UB8', { lat: 51.1, lon: 0 }],
  ]);

  it('places a full postcode first, then its outward code, and never guesses', () => {
    expect(table.locate('sw109nh')).toEqual({ lat: 51.0, lon: 0 });
    expect(table.locate('UB8 3NN')).toEqual({ lat: 51.1, lon: 0 });
    expect(table.locate('UB8 1AA')).toEqual({ lat: 51.1, lon: 0 });
    expect(table.locate('SW10 1AA')).toBeNull();
    expect(table.locate('HA1 3UJ')).toBeNull();
    expect(table.locate('not a postcode')).toBeNull();
    expect(table.locate(null)).toBeNull();
  });

  it('knows a distance only when both ends are placed', () => {
    expect(table.distanceKm('SW10 9NH', 'UB8 3NN')).toBeCloseTo(11.1, 0);
    expect(table.distanceKm('SW10 9NH', 'HA1 3UJ')).toBeNull();
    expect(table.distanceKm(null, 'UB8 3NN')).toBeNull();
  });

  it('outwardCode takes the district of a valid postcode', () => {
    expect(outwardCode('sw10 9nh')).toBe('SW10');
    expect(outwardCode('W2 1NY')).toBe('W2');
    expect(outwardCode('nonsense')).toBeNull();
  });
});

describe('parseCentroidCsv', () => {
  it('reads ONS-style columns and skips rows it cannot use', () => {
    const { centroids, skipped } = parseCentroidCsv('pcds,lat,long\n"W2 1NY",51.5,-0.17\nW6,51.49,-0.22\nHA1 3UJ,,\nHA6 2RN,95,0\n');
    expect(centroids.size).toBe(2);
    expect(skipped).toBe(2);
    expect(centroids.locate('W6 8RF')).toEqual({ lat: 51.49, lon: -0.22 });
  });

  it('refuses a file without the columns it needs', () => {
    expect(() => parseCentroidCsv('code,x,y\nW2,1,2')).toThrow(/postcode, latitude and longitude/);
    expect(parseCentroidCsv('').centroids.size).toBe(0);
  });
});
