// Input generators of the config fuzzer (scripts/fuzz-config.mjs): mutations of the bundled
// examples and generated hostile YAML. Every generator takes a seeded random source, so an input
// is reproducible from the run's seed and its number.
import { isScalar, parseDocument, stringify, visit } from 'yaml';

/** mulberry32: a small seeded PRNG, enough to spread inputs (not for secrets). */
export function createRandom(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const random = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)],
    /** A size skewed to small values: mostly up to `small`, sometimes up to `large`. */
    size: (small, large) => (next() < 0.9 ? random.int(0, small) : random.int(small, large)),
  };
  return random;
}

// ---------------------------------------------------------------------------------------------
// Hostile values, as raw YAML text usable where a flow value may stand (one line).

const UNICODE = ['é', 'ß', '日本', '😀', '\u202e', '\u200d', '\u0301', '\ufeff', '\u2028', 'ﬁ', '𝔘', '\u00a0', 'İ', 'ǅ'];

function hostileString(random) {
  switch (random.int(0, 11)) {
    case 0:
      return 'x'.repeat(random.size(100, 200_000));
    case 1:
      return Array.from({ length: random.int(1, 20) }, () => random.pick(UNICODE)).join('');
    case 2:
      return random.pick(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__', 'valueOf']);
    case 3:
      return random.pick([
        '{{ports.http}}', '{{nodes.a.ports.http}}', '{{name}}', '{{replica}}', '{{', '}}', '{{{{x}}}}', '{{nodes..ports.}}', '{{ports.}}', `{{${'a'.repeat(1000)}}}`,
        // Every '.ports.' is a place a backtracking split of nodes.<node>.ports.<port> would try.
        `{{nodes.a${'.ports.a'.repeat(random.size(1000, 30_000))}!}}`, `{{ports.${'a.'.repeat(random.size(1000, 100_000))}}}`,
      ]);
    case 4:
      return random.pick(['1000h', '597h', '596h', '2147483647ms', '2147483648ms', '-1s', '1e3ms', '.5s', 'NaNms', 'Infinitys', '0', '0ms', '99999999999999999999h', '1.5', '5d']);
    case 5:
      return random.pick(['5GiB', '4GiB', '4.0000001GiB', '0B', '1e3KiB', '-1KiB', '1KB', '99999999999GiB', '0.1B', 'unlimited']);
    case 6:
      return random.pick(['^(a+)+$', '(a)\\1', '(?=x)', '(?<=x)y', '(?<n>x)\\k<n>', '[', '(', 'a{1000}{1000}', '(?i)ok', '\\p{Greek}', 'a{1001}', '((a{100}){100}){100}', '.*'.repeat(500), '\\', '(?P<x>', 'a**', '\\u0041']);
    case 7:
      return random.pick(['SIGTERM', 'TERM', 'SIGKILL', 'SIGFOO', 'sigint', '9', 'SIG', '']);
    case 8:
      return random.pick(['/dev/zero', '/dev/urandom', '/dev/null', '/proc/self/environ', '/proc/self/mem', '/etc', '/nonexistent/x.env', '', '.', '..', '\u0000']);
    case 9:
      return random.pick(['http://127.0.0.1:{{ports.http}}/', 'ftp://x', 'http://', 'http://[::1', `http://${'a'.repeat(300)}.x/`, 'javascript:alert(1)', 'http://u:p@h/']);
    case 10:
      return String.fromCharCode(...Array.from({ length: random.int(1, 40) }, () => random.int(1, 0xffff))).replace(/[\ud800-\udfff]/g, '?');
    default:
      return random.pick(['', ' ', 'null', '~', 'true', 'no', 'yes', 'on', '0x10', '0o17', '0123', '1_000', '.inf', '-.inf', '.nan', '1e400']);
  }
}

function hostileNumber(random) {
  return random.pick([
    '0', '-0', '1', '-1', '1.5', '0.1', '1e400', '-1e400', '.inf', '-.inf', '.nan', '2147483647', '2147483648', '4294967296', '4294967297',
    '9007199254740991', '9007199254740993', '18446744073709551616', '0x7fffffffffffffffffff', '0o777', '1e-400', '65535', '65536', '1000', '1001',
    '10000001', `${'9'.repeat(400)}`,
  ]);
}

/** Values one hostileValue may nest, in all: keeps a generated input small enough to make quickly. */
const VALUE_BUDGET = 5000;

/** A raw one-line YAML value of any kind, often hostile. */
export function hostileValue(random, depth = 0, budget = { left: VALUE_BUDGET }) {
  budget.left -= 1;
  switch (random.int(0, depth > 2 || budget.left <= 0 ? 6 : 10)) {
    case 0:
    case 1:
      // Long strings at the top only: a list of them would be large without being more hostile.
      return JSON.stringify(depth === 0 ? hostileString(random) : hostileString(random).slice(0, 1000));
    case 2:
      return hostileNumber(random);
    case 3:
      return random.pick(['true', 'false', 'null', '~', '', 'True', 'NULL', 'yes', 'No']);
    case 4:
      return random.pick([
        '!!js/function "function () { return 1 }"', '!!js/regexp /x/', '!!binary aGVsbG8=', '!!set { a, b }', '!!omap [ a: 1 ]', '!!timestamp 2001-12-14',
        '!foo bar', '!<tag:example.com,2000:x> 1', '!!float "abc"', '!!int "x"', '!!str 0123', '!!map {}', '!!seq []', '!!null ""', '!!bool maybe', '!e!x 1',
      ]);
    case 5:
      return random.pick(['*undefined', '&a [*a]', '&b { x: *b }', '&c 1', '*c', '<<', '"\\0"', '"\\uD800"', '"\\x00\\x01"', "'", '"', '[', '{', ']', '}', '|', '>', '#', '%', '@x', '`x`', '? x', '- x']);
    case 6:
      return JSON.stringify(random.pick(UNICODE).repeat(random.int(1, 100)));
    case 7:
      return `[${Array.from({ length: random.size(4, 2000) }, () => hostileValue(random, depth + 1, budget)).join(', ')}]`;
    case 8:
      return `{ ${Array.from({ length: random.size(4, 500) }, (_, i) => `${random.chance(0.2) ? JSON.stringify(hostileString(random)) : `k${i}`}: ${hostileValue(random, depth + 1, budget)}`).join(', ')} }`;
    case 9:
      return `${'['.repeat(random.size(70, 5000))}1${random.chance(0.5) ? ']'.repeat(random.int(0, 5000)) : ''}`;
    default:
      return `${'{ a: '.repeat(random.size(70, 3000))}1${' }'.repeat(random.int(0, 3000))}`;
  }
}

// ---------------------------------------------------------------------------------------------
// A valid-looking config with every field, as data: the base of "wrong types everywhere".

const FIELD_PATHS = [
  ['name'], ['onNodeFailure'], ['telemetry', 'serviceName'], ['telemetry', 'resourceAttributes'], ['telemetry', 'prometheus', 'port'],
  ['command'], ['shell'], ['cwd'], ['env'], ['env_file'], ['ports'], ['replicas'], ['dependsOn'], ['ready'], ['ready', 'log', 'pattern'], ['ready', 'timeout'],
  ['ready', 'interval'], ['ready', 'initialDelay'], ['liveness'], ['liveness', 'tcp', 'port'], ['liveness', 'failureThreshold'], ['restart'], ['restart', 'policy'],
  ['restart', 'backoff', 'initial'], ['restart', 'backoff', 'max'], ['restart', 'backoff', 'multiplier'], ['restart', 'backoff', 'jitter'], ['restart', 'maxRestarts'],
  ['restart', 'window'], ['restart', 'successExitCodes'], ['restart', 'stableAfter'], ['stop', 'signal'], ['stop', 'timeout'], ['output', 'maxLines'], ['output', 'maxBytes'],
  ['pty'], ['limits', 'nofile'], ['limits', 'as'], ['telemetry', 'redact'], ['telemetry', 'recordArgs'],
];

function fullNode(i, names) {
  return {
    command: ['node', `n${i}.mjs`, '--port', '{{ports.http}}'],
    cwd: '.',
    env: { PORT: '{{ports.http}}', ZIP: 123, FLAG: true },
    ports: ['http', 'admin'],
    replicas: 1,
    dependsOn: i > 0 ? { [names[i - 1]]: 'ready' } : {},
    ready: { all: [{ log: { pattern: '^listening' } }, { http: { url: 'http://127.0.0.1:{{ports.http}}/health', body: '"ok"', status: 200 } }], timeout: '10s', interval: '50ms' },
    liveness: { tcp: { port: '{{ports.admin}}' }, interval: '10s', failureThreshold: 3 },
    restart: { policy: 'on-failure', backoff: { initial: '100ms', max: '5s', multiplier: 2, jitter: 0.2 }, maxRestarts: 5, window: '60s', successExitCodes: [0], stableAfter: '30s' },
    stop: { signal: 'SIGTERM', timeout: '5s' },
    output: { maxLines: 1000, maxBytes: '1MiB' },
    pty: false,
    limits: { nofile: 1024, as: '4GiB', core: { soft: 0, hard: 'unlimited' } },
    telemetry: { logs: false, recordArgs: true, redact: ['--key=\\S+'] },
  };
}

function fullConfig(random) {
  const count = random.int(1, 4);
  const names = Array.from({ length: count }, (_, i) => `n${i}`);
  return {
    name: 'fuzz',
    onNodeFailure: 'continue',
    telemetry: { serviceName: 'fuzz', resourceAttributes: { team: 'x', n: 1 }, prometheus: { port: 9464 } },
    nodes: Object.fromEntries(names.map((name, i) => [name, fullNode(i, names)])),
  };
}

const WRONG_TYPES = [
  () => 42, () => -1, () => 1.5, () => true, () => null, () => 'x', () => '', () => [], () => [1, 'a', null], () => ({}), () => ({ a: 1 }), () => [[[]]],
];

function setPath(target, path, value) {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key];
  }
  node[path.at(-1)] = value;
}

