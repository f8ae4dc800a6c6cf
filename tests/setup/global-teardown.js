const { rmSync } = require('node:fs');

module.exports = async () => {
  const dir = process.env.CMQ_JEST_TMP;
  if (dir && !process.env.CMQ_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
};
