import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.test-tmp/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  // Tool folders use the shared folders (core, docker, store, host, archive) and never each other;
  // shared folders never reach into a tool. Commands may import anything.
  ...['metrics', 'alerts', 'ship', 'fetch'].map((tool) => ({
    files: [`src/${tool}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['metrics', 'alerts', 'ship', 'fetch', 'commands']
                .filter((other) => other !== tool)
                .flatMap((other) => [`../${other}/*`, `../../${other}/*`]),
              message: 'a tool folder imports only the shared folders (core, docker, store, host, archive)',
            },
          ],
          paths: [{ name: 'pg', message: 'only src/db imports pg' }],
        },
      ],
    },
  })),
  {
    files: [
      'src/core/**/*.ts',
      'src/docker/**/*.ts',
      'src/store/**/*.ts',
      'src/host/**/*.ts',
      'src/archive/**/*.ts',
      'src/app/**/*.ts',
      'src/history/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['metrics', 'alerts', 'ship', 'fetch', 'commands'].flatMap((tool) => [
                `../${tool}/*`,
                `../../${tool}/*`,
              ]),
              message: 'shared folders never import a tool folder or a command',
            },
          ],
          paths: [{ name: 'pg', message: 'only src/db imports pg' }],
        },
      ],
    },
  },
);
