// Three tiers (STYLE.md §11): `unit` is pure and fast; `integration` needs real Postgres and Redis
// (provided by tools/stack/with-services); `e2e` boots the built processes and drives them over
// real sockets. `npm test` runs all three in band so they never fight over ports.
const moduleNameMapper = { '^@app/([a-z0-9-]+)(/.*)?$': '<rootDir>/libs/$1/src$2' };
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] };
const base = { rootDir: __dirname, moduleNameMapper, transform, testEnvironment: 'node', moduleFileExtensions: ['ts', 'js', 'json'] };
module.exports = {
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  testTimeout: 120000,
  // A failing end-to-end test can leave a socket or timer behind; CI must still end (and report)
  // instead of waiting out its time limit. Suites stop what they start in afterAll regardless.
  forceExit: true,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,tools}/**/*.spec.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/{apps,libs,tools,test}/**/*.int-spec.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'] },
  ],
};
