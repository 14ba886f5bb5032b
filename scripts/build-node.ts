/**
 * Compiles Borg's Node programs to JavaScript with esbuild (the dashboard is built by Vite):
 *
 * - `dist/node/cli/borg.js`: the `borg` command (mothership, solder and CLI), and `version.js`
 *   beside it, for `borg --version` alone. Borg's packages and
 *   the client's dependencies are bundled in, so a client command loads no file from node_modules;
 *   the server's dependencies stay in node_modules and load only when a server starts (code
 *   splitting keeps the mothership and the solder in chunks of their own).
 * - `dist/node/borg-solder.mjs`: the solder alone, every dependency inlined, to copy to a worker
 *   that has nothing but `node`; with its `.sha256` beside it, for the install script.
 *
 * Each build goes to `dist/node-<stamp>/` and `dist/node` is a symlink switched by one rename, so
 * a process started from an earlier build keeps loading its own chunks. A build whose sources
 * have not changed since the last one (same stamp) is skipped.
 *
 * Run: `npm run build` (everything) or `npx tsx scripts/build-node.ts`.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { isBuiltin } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const CURRENT = join(DIST, 'node');
const NODE_TARGET = 'node20.19';
const PACKAGES = ['protocol', 'mothership', 'solder', 'cli'];
/** Builds other than the current one are removed once this old: a process may still run from one. */
const KEEP_OLD_BUILDS_MS = 24 * 3600_000;

/**
 * Dependencies only the servers use: loaded from node_modules, never bundled into the CLI.
 * fastify-type-provider-zod is not among them: bundled, it uses the bundle's zod, where from
 * node_modules it loaded a second zod (82 files, every locale) into every mothership.
 */
const SERVER_ONLY = [
  '@aws-sdk/*',
  '@electric-sql/pglite',
  '@fastify/*',
  'fastify',
  'pg',
  'pg-native',
  'pino',
  'prom-client',
  'proper-lockfile',
  'tsx',
];

/**
 * zod's `z.locales` namespace has 60-odd translations of its error messages; Borg uses none (its
 * messages are English, zod's default, which zod loads itself), but `import { z } from 'zod'`
 * would bundle them all into every client command and the solder. Only `en` is kept.
 */
