// ESLint: type-aware checks plus the layer rules of DESIGN.md section 2 (imports run one way:
// runtime <- transport, carousel, sandbox <- loader, headend <- devices, cli; runtime <- policy <-
// sim and headend; sim is for bench and tests, never the deployed head-end).
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

// What each folder must not import (relative paths into these folders).
const forbidden = {
  runtime: ['transport', 'carousel', 'sandbox', 'loader', 'headend', 'devices', 'apps', 'cli', 'bench'],
  transport: ['carousel', 'sandbox', 'loader', 'headend', 'devices', 'apps', 'cli', 'bench'],
  carousel: ['transport', 'sandbox', 'loader', 'headend', 'devices', 'apps', 'cli', 'bench'],
  sandbox: ['transport', 'carousel', 'loader', 'headend', 'devices', 'apps', 'cli', 'bench'],
  loader: ['headend', 'devices', 'apps', 'cli', 'bench'],
  headend: ['loader', 'devices', 'apps', 'cli', 'bench', 'sim'],
  // The policy is pure and the simulator runs it: policy imports only runtime, sim only policy and
  // runtime, so the live head-end and the simulator cannot drift apart (issue 14).
  policy: ['transport', 'carousel', 'sandbox', 'loader', 'headend', 'devices', 'apps', 'cli', 'bench', 'sim'],
  sim: ['transport', 'carousel', 'sandbox', 'loader', 'headend', 'devices', 'apps', 'cli', 'bench'],
  devices: ['cli', 'bench'],
  apps: ['transport', 'carousel', 'sandbox', 'loader', 'headend', 'devices', 'cli', 'bench'],
};
const layerRules = Object.entries(forbidden).map(([folder, banned]) => ({
  files: [`${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          { group: banned.flatMap((b) => [`../${b}/*`, `../../${b}/*`, `../${b}`, `../../${b}`]), message: `${folder}/ may not import this layer (DESIGN.md section 2)` },
          ...(folder === 'runtime' || folder === 'apps' || folder === 'policy' || folder === 'sim'
            ? [{ group: ['node:*', 'mqtt', 'aedes', 'quickjs-emscripten*', 'better-sqlite3', 'ioredis'], message: `${folder}/ is platform-neutral: no node: or adapter packages` }]
            : []),
        ],
      },
    ],
  },
}));

export default tseslint.config(
  // guide.ts: the README's carousel dump (MPEG-TS packets, not TypeScript).
  { ignores: ['node_modules/', 'dist/', '**/*.mjs', '**/*.js', 'apps/**/dist/', 'guide.ts'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': ['error', { maxDepth: 10 }],
    },
  },
  ...layerRules,
  {
    // Issue 14: a file has one job and a function fits a screen, so no source file over 400 lines
    // and no function over 80 (blank lines and comments count). Tests are exempt: a test is one story.
    files: ['**/*.ts'],
    ignores: ['test/**'],
    rules: {
      'max-lines': ['error', { max: 400 }],
      'max-lines-per-function': ['error', { max: 80 }],
    },
  },
);
