/**
 * Every test file is in exactly one jest project (jest.config.js), so
 * `npm test` runs each once and `npm run test:unit` stays the fast ones.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const config = require('../../jest.config.js') as { projects: Array<{ displayName: string; roots: string[]; testPathIgnorePatterns?: string[] }> };
const ROOT = join(__dirname, '../..');

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []));
}

function projectsOf(file: string): string[] {
  return config.projects
    .filter((p) => p.roots.some((r) => file.startsWith(`${r.replace('<rootDir>', ROOT)}/`)) && !(p.testPathIgnorePatterns ?? []).some((re) => new RegExp(re).test(file)))
    .map((p) => p.displayName);
}

describe('jest projects', () => {
  it('hold every test file exactly once; this folder is the unit project', () => {
    const files = testFiles(join(ROOT, 'test'));
    const wrong = files.map((f) => [relative(ROOT, f), projectsOf(f)] as const).filter(([, ps]) => ps.length !== 1);
    expect(wrong).toEqual([]);
    expect(projectsOf(__filename)).toEqual(['unit']);
    expect(projectsOf(join(ROOT, 'test/contract/stateStore.contract.test.ts'))).toEqual(['dynamodb']);
    expect(projectsOf(join(ROOT, 'test/somewhere-new/x.test.ts'))).toEqual(['other']);
  });
});