/** A marker replaced by raw YAML after stringifying (so tags, aliases and bad syntax can be placed). */
const MARK = 'FUZZ_RAW_VALUE_';

function injectRaw(text, raws) {
  return text.replace(new RegExp(`["']?${MARK}(\\d+)["']?`, 'g'), (_, index) => raws[Number(index)] ?? '');
}

function wrongTypes(random) {
  const config = fullConfig(random);
  const raws = [];
  const nodes = Object.keys(config.nodes);
  for (let n = random.int(1, 8); n > 0; n -= 1) {
    const path = random.pick(FIELD_PATHS);
    const where = ['name', 'onNodeFailure', 'telemetry'].includes(path[0]) ? path : ['nodes', random.pick(nodes), ...path];
    if (random.chance(0.5)) {
      setPath(config, where, random.pick(WRONG_TYPES)());
    } else {
      raws.push(hostileValue(random));
      setPath(config, where, `${MARK}${raws.length - 1}`);
    }
  }
  const text = random.chance(0.2) ? JSON.stringify(config, null, random.chance(0.5) ? 2 : 0) : stringify(config, { lineWidth: 0 });
  return injectRaw(text, raws);
}

// ---------------------------------------------------------------------------------------------
// Whole-document generators.

function aliasBomb(random) {
  const width = random.int(2, 12);
  const levels = random.int(3, 12);
  const top = levels - 1;
  if (random.chance(0.3)) {
    // Merge-key bomb: each level merges the previous one several times through a list.
    return [
      'name: merge',
      'm0: &m0 { a: 1, b: 2, c: 3 }',
      ...Array.from({ length: top }, (_, i) => `m${i + 1}: &m${i + 1} { <<: [${Array(width).fill(`*m${i}`).join(', ')}], k${i}: 1 }`),
      `nodes: { a: { command: [x], env: *m${top} } }`,
    ].join('\n');
  }
  const lines = ['name: bomb', `l0: &l0 [${Array(width).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels; i += 1) lines.push(`l${i}: &l${i} [${Array(width).fill(`*l${i - 1}`).join(', ')}]`);
  // The bomb where a value is read (a command, an env value), or only defined beside the nodes.
  lines.push(random.chance(0.5) ? `nodes: { a: { command: *l${top}, env: { A: *l${top} } } }` : 'nodes: { a: { command: [x] } }');
  return lines.join('\n');
}

function deepNesting(random) {
  const depth = random.size(80, 20_000);
  switch (random.int(0, 4)) {
    case 0:
      return `name: deep\nnodes: ${'['.repeat(depth)}${']'.repeat(random.chance(0.5) ? depth : 0)}`;
    case 1:
      return `name: deep\nnodes:\n${Array.from({ length: Math.min(depth, 3000) }, (_, i) => `${'  '.repeat(i + 1)}k${i}:`).join('\n')} 1`;
    case 2:
      return `name: deep\nnodes:\n${Array.from({ length: Math.min(depth, 3000) }, (_, i) => `${' '.repeat(i * 2 + 2)}- `).join('\n')}x`;
    case 3: {
      let ready = '{ log: { pattern: x } }';
      for (let i = 0; i < Math.min(depth, 2000); i += 1) ready = `{ ${random.pick(['all', 'any'])}: [${ready}] }`;
      return `name: deep\nnodes:\n  a:\n    command: [x]\n    ready: ${ready}\n`;
    }
    default: {
      let ready = '{ log: { pattern: x } }';
      for (let i = 0; i < random.int(55, 70); i += 1) ready = `{ all: [${ready}] }`;
      return `name: deep\nnodes:\n  a:\n    command: [x]\n    ready: ${ready}\n`;
    }
  }
}

function manyNodes(random) {
  const count = random.pick([100, 1000, 5000, 10_000, 15_000, 30_000]);
  const shape = random.int(0, 3);
  const lines = ['name: many', 'nodes:'];
  for (let k = 0; k < count; k += 1) {
    const i = count - 1 - k;
    const deps = shape === 0 ? (i > 0 ? [`n${i - 1}`] : []) : shape === 1 ? [`n${(i + count - 1) % count}`] : shape === 2 ? [`n${random.int(0, count - 1)}`] : [];
    lines.push(`  n${i}: { command: [sleep, "1"], dependsOn: [${deps.join(', ')}]${random.chance(0.01) ? `, ports: [${Array.from({ length: 50 }, (_, p) => `p${p}`).join(', ')}]` : ''} }`);
  }
  return lines.join('\n');
}

function binary(random) {
  const bytes = Buffer.alloc(random.size(200, 100_000));
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = random.chance(0.7) ? random.int(0x20, 0x7e) : random.int(0, 255);
  // Raw bytes (invalid UTF-8 included), or bytes inside a value.
  return random.chance(0.5) ? Buffer.concat([Buffer.from('name: bin\nnodes: { a: { command: [x], env: { B: "'), bytes.filter((b) => b !== 0x22 && b !== 0x5c), Buffer.from('" } } }\n')]) : bytes;
}

function bigDocument(random) {
  const target = random.pick([256 * 1024, 1024 * 1024 - 4096, 1024 * 1024 + 10]);
  switch (random.int(0, 3)) {
    case 0:
      return `name: big\nnodes: { a: { command: [x] } }\n#${'x'.repeat(target)}\n`;
    case 1:
      return `name: big\nnodes: { a: { command: [x], env: { A: "${'y'.repeat(target)}" } } }\n`;
    case 2:
      return `name: big\nnodes: { a: { command: [x], ports: [${Array.from({ length: target / 8 }, (_, i) => `p${i}`).join(', ')}] } }\n`;
    default:
      return `name: big\nnodes: { a: { command: [${Array(Math.floor(target / 3)).fill('1').join(', ')}] } }\n`;
  }
}

