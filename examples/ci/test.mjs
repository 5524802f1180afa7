// The CI test: `drover run` starts it once both nodes are ready, with their ports in the env
// (DROVER_<NODE>_<PORT>) and the whole cluster as JSON (DROVER_CLUSTER_JSON). Exit 0 = passed.
import assert from 'node:assert/strict';

const web = `http://127.0.0.1:${process.env.DROVER_WEB_HTTP}`;
const cluster = JSON.parse(process.env.DROVER_CLUSTER_JSON);
assert.equal(cluster.name, 'ci-example');
assert.equal(cluster.nodes.counter[0].urls.http, `http://127.0.0.1:${process.env.DROVER_COUNTER_HTTP}`);

assert.equal(await (await fetch(`${web}/`)).text(), 'visit 1');
assert.equal(await (await fetch(`${web}/`)).text(), 'visit 2');
console.log('ci example: 2 visits counted through web → counter');
