// An esbuild plugin for the `cocokit` bundle (scripts/bundle-cli.mjs); src/cli/lazy-schema-compilers.test.ts
// bundles fastify with it and checks that route schemas still validate and serialize.
/**
 * fastify's schema controller requires both schema compilers (ajv and fast-json-stringify, with their
 * dependencies) when it loads and builds both as a server starts, yet they compile only route schemas, and the
 * KBS declares none. In the bundle each is a stand-in that loads the package from node_modules, beside
 * fastify's own copy, the first time a schema is compiled: half a megabyte of code `kbs serve` no longer
 * parses and runs before it listens.
 */
const LAZY_SCHEMA_COMPILERS = ['@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler'];
export const lazySchemaCompilers = {
  name: 'lazy-schema-compilers',
  setup(b) {
    const filter = new RegExp(`^(${LAZY_SCHEMA_COMPILERS.map((n) => n.replace(/[/.-]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) =>
      /[\\/]fastify[\\/]lib[\\/]schema-controller\.js$/.test(args.importer) ? { path: args.path, namespace: 'lazy-schema-compiler' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-schema-compiler' }, (args) => ({
      loader: 'js',
      contents: [
        `// ${args.path}, loaded when fastify first compiles a route schema.`,
        "const { createRequire } = require('node:module');",
        'let selector;',
        `const load = () => (selector ??= createRequire(require.resolve('fastify'))(${JSON.stringify(args.path)}));`,
        'module.exports = function lazySelector(...selectorArgs) {',
        '  let build;',
        '  return function lazyBuild(...args) {',
        '    build ??= load()(...selectorArgs);',
        '    return build(...args);',
        '  };',
        '};',
      ].join('\n'),
    }));
  },
};
