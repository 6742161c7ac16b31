import { GroupCommit } from './group-commit';

/** A store that records each batch and commits when told to. */
function fakeStore(fail: (item: number) => boolean = () => false) {
  const batches: number[][] = [];
  const commits: Array<() => void> = [];
  const store = (items: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push(items);
      commits.push(() => (items.some(fail) ? reject(new Error(`refused ${items.filter(fail).join(',')}`)) : resolve(items.map((i) => `stored ${i}`))));
    });
  const commitAll = async () => {
    while (commits.length) {
      commits.splice(0).forEach((c) => c());
      await new Promise((r) => setImmediate(r));
    }
  };
  return { batches, commits, store, commitAll };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('GroupCommit', () => {
  it('stores what arrives in one event-loop turn together, and resolves each item only after its batch commits', async () => {
    const f = fakeStore();
    const gc = new GroupCommit<number, string>({ store: f.store, concurrency: 1, maxItems: 100, maxBytes: 1e9, size: () => 1 });
    const settled: string[] = [];
    const results = [1, 2, 3].map((i) => gc.submit(i).then((r) => (settled.push(r), r)));
    await turn();
    expect(f.batches).toEqual([[1, 2, 3]]);
    await turn();
    expect(settled).toEqual([]); // not before the commit
    await f.commitAll();
    expect(await Promise.all(results)).toEqual(['stored 1', 'stored 2', 'stored 3']);
  });

  it('gathers what arrives while the batches in flight commit into the next one, in order', async () => {
    const f = fakeStore();
    const gc = new GroupCommit<number, string>({ store: f.store, concurrency: 2, maxItems: 100, maxBytes: 1e9, size: () => 1 });
    const all = [gc.submit(1)];
    await turn();
    all.push(gc.submit(2));
    await turn();
    expect(f.batches).toEqual([[1], [2]]); // two in flight
    all.push(gc.submit(3), gc.submit(4));
    await turn();
    all.push(gc.submit(5));
    await turn();
    expect(f.batches).toHaveLength(2); // waiting for a free slot
    f.commits.shift()!();
    await turn();
    expect(f.batches[2]).toEqual([3, 4, 5]);
    await f.commitAll();
    expect(await Promise.all(all)).toEqual([1, 2, 3, 4, 5].map((i) => `stored ${i}`));
  });

  it('keeps each batch within maxItems and maxBytes (an oversized item goes alone)', async () => {
    const f = fakeStore();
    const gc = new GroupCommit<number, string>({ store: f.store, concurrency: 4, maxItems: 3, maxBytes: 10, size: (i) => i });
    const all = [1, 1, 1, 1, 50, 4, 4, 4].map((i) => gc.submit(i));
    await turn();
    await f.commitAll();
    await Promise.all(all);
    expect(f.batches).toEqual([[1, 1, 1], [1], [50], [4, 4], [4]]);
  });

  it('a batch the store refuses is retried item by item: only the item at fault fails', async () => {
    const f = fakeStore((i) => i === 2);
    const gc = new GroupCommit<number, string>({ store: f.store, concurrency: 1, maxItems: 100, maxBytes: 1e9, size: () => 1 });
    const all = [1, 2, 3].map((i) => gc.submit(i).then((r) => r, (e: Error) => e.message));
    await turn();
    await f.commitAll();
    expect(await Promise.all(all)).toEqual(['stored 1', 'refused 2', 'stored 3']);
    expect(f.batches).toEqual([[1, 2, 3], [1], [2], [3]]);
  });

  it('a store that answers for the wrong number of items fails the batch rather than misattributing results', async () => {
    const gc = new GroupCommit<number, string>({ store: async (items) => (items.length > 1 ? ['only one'] : ['ok']), concurrency: 1, maxItems: 100, maxBytes: 1e9, size: () => 1 });
    expect(await Promise.all([gc.submit(1), gc.submit(2)])).toEqual(['ok', 'ok']);
  });
});
