// Lint keeps the domain layer pure (the Temporal bundler rule): no I/O libraries, no clocks,
// no randomness. Everything else gets typescript-eslint's recommended rules.
import tseslint from 'typescript-eslint';

const banned = [
  'node:*',
  'fs',
  'net',
  'http',
  'crypto',
  'child_process',
  '@nats-io/*',
  'kysely',
  'better-sqlite3',
  'pino',
  '@kubernetes/client-node',
  '@opentelemetry/*',
  'msgpackr',
  'fastify',
  'ws',
];

// Packages reach each other by name: shared code as `#shared/…`, never another service's src/.
const boundaries = [
  { group: ['**/shared/src/**'], message: 'import shared code by name: #shared/<module>/index.js' },
  {
    group: ['**/services/*/src/**'],
    message: "another service's src/ is private: move what two deployables use to shared/",
  },
];
const domainFiles = ['services/*/src/domain/**/*.ts', 'shared/src/policy/**/*.ts'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.tmp/**', 'dist/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['services/**/*.ts', 'cli/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: boundaries }] },
  },
  {
    files: domainFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...boundaries,
            ...banned.map((group) => ({ group: [group], message: 'domain code is pure: do I/O in adapters/' })),
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'time arrives in the command context' },
        { object: 'Math', property: 'random', message: 'ids arrive in the command context' },
        { object: 'crypto', property: 'randomUUID', message: 'ids arrive in the command context' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'time arrives in the command context',
        },
      ],
    },
  },
);
