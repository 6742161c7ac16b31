/**
 * pgArray against Postgres itself: generated arrays of awkward strings (quotes, backslashes,
 * braces, commas, spaces, the word NULL, empty strings, non-ASCII), nulls, numbers and booleans
 * come back from `$1::<type>[]` exactly as they went in.
 */
import fc from 'fast-check';
import { Client } from 'pg';
import { pgArray } from './pg-array';
import { createTestDatabase, TestDatabase } from './testing';

let db: TestDatabase;
let pg: Client;

beforeAll(async () => {
  db = await createTestDatabase('sx_pg_array');
  pg = new Client({ connectionString: db.url });
  await pg.connect();
});
afterAll(async () => {
  await pg?.end();
  await db?.drop();
});

const awkward = fc.array(fc.constantFrom('a', '"', '\\', '{', '}', ',', ' ', '\t', '\n', 'NULL', 'null', 'é', '😀', ';', "'"), { maxLength: 6 }).map((cs) => cs.join(''));

it('round-trips text, numeric and boolean arrays through Postgres', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.option(awkward, { freq: 5 }), { maxLength: 20 }),
      fc.array(fc.option(fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ min: 0, max: 1e6, noNaN: true })), { freq: 5 }), { maxLength: 10 }),
      fc.array(fc.boolean(), { maxLength: 10 }),
      async (texts, numbers, flags) => {
        const r = await pg.query(`SELECT $1::text[] AS t, $2::float8[] AS n, $3::boolean[] AS b`, [pgArray(texts), pgArray(numbers), pgArray(flags)]);
        expect(r.rows[0]).toEqual({ t: texts, n: numbers, b: flags });
      },
    ),
    { numRuns: 300, seed: 20261201 },
  );
  // An empty array, and one of one empty string, are told apart.
  const r = await pg.query(`SELECT cardinality($1::text[]) AS none, $2::text[] AS one`, [pgArray([]), pgArray([''])]);
  expect(r.rows[0]).toEqual({ none: 0, one: [''] });
});
