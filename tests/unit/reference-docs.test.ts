import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '@cmq/common';
import { referenceDocs } from '@cmq/cli/src/commands/docs';

const ROOT = join(__dirname, '..', '..');
const CATALOGUE = 'packages/common/src/error-codes.ts';

/** Every .ts file under the src/ of each package and service, as [path from ROOT, text]. */
function sources(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const path = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) out.push([path, readFileSync(join(ROOT, path), 'utf8')]);
    }
  };
  for (const top of ['packages', 'services']) for (const dir of readdirSync(join(ROOT, top))) walk(`${top}/${dir}/src`);
  return out;
}

/** `CMQ_ERR_*` codes named in a text (a bare prefix such as `CMQ_ERR_DRIVER_` is not a code). */
function codesIn(text: string): string[] {
  return [...text.matchAll(/CMQ_ERR_[A-Z0-9_]+/g)].map((m) => m[0]).filter((c) => !c.endsWith('_'));
}

describe('error codes', () => {
  const files = sources();
  const errorsDoc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');

  it('every CMQ_ERR_* code in packages/ and services/ is in ERROR_CODES and in docs/errors.md', () => {
    const used = new Set(files.flatMap(([, text]) => codesIn(text)));
    expect(used.size).toBeGreaterThan(20);
    const missing = [...used].filter((c) => !(c in ERROR_CODES) || !errorsDoc.includes(`\`${c}\``));
    expect(missing).toEqual([]);
  });

  it('every code of ERROR_CODES is used outside the catalogue', () => {
    const used = new Set(files.filter(([path]) => path !== CATALOGUE).flatMap(([, text]) => codesIn(text)));
    expect(Object.keys(ERROR_CODES).filter((c) => !used.has(c))).toEqual([]);
  });
});

describe('generated reference pages', () => {
  it.each(referenceDocs().map(([file, text]) => [file, text]))(
    'docs/%s is the one the code generates (run `npm run build && npm run docs` when this fails)',
    (file, text) => {
      expect(readFileSync(join(ROOT, 'docs', file), 'utf8')).toBe(text);
    },
  );
});