function odd(random) {
  return random.pick([
    '', '---', '...', '--- |\n  x', '# only a comment', '%YAML 1.1\n---\nname: y\nnodes: { y: { command: [x] } }', '%YAML 1.3\n---\nname: x', '%FOO bar\n---\nx: 1',
    'name: a\n---\nname: b', '[]', '42', '"str"', 'null', '~', '{}', '{ name: x, nodes: {} }', '{ name: x, nodes: [] }', 'name: x\nnodes: null',
    '\ufeffname: bom\nnodes: { a: { command: [x] } }', 'name: crlf\r\nnodes:\r\n  a: { command: [x] }\r\n', 'name: tab\nnodes:\n\ta: { command: [x] }',
    '? [a, b]\n: 1', '? { a: 1 }\n: 2', 'name: x\nnodes:\n  ? [a]\n  : { command: [x] }', '*a', '&a x', 'name: &n x\nnodes: { *n : { command: [x] } }',
    'name: x\nnodes: { a: { command: [x] }, a: { command: [y] } }', 'name: x\nnodes: { a: { <<: 1, command: [x] } }', 'name: x\nnodes: { a: { <<: [1, 2], command: [x] } }',
    'name: x\nnodes: { a: { <<: *nope, command: [x] } }', 'name: x\nnodes: { a: &a { command: [x], env: { S: *a } } }',
    'name: x\nnodes: { a: { command: [x], env_file: [/dev/zero] } }', '"\\uD800": 1', `${'a: 1\n'.repeat(10)}`, '!!binary aGVsbG8=',
    'name: x\nnodes: { __proto__: { command: [x] } }', '__proto__: { name: x }', 'name: x\nnodes: { a: { command: [x], env: { __proto__: { polluted: 1 } } } }',
  ]);
}

