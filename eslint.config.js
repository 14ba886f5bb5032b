import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The mothership's layers, top down: a folder may import the folders below it, never one above
 * (docs/architecture.md). `http` is the top; `db` the bottom.
 */
const MOTHERSHIP_LAYERS = [
  ['http'],
  ['live', 'dispatch', 'artifacts', 'stats', 'metrics'],
  ['jobs'],
  ['runners', 'files', 'auth', 'secrets', 'audit'],
  ['events'],
  ['db'],
];
const MOTHERSHIP = 'packages/mothership/src';

const layerRules = MOTHERSHIP_LAYERS.flatMap((folders, level) => {
  const above = MOTHERSHIP_LAYERS.slice(0, level).flat();
  if (above.length === 0) return [];
  return folders.map((folder) => ({
    files: [`${MOTHERSHIP}/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)+(${above.join('|')})/`,
              message: `${folder}/ is below ${above.join(', ')}: imports run one way, down (docs/architecture.md).`,
            },
          ],
        },
      ],
    },
  }));
});

export default tseslint.config(
  { ignores: ['node_modules/', '**/dist/', 'borg-data/', 'bench/results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: {
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // `for (;;)` loops with an explicit break read better than a flag variable.
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  // The dashboard's components follow the Rules of React (hook order, effect dependencies, pure renders).
  {
    files: ['packages/web/src/**/*.{ts,tsx}'],
    ...reactHooks.configs.flat.recommended,
  },
  ...layerRules,
  // Handlers call services: a store (SQL) or the database itself is out of their reach.
  {
    files: [`${MOTHERSHIP}/http/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '-store\\.ts$',
              message: 'The HTTP layer calls services, never a store: put the call in the service it belongs to.',
            },
            {
              regex: '/db/(database|pg-database|pglite-database|migrate)\\.ts$',
              allowTypeImports: true,
              message: 'The HTTP layer does not use the database: a service does.',
            },
          ],
        },
      ],
    },
  },
  // Every SQL statement lives in its area's store; a store knows only the database below it.
  {
    files: [`${MOTHERSHIP}/**/*.ts`],
    ignores: [`${MOTHERSHIP}/**/*-store.ts`, `${MOTHERSHIP}/db/**`, `${MOTHERSHIP}/events/notify-transport.ts`],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='query']",
          message: "SQL belongs in the area's store file (*-store.ts): add a function there and call it.",
        },
      ],
    },
  },
  {
    files: [`${MOTHERSHIP}/**/*-store.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./(?!db/)',
              message: 'A store imports only db/ (and helpers of its own folder): it knows nothing above the database.',
            },
            {
              regex: '^\\./.*-(store|service|actions)\\.ts$',
              message: 'A store does not call another store or a service: compose them in a service.',
            },
          ],
        },
      ],
    },
  },
);