const zodEnglishOnly: esbuild.Plugin = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core)$/.test(args.resolveDir)
        ? { path: join(args.resolveDir, '../locales/index.js'), namespace: 'zod-locales' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: "export { default as en } from './en.js';",
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

/**
 * Node's own modules are taken with `process.getBuiltinModule` when first used, not by ES import at
 * start. An ES import of a builtin loads it, with everything it requires, and builds its namespace
 * by reading every export, and the getters among them load more (node:crypto's web crypto,
 * node:http's undici: ~10 and ~40 ms of a client command's start on Node 24). A client command
 * imports node:crypto, node:child_process, node:readline… for the few commands that use them, and
 * a server carries each one it loaded in memory. Each builtin becomes a CommonJS module of getters
 * (its export names as the building Node has them), so a named import is a property read at the
 * point of use, and the module loads at the first.
 */
const builtinsAsCommonJs: esbuild.Plugin = {
  name: 'builtins-as-commonjs',
  setup(build) {
    build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      if (!isBuiltin(args.path)) return undefined;
      // A module that is itself a function (node:events' EventEmitter, node:stream's Stream…) is
      // what its importers call or extend: it loads as it is.
      if (typeof process.getBuiltinModule(args.path) !== 'object') return { path: args.path, external: true };
      return { path: args.path, namespace: 'node-builtin' };
    });
    build.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => {
      const names = Object.keys(process.getBuiltinModule(args.path) as object);
      return {
        contents: [
          `let loaded; const load = () => (loaded ??= process.getBuiltinModule(${JSON.stringify(args.path)}));`,
          `for (const name of ${JSON.stringify(names)}) {`,
          '  Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });',
          '}',
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

/**
 * The protocol's and the CLI's `zod` is scripts/lazy-zod.ts: their schemas are built on first use,
 * not at import. A client command loads the whole route table and uses one or two of its
 * schemas; building them all took most of its start. Dependencies and the servers' own modules
 * keep the real zod.
 */
const LAZY_ZOD = join(ROOT, 'scripts/lazy-zod.ts');
const lazyZod: esbuild.Plugin = {
  name: 'lazy-zod',
  setup(build) {
    const lazyFor = new RegExp(`^${ROOT}packages/(protocol|cli)/src/`.replace(/[.]/g, '\\.'));
    build.onResolve({ filter: /^zod$/ }, (args) => (lazyFor.test(args.importer) ? { path: LAZY_ZOD } : undefined));
  },
};

/** ESM output that still meets a CommonJS `require` (bundled CommonJS packages call it). */
const REQUIRE_SHIM =
  "import { createRequire as __borgRequire } from 'node:module'; const require = __borgRequire(import.meta.url);";

/** Everything the output depends on: every source file and manifest, by path, size and time. */
function sourceStamp(): string {
  const hash = createHash('sha256');
  const files = [fileURLToPath(import.meta.url), LAZY_ZOD, join(ROOT, 'package-lock.json')];
  for (const name of PACKAGES) {
    const dir = join(ROOT, 'packages', name);
    files.push(join(dir, 'package.json'));
    for (const entry of readdirSync(join(dir, 'src'), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) files.push(join(entry.parentPath, entry.name));
    }
  }
  for (const file of files.sort()) {
    const { size, mtimeMs } = statSync(file);
    hash.update(`${relative(ROOT, file)}\0${size}\0${mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

export interface BuildResult {
  dir: string;
  built: boolean;
}

export async function buildNode(options: { log?: (line: string) => void } = {}): Promise<BuildResult> {
  const log = options.log ?? (() => undefined);
  const stamp = sourceStamp();
  const dir = join(DIST, `node-${stamp}`);
  if (existsSync(join(dir, 'complete')) && existsSync(CURRENT) && realpathSync(CURRENT) === dir) {
    return { dir, built: false };
  }
  const started = Date.now();
  rmSync(dir, { recursive: true, force: true });
  const common: esbuild.BuildOptions = {
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: NODE_TARGET,
    sourcemap: 'linked',
    // The maps give stack traces their .ts lines; the sources themselves are in the checkout.
    // With them, a server (which reads its maps) held every source file twice in memory.
    sourcesContent: false,
    logLevel: 'warning',
    banner: { js: REQUIRE_SHIM },
    plugins: [zodEnglishOnly, builtinsAsCommonJs, lazyZod],
  };
  await Promise.all([
    esbuild.build({
      ...common,
      // version.js answers `borg --version` without loading the rest (bin/borg.js).
      entryPoints: {
        borg: join(ROOT, 'packages/cli/src/main.ts'),
        version: join(ROOT, 'packages/cli/src/version-line.ts'),
      },
      outdir: join(dir, 'cli'),
      splitting: true,
      chunkNames: 'chunks/[name]-[hash]',
      external: SERVER_ONLY,
      // Without comments and whitespace the code is 40% shorter to read and compile at every
      // start, and all ASCII: one non-ASCII character in a comment made V8 keep a whole chunk's
      // text at two bytes a character (6 MB of an idle mothership's heap). Names are not
      // minified, so functions and classes keep theirs without keepNames' cost at start-up.
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: 'none',
    }),
    esbuild.build({
      ...common,
      entryPoints: [join(ROOT, 'packages/cli/src/solder-main.ts')],
      outfile: join(dir, 'borg-solder.mjs'),
      // An idle solder's memory is mostly its own source and code: without comments and
      // whitespace the source is shorter and all ASCII (a single non-ASCII character makes V8
      // keep the whole text at two bytes a character). Stack traces still name .ts lines through
      // the source map. Names are not minified: functions and classes keep theirs without
      // keepNames, whose renaming call gave each of the bundle's ~10,000 functions a property
      // store of its own (2.5 MB of an idle solder's heap).
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: 'none',
    }),
  ]);
  const bundle = readFileSync(join(dir, 'borg-solder.mjs'));
  const digest = createHash('sha256').update(bundle).digest('hex');
  writeFileSync(join(dir, 'borg-solder.mjs.sha256'), `${digest}  borg-solder.mjs\n`);
  writeFileSync(join(dir, 'complete'), `${new Date().toISOString()}\n`);
  switchCurrent(dir);
  removeOldBuilds(dir);
  log(`built ${relative(ROOT, dir)} in ${Date.now() - started} ms (solder bundle ${bundle.length} bytes)`);
  return { dir, built: true };
}

/** Points dist/node at the new build in one rename, so no reader ever finds it missing. */
function switchCurrent(dir: string): void {
  const link = `${CURRENT}.${process.pid}`;
  rmSync(link, { force: true });
  symlinkSync(basename(dir), link);
  renameSync(link, CURRENT);
}

function removeOldBuilds(current: string): void {
  for (const name of readdirSync(DIST)) {
    const path = join(DIST, name);
    if (!name.startsWith('node-') || path === current) continue;
    if (Date.now() - statSync(path).mtimeMs > KEEP_OLD_BUILDS_MS) rmSync(path, { recursive: true, force: true });
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { built, dir } = await buildNode({ log: (line) => console.log(line) });
  if (!built) console.log(`${relative(ROOT, dir)} is up to date`);
}