function specialFiles(random, fixtures) {
  const file = random.pick([...fixtures.envFiles, '/dev/zero', '/dev/urandom', '/dev/null', '/proc/self/environ', '/proc/self/mem', '/proc/self/fd/0', '/nonexistent', '/']);
  const envFile = random.chance(0.3) ? `[${JSON.stringify(file)}, ${JSON.stringify(random.pick(fixtures.envFiles))}]` : JSON.stringify(file);
  return `name: files\nnodes:\n  a:\n    command: [x]\n    env_file: ${envFile}\n`;
}

// ---------------------------------------------------------------------------------------------
// Mutations of a seed document.

function mutateText(random, text) {
  const lines = text.split('\n');
  switch (random.int(0, 8)) {
    case 0: {
      const chars = [...text];
      const at = random.int(0, Math.max(0, chars.length - 1));
      chars[at] = random.chance(0.5) ? String.fromCharCode(random.int(0, 127)) : random.pick(UNICODE);
      return chars.join('');
    }
    case 1:
      lines.splice(random.int(0, lines.length - 1), 1);
      return lines.join('\n');
    case 2: {
      const at = random.int(0, lines.length - 1);
      lines.splice(at, 0, ...Array(random.int(1, 5)).fill(lines[at]));
      return lines.join('\n');
    }
    case 3: {
      const [a, b] = [random.int(0, lines.length - 1), random.int(0, lines.length - 1)];
      [lines[a], lines[b]] = [lines[b], lines[a]];
      return lines.join('\n');
    }
    case 4:
      return text.slice(0, random.int(0, text.length));
    case 5: {
      const at = random.int(0, lines.length - 1);
      const indent = /^\s*/.exec(lines[at])[0];
      lines.splice(at, 0, `${indent}${random.chance(0.5) ? random.pick(['__proto__', '<<', 'k', 'command', 'env', 'ready', 'dependsOn']) : JSON.stringify(hostileString(random))}: ${hostileValue(random)}`);
      return lines.join('\n');
    }
    case 6: {
      // Replace a word with a hostile value.
      const words = [...text.matchAll(/[A-Za-z0-9_.{}-]+/g)];
      if (words.length === 0) return text;
      const word = random.pick(words);
      return text.slice(0, word.index) + hostileValue(random) + text.slice(word.index + word[0].length);
    }
    case 7:
      return text.replace(/\n/g, random.pick(['\r\n', '\n\n', '\n\t', '\r']));
    default: {
      const at = random.int(0, text.length);
      return text.slice(0, at) + random.pick(['\t', '\0', '\\', '"', "'", '#', '&', '*', '!', '|', '>', '%', '@', '`', ': ', '- ', '? ', '{', '[', '}', ']', ',']) + text.slice(at);
    }
  }
}

