// typescript-eslint with type information: no floating or misused promises, type-only imports.
// Layout is prettier's (`npm run format`); eslint-config-prettier turns off rules that would fight it.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'coverage/**',
      'jest.config.js',
      'eslint.config.mjs',
      'tests/setup/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['../../packages/*', '../../services/*'], message: 'import other packages by name (@cmq/...)' },
          ],
        },
      ],
    },
  },
  {
    // The console's browser scripts: plain JavaScript run by the browser, not by Node.
    files: ['services/console/assets/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, project: null },
      sourceType: 'script',
      globals: {
        window: 'readonly',
        document: 'readonly',
        fetch: 'readonly',
        EventSource: 'readonly',
        CSS: 'readonly',
        uPlot: 'readonly',
      },
    },
  },
  {
    // Only the adapter modules talk to the external clients.
    files: ['packages/**/*.ts', 'services/**/*.ts'],
    ignores: ['packages/common/src/adapters/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          // Types too: a client's types in a service's signatures tie it to that client.
          paths: ['amqplib', 'pg', 'ioredis', 'node-ssh', 'ssh2'].map((name) => ({
            name,
            message: 'use the adapter in packages/common/src/adapters',
          })),
          patterns: [
            { group: ['../../packages/*', '../../services/*'], message: 'import other packages by name (@cmq/...)' },
          ],
        },
      ],
    },
  },
  {
    // The benchmark is plain CommonJS run by node: lint it without type information.
    files: ['scripts/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, project: null },
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        process: 'readonly',
        Buffer: 'readonly',
        __dirname: 'readonly',
        setTimeout: 'readonly',
        console: 'readonly',
      },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
);
