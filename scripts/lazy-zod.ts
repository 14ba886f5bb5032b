/**
 * What `zod` means to Borg's own modules in the Node build (scripts/build-node.ts): the real zod,
 * except that a schema is built the first time it is used, not when its module loads.
 *
 * Every module of `@borg/protocol` builds its schemas at import, and a client command imports them
 * all (the typed client is made from the whole route table) to use one or two. Here `z.object(…)`,
 * `z.string().min(1)` and the like return a stand-in that records how to build the schema; the
 * first read of anything else (`safeParse`, `shape`, `_zod`, `instanceof`…) builds it, with the
 * schemas it was made of, and from then on the stand-in forwards everything to it. A stand-in is
 * never equal (`===`) to the schema it builds, and zod's own functions that key maps by schema
 * (`z.toJSONSchema` from another module, as the mothership's OpenAPI document uses it) fail on
 * one. So a process that serves the API builds its schemas at once, as plain zod does: bin/borg.js
 * sets `Symbol.for('borg.eager-schemas')` on globalThis before `borg mothership` and `borg up`
 * load anything, and stand-ins are made only where it is not set.
 */
import { z as real } from 'zod';

export * from 'zod';

type AnyFunction = (...args: unknown[]) => unknown;

/** Methods that only derive a new schema from this one: calling them on a stand-in builds nothing. */
const DERIVING = new Set([
  'optional',
  'nullable',
  'nullish',
  'default',
  'prefault',
  'catch',
  'array',
  'or',
  'and',
  'describe',
  'meta',
  'refine',
  'superRefine',
  'check',
  'transform',
  'pipe',
  'brand',
  'readonly',
  'min',
  'max',
  'length',
  'nonempty',
  'int',
  'positive',
  'nonnegative',
  'negative',
  'nonpositive',
  'gt',
  'gte',
  'lt',
  'lte',
  'multipleOf',
  'finite',
  'safe',
  'regex',
  'startsWith',
  'endsWith',
  'includes',
  'trim',
  'toLowerCase',
  'toUpperCase',
  'lowercase',
  'uppercase',
  'normalize',
  'overwrite',
  'extend',
  'safeExtend',
  'merge',
  'pick',
  'omit',
  'partial',
  'required',
  'strict',
  'strip',
  'passthrough',
  'catchall',
  'exclude',
  'extract',
]);

/** The namespace's members that are not schema factories: used as they are. */
const NOT_FACTORIES = new Set([
  'NEVER',
  'core',
  'util',
  'locales',
  'config',
  'registry',
  'globalRegistry',
  'toJSONSchema',
  'fromJSONSchema',
  'prettifyError',
  'treeifyError',
  'flattenError',
  'formatError',
  'parse',
  'safeParse',
  'parseAsync',
  'safeParseAsync',
  'encode',
  'decode',
  'safeEncode',
  'safeDecode',
  'encodeAsync',
  'decodeAsync',
  'safeEncodeAsync',
  'safeDecodeAsync',
  'setErrorMap',
  'getErrorMap',
  'regexes',
  'clone',
]);

const BUILD = Symbol('lazy-zod build');
const EAGER = Symbol.for('borg.eager-schemas');

/** The schema behind a stand-in (built now if need be), or the value itself. */
function built(value: unknown): unknown {
  const build = (value as { [BUILD]?: () => unknown } | null | undefined)?.[BUILD];
  return typeof build === 'function' ? build() : value;
}

/** Arguments with their stand-ins built: as they are, in arrays, and as the values of a shape. */
function builtArgs(args: unknown[]): unknown[] {
  return args.map((arg) => {
    if (Array.isArray(arg)) return arg.map(built);
    if (arg !== null && typeof arg === 'object' && !(BUILD in arg)) {
      const proto = Object.getPrototypeOf(arg) as unknown;
      if (proto === Object.prototype || proto === null) {
        return Object.fromEntries(Object.entries(arg).map(([key, value]) => [key, built(value)]));
      }
    }
    return built(arg);
  });
}

/** How an object schema's shape is known before it is built: from its factory's or `extend`'s argument. */
const OBJECT_FACTORIES = new Set(['object', 'strictObject', 'looseObject']);

