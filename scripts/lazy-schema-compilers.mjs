// An esbuild plugin for the `cocokit` bundle (scripts/bundle-cli.mjs); src/cli/lazy-schema-compilers.test.ts
// bundles fastify with it and checks that route schemas still validate and serialize, and inject still works.
/**
 * fastify's schema controller requires both schema compilers (ajv and fast-json-stringify, with their
 * dependencies) when it loads and builds both as a server starts, yet they compile only route schemas, and the
 * KBS declares none. In the bundle each is a stand-in that loads the package from node_modules, beside
 * fastify's own copy, the first time a schema is compiled: half a megabyte of code `kbs serve` no longer
 * parses and runs before it listens. `inject` (light-my-request), which a server never calls, is loaded the
 * same way on its first call.
 */
const LAZY = [
  // A selector, called as the server is built, returns the compiler builder: defer the builder's first call.
  { pkg: '@fastify/ajv-compiler', importer: /[\\/]fastify[\\/]lib[\\/]schema-controller\.js$/, selector: true },
  { pkg: '@fastify/fast-json-stringify-compiler', importer: /[\\/]fastify[\\/]lib[\\/]schema-controller\.js$/, selector: true },
  { pkg: 'light-my-request', importer: /[\\/]fastify[\\/]fastify\.js$/, selector: false },
];

export const lazySchemaCompilers = {
  name: 'lazy-schema-compilers',
  setup(b) {
    const filter = new RegExp(`^(${LAZY.map((l) => l.pkg.replace(/[/.-]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) => (LAZY.some((l) => l.pkg === args.path && l.importer.test(args.importer)) ? { path: args.path, namespace: 'lazy-from-fastify' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy-from-fastify' }, (args) => {
      const { selector } = LAZY.find((l) => l.pkg === args.path);
      const head = [
        `// ${args.path}, loaded from node_modules on first use.`,
        "const { createRequire } = require('node:module');",
        'let real;',
        `const load = () => (real ??= createRequire(require.resolve('fastify'))(${JSON.stringify(args.path)}));`,
      ];
      const body = selector
        ? ['module.exports = function lazySelector(...selectorArgs) {', '  let build;', '  return function lazyBuild(...args) {', '    build ??= load()(...selectorArgs);', '    return build(...args);', '  };', '};']
        : ['module.exports = function lazy(...args) {', '  return load()(...args);', '};'];
      return { loader: 'js', contents: [...head, ...body].join('\n') };
    });
  },
};
