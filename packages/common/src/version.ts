/** This release (one version for the whole workspace), as reported in heartbeats, logs and `cmq --version`. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- package.json sits outside rootDir
export const VERSION: string = (require('../package.json') as { version: string }).version;
