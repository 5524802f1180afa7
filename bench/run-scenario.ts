/**
 * Runs one measurement in this (fresh) process and prints its figures as one JSON line:
 * `node dist/bench/run-scenario.js <scenario> <contender> [--quick]`. Started by main.ts.
 */
import { FULL, QUICK, SCENARIOS, type Contender, type ScenarioName } from './scenarios.js';

const [name, contender] = process.argv.slice(2) as [ScenarioName, Contender];
const scenario = SCENARIOS[name];
if (!scenario || !(scenario.contenders as readonly string[]).includes(contender)) {
  console.error(`usage: run-scenario <${Object.keys(SCENARIOS).join('|')}> <contender> [--quick]`);
  process.exit(2);
}
const sizes = process.argv.includes('--quick') ? QUICK : FULL;
const figures = await scenario.run(contender, sizes);
process.stdout.write(`${JSON.stringify(figures)}\n`);
// Children of the idle scenario and drover's launcher must not keep this process alive.
process.exit(0);
