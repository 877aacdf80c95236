// The intended arrows between rooms (README "Architecture"). `npm run lint` runs this.
/** @type {import('dependency-cruiser').IConfiguration} */
const ENTRY_POINTS = '^src/(cli|server|mcp|demo)/';
// Allowed: the demo seeds data, serves models and simulates traffic on the embedded lab it
// is about (its lab is still opened by src/app).
const DEMO = '^src/demo/incident-demo\\.ts$';
module.exports = {
  forbidden: [
    // Cycles through type-only imports vanish at runtime (the gate and its helpers name each other's types); any other cycle is an error.
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes two modules one; break it with a port or a type in the lower one.',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'gate-not-planners',
      severity: 'error',
      comment: 'The gate judges calls whoever planned them.',
      from: { path: '^src/gate/' },
      to: { path: '^src/planners/' },
    },
    {
      name: 'audit-not-agent',
      severity: 'error',
      comment: 'The audit log records; it knows nothing of the loop.',
      from: { path: '^src/audit/' },
      to: { path: '^src/agent/' },
    },
    {
      name: 'tools-not-entry-points',
      severity: 'error',
      comment: 'Tools act on backend ports, not on the commands or servers that expose them.',
      from: { path: '^tools/' },
      to: { path: ENTRY_POINTS },
    },
    {
      name: 'backends-not-agent',
      severity: 'error',
      comment: "Backends implement the tools' ports; they do not know the agent.",
      from: { path: '^src/backends/' },
      to: { path: '^src/agent/' },
    },
    {
      name: 'planners-not-backends',
      severity: 'error',
      comment: 'Planners see tools through their specs, never the systems behind them.',
      from: { path: '^src/planners/' },
      to: { path: '^src/backends/' },
    },
    {
      name: 'entry-points-open-backends-through-app',
      severity: 'error',
      comment: 'Commands and servers get backends from src/app (openBackends), the one place that chooses them.',
      from: { path: ENTRY_POINTS, pathNot: DEMO },
      to: { path: '^src/backends/' },
    },
    {
      name: 'nothing-back-into-app',
      severity: 'error',
      comment: 'Rooms take their own option types; only entry points call the composition root.',
      from: { path: '^(src|tools)/', pathNot: ['^src/app/', ENTRY_POINTS] },
      to: { path: '^src/app/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src|tools)/',
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports are arrows too: a room that names another's types depends on it.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
