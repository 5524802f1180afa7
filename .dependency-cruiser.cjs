/**
 * The layers of drover's source and the one direction imports may point (down):
 *
 *   contract ← native ← process ← network ← cluster ← config, telemetry ← cli, vitest, package entry
 *
 * contract/ is the floor (types, errors, the lifecycle table, signals, defaults) and imports no
 * other folder; config/ and telemetry/ stand on the floor and the cluster beside each other, never
 * on each other. Checked by test/architecture/layers.test.ts (`npm test`); run by hand with
 * `npx depcruise --config .dependency-cruiser.cjs index.ts cli vitest bench`.
 */
const SOURCE = '^(contract|native|process|network|cluster|config|telemetry|cli|vitest)/|^(index|start-cluster)\\.ts$';

/** What each layer may import besides itself (folders of this repository only; npm packages and node: builtins are free). */
const ALLOWED = {
  contract: [],
  native: ['contract'],
  process: ['contract', 'native'],
  network: ['contract', 'native', 'process'],
  cluster: ['contract', 'native', 'process', 'network'],
  config: ['contract'],
  telemetry: ['contract'],
};

const layerRules = Object.entries(ALLOWED).map(([layer, allowed]) => ({
  name: `${layer}-imports-down-only`,
  comment: `${layer}/ may import ${allowed.length === 0 ? 'no other folder' : allowed.map((l) => `${l}/`).join(', ')}`,
  severity: 'error',
  from: { path: `^${layer}/` },
  to: { path: SOURCE, pathNot: [`^${layer}/`, ...allowed.map((l) => `^${l}/`)] },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'a module cycle: the layers must form a tree of one-way imports',
      severity: 'error',
      from: { path: SOURCE },
      // (vitest/index.ts's `import type {} from 'vitest'` names the npm package, which the
      // resolver confuses with the folder of the same name: 'undetermined', left out.)
      to: { circular: true, dependencyTypesNot: ['undetermined'] },
    },
    ...layerRules,
    {
      name: 'product-not-on-tests',
      comment: 'shipped code never imports tests, benchmarks or examples',
      severity: 'error',
      from: { path: SOURCE },
      to: { path: '^(test|bench|examples)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|native/build)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