/** Replaces a random scalar or collection of the parsed seed by a hostile raw value. */
function mutateTree(random, text) {
  // prettyErrors (the default) renders context for each error: slow on documents with thousands.
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: false });
  if (document.errors.length > 0) return mutateText(random, text);
  const targets = [];
  visit(document, {
    Scalar: (_key, node) => void targets.push(node),
    Map: (_key, node) => void targets.push(node),
    Seq: (_key, node) => void targets.push(node),
  });
  if (targets.length === 0) return mutateText(random, text);
  const raws = [];
  for (let n = random.int(1, 4); n > 0; n -= 1) {
    const target = random.pick(targets);
    raws.push(hostileValue(random));
    const marker = `${MARK}${raws.length - 1}`;
    if (isScalar(target)) {
      target.value = marker;
      target.type = 'PLAIN';
    } else {
      target.items = [document.createPair(marker, 1)];
      if ('flow' in target) target.flow = true;
    }
  }
  try {
    return injectRaw(document.toString({ lineWidth: 0, verifyAliasOrder: false }), raws);
  } catch {
    // A document yaml cannot write back (an odd alias, a tag it cannot render): mutate its text.
    return mutateText(random, text);
  }
}

/** Hostile values placed in a seed's typed positions by path (durations, sizes, patterns …). */
function mutateSeed(random, seed) {
  let text = seed;
  for (let n = random.int(1, 4); n > 0; n -= 1) {
    // Parsing for a tree mutation costs time; past 64 KiB the text is mutated as text.
    text = random.chance(0.5) && text.length < 65_536 ? mutateTree(random, text) : mutateText(random, text);
  }
  return text;
}

/** The generators and their weights; most inputs are cheap, a few are large. */
export function createGenerators(seeds, fixtures) {
  return [
    { name: 'mutated-example', weight: 40, make: (random) => mutateSeed(random, random.pick(seeds)) },
    { name: 'wrong-types', weight: 25, make: wrongTypes },
    { name: 'odd-document', weight: 8, make: odd },
    { name: 'alias-bomb', weight: 5, make: aliasBomb },
    { name: 'deep-nesting', weight: 5, make: deepNesting },
    { name: 'special-files', weight: 5, make: (random) => specialFiles(random, fixtures) },
    { name: 'binary', weight: 5, make: binary },
    { name: 'many-nodes', weight: 1, make: manyNodes },
    { name: 'big-document', weight: 0.5, make: bigDocument },
  ];
}

export function pickGenerator(random, generators) {
  const total = generators.reduce((sum, g) => sum + g.weight, 0);
  let at = random.next() * total;
  for (const generator of generators) {
    at -= generator.weight;
    if (at < 0) return generator;
  }
  return generators.at(-1);
}
