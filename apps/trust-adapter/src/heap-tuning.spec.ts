import { readFileSync } from 'node:fs';
import { join } from 'node:path';

describe('adapter heap tuning', () => {
  it('caps V8 old-generation growth at 50% over the live heap when loaded', () => {
    const setFlagsFromString = jest.fn();
    jest.isolateModules(() => {
      jest.doMock('node:v8', () => ({ setFlagsFromString }));
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('./heap-tuning');
    });
    expect(setFlagsFromString).toHaveBeenCalledWith('--heap-growing-percent=50');
  });

  it('is loaded by the adapter entry point before anything else, so it holds however the app is started', () => {
    // tools/stack, the container entrypoint and Kubernetes all start dist/apps/trust-adapter/src/main.js.
    const firstImport = readFileSync(join(__dirname, 'main.ts'), 'utf8').split('\n').find((l) => l.startsWith('import '));
    expect(firstImport).toBe("import './heap-tuning';");
  });
});
