import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { allFileSpecs } from '../config-set';
import { renderConfigurationDoc } from '../configuration-doc';
import { renderErrorsDoc } from '../errors-doc';

/** The reference pages generated from the code, by file name under docs/. */
export function referenceDocs(): ReadonlyArray<[string, string]> {
  return [
    ['configuration.md', renderConfigurationDoc(allFileSpecs(undefined))],
    ['errors.md', renderErrorsDoc()],
  ];
}

export function registerDocsCommand(program: Command): void {
  program
    .command('docs')
    .description('print (or write) docs/configuration.md and docs/errors.md, generated from the schemas and codes')
    .option('--write <dir>', 'write the pages into this directory instead of printing them')
    .action((opts: { write?: string }) => {
      for (const [file, text] of referenceDocs()) {
        if (opts.write === undefined) process.stdout.write(`${text}\n`);
        else writeFileSync(join(opts.write, file), text);
      }
    });
}
