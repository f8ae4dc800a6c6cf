// Every temporary file of a test run goes under one directory (TMPDIR, inherited by the jest
// workers and the processes they spawn), removed by global-teardown.js.
const { chmodSync, mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cmq-jest-'));
  chmodSync(dir, 0o755);
  process.env.CMQ_JEST_TMP = dir;
  process.env.TMPDIR = dir;
};
