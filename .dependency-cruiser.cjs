/**
 * The project's layers, checked in `npm test` (`npm run deps`). From the bottom up: `functions/` is what runs in
 * Lambda and stands alone; `sim/` may use its prompts and schemas; `lib/` is the stack; `local/` the embedded
 * runtime built from the stack's template; `ops/` the operator library; `cli/` and `console/` stand on ops.
 * An import may only point down, and nothing may go round in a circle.
 */
const ABOVE_FUNCTIONS = '^(lib|layers|local|sim|ops|cli|console|bench|bin|test)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules that import each other, directly or round a longer loop, cannot be read or changed apart.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'functions-stand-alone',
      severity: 'error',
      comment: 'The Lambda code is bundled alone: it must not reach the stack, the local runtime, tooling or tests.',
      from: { path: '^functions/' },
      to: { path: ABOVE_FUNCTIONS },
    },
    {
      name: 'sim-below-the-pipeline',
      severity: 'error',
      comment: 'The simulator plays a provider: it knows the prompts and schemas, not the stack or the runtime.',
      from: { path: '^sim/' },
      to: { path: '^(lib|layers|local|ops|cli|console|bench|bin|test)/' },
    },
    {
      name: 'lib-not-local',
      severity: 'error',
      comment: 'The stack is what deploys; the local runtime is built from it, never the other way round.',
      from: { path: '^(lib|layers)/' },
      to: { path: '^(local|ops|cli|console|bench|bin|test)/' },
    },
    {
      name: 'local-not-operators',
      severity: 'error',
      comment: 'The local runtime is a stack to operate, not an operator: it must not import ops, cli or console.',
      from: { path: '^local/' },
      to: { path: '^(cli|console|bench|bin|test)/' },
    },
    {
      name: 'ops-below-its-users',
      severity: 'error',
      comment: 'The operator library is what cli/ and console/ stand on: it must not import either.',
      from: { path: '^ops/' },
      to: { path: '^(cli|console|bench|bin|test)/' },
    },
    {
      name: 'console-not-cli',
      severity: 'error',
      comment: 'The console stands on ops/, not on the command line.',
      from: { path: '^console/' },
      to: { path: '^(cli|bench|bin|test)/' },
    },
    {
      name: 'shipped-code-not-tests',
      severity: 'error',
      comment: 'Nothing that ships imports a test or a benchmark.',
      from: { path: '^(functions|lib|layers|local|sim|ops|cli|console|bin)/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|cdk\\.out|\\.sluice)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
      mainFields: ['module', 'main', 'types'],
    },
  },
};
