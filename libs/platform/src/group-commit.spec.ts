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

  describe('with lingerMs (senders that each wait for their answer)', () => {
    // The linger and the peak window run on jest's clock (timers and Date.now), moved by hand; the
    // event-loop turns a batch leaves on stay real.
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask'] }));
    afterEach(() => jest.useRealTimers());
    /** Four callers in step: submitted together, committed together, so four are expected from now on. */
    async function inStep(lingerMs: number, peakWindowMs?: number) {
      const f = fakeStore();
      const gc = new GroupCommit<number, string>({ store: f.store, concurrency: 2, maxItems: 100, maxBytes: 1e9, size: () => 1, lingerMs, peakWindowMs });
      const first = [1, 2, 3, 4].map((i) => gc.submit(i));
      await turn();
      expect(f.batches).toEqual([[1, 2, 3, 4]]);
      await f.commitAll();
      await Promise.all(first);
      expect(gc.expected).toBe(4);
      return { f, gc };
    }

    it('an idle batch waits for as many callers as were outstanding at once lately, then goes at once', async () => {
      const { f, gc } = await inStep(10_000);
      const next = [gc.submit(5)];
      await turn();
      next.push(gc.submit(6), gc.submit(7));
      await turn();
      await turn();
      expect(f.batches).toHaveLength(1); // three of the four back: still gathering
      next.push(gc.submit(8));
      await turn();
      expect(f.batches[1]).toEqual([5, 6, 7, 8]); // the fourth: no need to wait out the linger
      await f.commitAll();
      expect(await Promise.all(next)).toEqual([5, 6, 7, 8].map((i) => `stored ${i}`));
    });

    it('waits no longer than lingerMs for callers that do not come', async () => {
      const { f, gc } = await inStep(30);
      const late = gc.submit(5);
      await turn();
      jest.advanceTimersByTime(29);
      await turn();
      expect(f.batches).toHaveLength(1); // one of the four expected: still gathering
      jest.advanceTimersByTime(1);
      expect(f.batches[1]).toEqual([5]); // the linger is over: it goes alone
      await f.commitAll();
      expect(await late).toBe('stored 5');
    });

    it('a lone sender is never held: one outstanding item is all that is expected of it', async () => {
      const f = fakeStore();
      const gc = new GroupCommit<number, string>({ store: f.store, concurrency: 2, maxItems: 100, maxBytes: 1e9, size: () => 1, lingerMs: 10_000 });
      for (const i of [1, 2, 3]) {
        const r = gc.submit(i);
        await turn();
        expect(f.batches.at(-1)).toEqual([i]);
        await f.commitAll();
        await r;
      }
    });

    it('a straggler waits for the batch in flight and rejoins the others rather than committing alone beside it', async () => {
      const { f, gc } = await inStep(20);
      const a = [5, 6, 7].map((i) => gc.submit(i));
      await turn();
      jest.advanceTimersByTime(20); // three of four: gone after the linger
      expect(f.batches[1]).toEqual([5, 6, 7]);
      const straggler = gc.submit(8);
      await turn();
      jest.advanceTimersByTime(60);
      await turn();
      expect(f.batches).toHaveLength(2); // not beside [5, 6, 7], though a slot is free
      f.commits.shift()!(); // [5, 6, 7] commits; its senders come back
      await Promise.all(a);
      const b = [9, 10, 11].map((i) => gc.submit(i));
      await turn();
      expect(f.batches[2]).toEqual([8, 9, 10, 11]); // all four in step again
      await f.commitAll();
      expect(await Promise.all([straggler, ...b])).toEqual([8, 9, 10, 11].map((i) => `stored ${i}`));
    });

    it('still runs a second batch beside the first once more items wait than it holds', async () => {
      const { f, gc } = await inStep(10_000);
      const all = [5, 6, 7, 8].map((i) => gc.submit(i));
      await turn();
      expect(f.batches[1]).toEqual([5, 6, 7, 8]);
      all.push(...[9, 10, 11, 12].map((i) => gc.submit(i)));
      await turn();
      expect(f.batches).toHaveLength(2); // four beside four: they wait to go together
      all.push(gc.submit(13));
      await turn();
      expect(f.batches[2]).toEqual([9, 10, 11, 12, 13]);
      await f.commitAll();
      expect(await Promise.all(all)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13].map((i) => `stored ${i}`));
    });

    it('forgets an old peak: after a quiet spell a single item goes at once', async () => {
      const { f, gc } = await inStep(10_000, 20);
      jest.advanceTimersByTime(50);
      expect(gc.expected).toBe(1);
      const r = gc.submit(5);
      await turn();
      expect(f.batches[1]).toEqual([5]);
      await f.commitAll();
      await r;
    });
  });
});
