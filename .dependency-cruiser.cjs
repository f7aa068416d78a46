/**
 * The layer rules of src/ (docs/architecture.md): each layer imports only the layers below it, so a wrong import
 * fails `npm test` with the rule's name and the reason below.
 *
 *   core → nothing else · config → core · http, dialects → core (+ config types for http) · keys, limits, storage → core
 *   backends → core, config, http · pipeline → everything below it · routes → pipeline and below · app → routes
 */
const layer = (name) => `^src/${name}/`;

/** What each layer may import, besides itself and npm packages. */
const allowed = {
  core: [],
  config: ["core"],
  http: ["core", "config"],
  dialects: ["core"],
  keys: ["core", "limits", "env"],
  limits: ["core", "keys/types", "env"],
  storage: ["core", "env"],
  backends: ["core", "config", "http"],
  pipeline: ["core", "config", "http", "dialects", "backends", "keys", "limits", "storage", "env"],
  routes: ["core", "config", "http", "dialects", "backends", "keys", "limits", "storage", "pipeline", "env"],
};

const forbidden = Object.entries(allowed).map(([name, may]) => ({
  name: `${name}-imports-only-${may.length ? may.join("-") : "itself"}`,
  comment:
    `src/${name}/ may import ${may.length ? `only src/{${may.join(",")}} and itself` : "nothing outside itself"}: ` +
    "see the layer rules in docs/architecture.md (lower layers never know the higher ones).",
  severity: "error",
  from: { path: layer(name) },
  to: {
    path: "^src/",
    pathNot: [layer(name), ...may.map((allowedName) => (allowedName === "env" ? "^src/env\\.ts$" : `^src/${allowedName}(/|\\.ts$)`))],
  },
}));

module.exports = {
  forbidden: [
    ...forbidden,
    {
      name: "no-cycles",
      comment: "An import cycle makes the layers meaningless and the load order fragile.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "src-never-imports-tests-or-tools",
      comment: "The Worker ships src/ only: the emulators and test helpers live in tools/ and test/.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|tools|bench|scripts)/" },
    },
    {
      name: "tools-bench-scripts-never-import-tests",
      comment: "bench/, scripts/ and tools/ run outside the test suites: shared pieces belong in tools/.",
      severity: "error",
      from: { path: "^(tools|bench|scripts)/" },
      to: { path: "^test/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"], extensions: [".ts", ".js"] },
  },
};