function shapeArg(arg: unknown): Record<string, unknown> | undefined {
  if (arg === null || typeof arg !== 'object' || BUILD in arg) return undefined;
  const proto = Object.getPrototypeOf(arg) as unknown;
  return proto === Object.prototype || proto === null ? (arg as Record<string, unknown>) : undefined;
}

/** A stand-in's state, the target of its proxy: how to build the schema, then the schema. */
interface Pending {
  make: (() => object) | undefined;
  schema: object | undefined;
  /** What `.shape` answers before the schema is built (its members may be stand-ins). */
  shape: Record<string, unknown> | undefined;
}

function schemaOf(pending: Pending): object {
  if (pending.schema === undefined) {
    pending.schema = pending.make!();
    // The arguments it was built from are garbage now.
    pending.make = undefined;
    pending.shape = undefined;
  }
  return pending.schema;
}

/** One handler for every stand-in: a stand-in costs its proxy and its state, not a set of closures. */
const HANDLER: ProxyHandler<Pending> = {
  get(pending, key) {
    if (key === BUILD) return () => schemaOf(pending);
    if (pending.schema === undefined) {
      if (key === 'shape' && pending.shape) return pending.shape;
      if (typeof key === 'string' && DERIVING.has(key)) {
        const base = pending.shape;
        return (...args: unknown[]) => {
          const extension = key === 'extend' || key === 'safeExtend' ? shapeArg(args[0]) : undefined;
          return standIn(
            () =>
              ((schemaOf(pending) as Record<string, AnyFunction>)[key] as AnyFunction)(...builtArgs(args)) as object,
            base && extension ? Object.freeze({ ...base, ...extension }) : undefined,
          );
        };
      }
    }
    return Reflect.get(schemaOf(pending), key);
  },
  has: (pending, key) => key === BUILD || Reflect.has(schemaOf(pending), key),
  set: (pending, key, value) => Reflect.set(schemaOf(pending), key, value),
  getPrototypeOf: (pending) => Reflect.getPrototypeOf(schemaOf(pending)),
  ownKeys: (pending) => Reflect.ownKeys(schemaOf(pending)),
  getOwnPropertyDescriptor(pending, key) {
    const descriptor = Reflect.getOwnPropertyDescriptor(schemaOf(pending), key);
    // A proxy may not report a non-configurable property its target lacks.
    return descriptor && { ...descriptor, configurable: true };
  },
  defineProperty: (pending, key, descriptor) => Reflect.defineProperty(schemaOf(pending), key, descriptor),
  deleteProperty: (pending, key) => Reflect.deleteProperty(schemaOf(pending), key),
};

/** A schema to be built by `make`; `shape`, when known, is what `.shape` answers until then. */
function standIn(make: () => object, shape?: Record<string, unknown>): object {
  const pending: Pending = { make, schema: undefined, shape };
  return new Proxy(pending, HANDLER);
}

/** A namespace whose schema factories return stand-ins (`z`, `z.coerce`, `z.iso`). */
function lazyNamespace(namespace: Record<string, unknown>): Record<string, unknown> {
  const cache = new Map<string, unknown>();
  return new Proxy(namespace, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof key !== 'string') return value;
      if (cache.has(key)) return cache.get(key);
      let result = value;
      if (key === 'coerce' || key === 'iso') {
        result = lazyNamespace(value as Record<string, unknown>);
      } else if (typeof value === 'function' && /^[a-z]/.test(key)) {
        const fn = value as AnyFunction;
        result = NOT_FACTORIES.has(key)
          ? (...args: unknown[]) => fn.apply(target, builtArgs(args))
          : (...args: unknown[]) => {
              if ((globalThis as Record<symbol, unknown>)[EAGER]) return fn.apply(target, args);
              const shape = OBJECT_FACTORIES.has(key) ? shapeArg(args[0]) : undefined;
              return standIn(() => fn.apply(target, builtArgs(args)) as object, shape && Object.freeze({ ...shape }));
            };
      }
      cache.set(key, result);
      return result;
    },
  });
}

export const z = lazyNamespace(real as unknown as Record<string, unknown>) as unknown as typeof real;
