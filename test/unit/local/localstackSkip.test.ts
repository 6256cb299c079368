import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** `npm run test:localstack` with no LocalStack: it must not look like a pass. */
describe('test:localstack without LocalStack', () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '../../localstack/e2e.ts'), ...args], {
      encoding: 'utf8',
      // A closed port: nothing answers, at once.
      env: { ...process.env, AWS_ENDPOINT_URL: 'http://127.0.0.1:1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });

  it('prints skipped and exits 77, or 0 with --allow-skip', () => {
    const plain = run([]);
    expect(plain.status).toBe(77);
    expect(plain.stdout).toContain('test:localstack: skipped: no LocalStack endpoint answered at http://127.0.0.1:1/_localstack/health');
    const allowed = run(['--allow-skip']);
    expect(allowed.status).toBe(0);
    expect(allowed.stdout).toContain('test:localstack: skipped:');
    expect(run(['--alow-skip']).status).toBe(2);
  });
});
