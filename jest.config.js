/** Three tiers; each file runs in its own worker. Integration and e2e tiers use the real
 * RabbitMQ, PostgreSQL, Redis and sshd on loopback (scripts/test.sh starts them). */
// ESM-only dependencies of fastify's (`cookie` 2 under inject, `content-disposition` 2 under
// @fastify/static): Node 20 requires them natively, Jest's runtime does not, so swc turns them
// into CommonJS for the tests.
const ESM_ONLY = '(cookie|content-disposition)';
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }],
  [`/node_modules/${ESM_ONLY}/.+\\.js$`]: ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
};
const transformIgnorePatterns = [`/node_modules/(?!${ESM_ONLY}/)`];
// Unit and integration tests run against the TypeScript sources; e2e tests spawn the built bins.
const moduleNameMapper = {
  '^@cmq/(common|config|actions)$': '<rootDir>/packages/$1/src',
  '^@cmq/drivers$': '<rootDir>/packages/drivers/src',
  '^@cmq/(publisher|subscriber|pinger|console)$': '<rootDir>/services/$1/src',
};
const base = { transform, transformIgnorePatterns, moduleNameMapper, testEnvironment: 'node', rootDir: '.' };
module.exports = {
  globalSetup: '<rootDir>/tests/setup/global-setup.js',
  globalTeardown: '<rootDir>/tests/setup/global-teardown.js',
  testTimeout: 60000,
  maxWorkers: 2,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/tests/unit/**/*.test.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/tests/integration/**/*.test.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/tests/e2e/**/*.test.ts'] },
  ],
};
