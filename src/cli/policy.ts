/**
 * `cocokit policy …`: the Rego engine from the command line.
 * - `policy eval [-d PATH]… [-i input.json] [--format …] [--fail|--fail-defined] [--explain[=mode]] QUERY`
 *   behaves as `opa eval` (policy-eval.ts); `print` output goes to stderr as `file:row: text`.
 * - `policy conformance DIR [--json]` runs an OPA YAML conformance suite directory (specs/rego.md §1).
 * - `policy agent -d agent-policy.rego [--requests policy.jsonl] [--request Endpoint=input.json …] [--json]`
 *   evaluates a sequence of Kata agent requests the way the agent does (specs/rego.md §3.4), the policy state
 *   (`data.pstate`) carried from one request to the next.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CocoError } from '../errors.js';
import { knownGap, runSuite } from '../rego/conformance.js';
import { AgentPolicy, type AgentDecision } from '../policy/agent.js';
import { BigNum, numText, parseJsonValue, toJs } from '../rego/index.js';
import { registerEval } from './policy-eval.js';
import type { CliIO } from './io.js';
import { loadSettings } from '../policy/genpolicy/settings.js';
import { generateForYaml, pauseImageRef } from '../policy/genpolicy/pod.js';
import { imageRefsOf, parseImageMap, resolveImages } from '../policy/genpolicy/image-source.js';
import { LayerCache } from '../policy/genpolicy/layers.js';
import { diffPolicyData } from '../policy/genpolicy/diff.js';
import { extractPolicyData } from '../policy/agent-rules.js';
import { INITDATA_ANNOTATION, decodeInitDataAnnotation, parseInitData } from '../measure/initdata.js';

/** policy_data from a policy text, an init-data TOML holding one, or the first annotated pod of a YAML. */
function policyDataOf(io: CliIO, file: string): Record<string, unknown> {
  const text = readText(io, file);
  if (/^\s*policy_data\s*:?=/m.test(text) && !/^\s*\[data\]/m.test(text)) return extractPolicyData(text);
  let initData: Uint8Array = new TextEncoder().encode(text);
  if (/\.ya?ml$/i.test(file)) {
    const m = new RegExp(`${INITDATA_ANNOTATION.replace(/\./g, '\\.')}["']?\\s*:\\s*["']?([A-Za-z0-9+/=]+)`).exec(text);
    if (!m) throw new CocoError('CLI_POLICY_DIFF', `${file} has no ${INITDATA_ANNOTATION} annotation`, { kind: 'input' });
    initData = decodeInitDataAnnotation(m[1]!);
  }
  const policy = parseInitData(initData).data['policy.rego'];
  if (typeof policy !== 'string') throw new CocoError('CLI_POLICY_DIFF', `${file}: the init-data has no policy.rego`, { kind: 'input' });
  return extractPolicyData(policy);
}

function readText(io: CliIO, file: string): string {
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (e) {
    throw new CocoError('CLI_FILE', `cannot read ${file}: ${(e as Error).message}`, { kind: 'usage', cause: e });
  }
}

function json(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `__big__${numText(x)}` : x instanceof BigNum ? `__big__${x.text}` : x), 2).replace(/"__big__(-?[0-9][0-9.eE+-]*)"/g, '$1');
}

export function register(program: Command, io: CliIO): void {
  const policy = program.command('policy').description('evaluate Rego policies and run the OPA conformance suite');

  registerEval(policy, io);

  policy
    .command('conformance')
    .description('run an OPA YAML conformance suite directory (<dir>/<category>/*.yaml, <dir>/v0/<category>/*.yaml)')
    .argument('<dir>', 'suite directory')
    .option('--json', 'print the summary as JSON (last line)', false)
    .option('--filter <text>', 'only cases whose note or category contains this text')
    .option('--write-exceptions <file>', 'write the pass count and every failing case with its reason to a JSON file')
    .action((dir: string, opts: { json: boolean; filter?: string; writeExceptions?: string }) => {
      const f = opts.filter;
      const report = runSuite(resolve(io.cwd, dir), f ? (note, cat) => note.includes(f) || cat.includes(f) : undefined);
      if (opts.writeExceptions) {
        const doc = {
          passed: report.passed,
          total: report.total,
          failures: report.failures.map((x) => ({ category: x.category, note: x.note, why: knownGap(x.category) ?? 'unexplained', reason: x.reason ?? '' })),
        };
        writeFileSync(resolve(io.cwd, opts.writeExceptions), JSON.stringify(doc, null, 1) + '\n');
      }
      if (!opts.json) {
        for (const fail of report.failures) io.stdout(`FAIL ${fail.category} | ${fail.note} | ${fail.reason ?? ''}\n`);
        for (const [cat, c] of Object.entries(report.categories)) if (c.passed < c.total) io.stdout(`${cat}: ${c.passed}/${c.total}\n`);
        io.stdout(`${report.passed}/${report.total} passed, ${report.failed} failed\n`);
      } else {
        io.stdout(JSON.stringify({ total: report.total, passed: report.passed, failed: report.failed, categories: report.categories }) + '\n');
      }
      if (report.failed > 0) io.exitCode = 1;
    });

  policy
    .command('generate')
    .description('Kata agent policy for the pods of a Kubernetes YAML: cocokit rules over policy_data from each pod spec, set as the init-data annotation')
    .requiredOption('-y, --yaml-file <file>', 'Kubernetes YAML (Pod, workloads, CronJob, List; several documents)')
    .requiredOption('-j, --json-settings-path <path>', 'genpolicy-settings.json, or a directory with it and genpolicy-settings.d/*.json drop-ins')
    .option('--config-file <file>', 'more YAML documents (ConfigMaps, Secrets) the pods refer to (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option(
      '--image-map <ref=source|file.json>',
      'use a local copy (oci:DIR[:NAME] or docker-archive:PATH[:NAME:TAG]) for an image the pod names, or a JSON file of {"REF": "SOURCE"} (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--no-verify-digest', 'accept a local copy whose digests differ from a digest-pinned reference')
    .option('--insecure-registry <host>', 'reach this registry (host[:port]) over plain http (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--offline', 'never reach a registry: every image needs a local copy', false)
    .option('--platform <os/arch[/variant]>', 'the platform to pick from multi-platform images', 'linux/amd64')
    .option('-u, --use-cached-files', 'use and update the layer cache (./layers-cache.json unless --layers-cache-file-path names another)', false)
    .option('--layers-cache-file-path [path]', 'the layer cache file (layers by diff_id with their dm-verity root hashes; default ./layers-cache.json)')
    .option('-r, --raw-out', 'print each generated policy instead of writing the YAML', false)
    .option('-b, --base64-out', 'print each annotation value instead of writing the YAML', false)
    .option('-o, --output <file>', 'write the annotated YAML here (default: back to --yaml-file)')
    .option('--max-annotation-bytes <n>', 'fail when a pod’s annotations would exceed this many bytes', (v: string) => Number(v), 256 * 1024)
    .option('-s, --silent-unsupported-fields', 'generate even when a pod uses fields the policy cannot describe (they are left out)', false)
    .option('--runtime-class-names <prefix...>', 'only pods whose runtimeClassName starts with one of these get a policy')
    .option('--initdata-path <file>', 'an init-data TOML whose version, algorithm and other data entries the generated init-data keeps')
    .option('-v, --verbose', 'report each pod’s policy and annotation sizes on stderr', false)
    .option('--policy-fragments', 'name the parts policy_data repeats once, as policy_fragment_N rules (smaller text; attestation policies reading the JSON after "policy_data :=", as Trustee\'s agent_policy_claims, then see no containers)', false)
    .action(
      async (opts: {
        yamlFile: string;
        jsonSettingsPath: string;
        configFile: string[];
        imageMap: string[];
        verifyDigest: boolean;
        insecureRegistry: string[];
        offline: boolean;
        platform: string;
        useCachedFiles: boolean;
        layersCacheFilePath?: string | true;
        rawOut: boolean;
        base64Out: boolean;
        output?: string;
        maxAnnotationBytes: number;
        silentUnsupportedFields: boolean;
        runtimeClassNames?: string[];
        initdataPath?: string;
        verbose: boolean;
        policyFragments: boolean;
      }) => {
        if (!Number.isSafeInteger(opts.maxAnnotationBytes) || opts.maxAnnotationBytes <= 0) {
          throw new CocoError('CLI_USAGE', '--max-annotation-bytes wants a positive integer', { kind: 'usage' });
        }
        const [os, architecture, variant, more] = opts.platform.split('/');
        if (!os || !architecture || more !== undefined) throw new CocoError('CLI_USAGE', `--platform wants os/arch[/variant], got ${JSON.stringify(opts.platform)}`, { kind: 'usage' });
        const map = parseImageMap(opts.imageMap, io.cwd);
        const extra = opts.configFile.map((f) => readText(io, f));
        const main = readText(io, opts.yamlFile);
        const settings = loadSettings(resolve(io.cwd, opts.jsonSettingsPath));
        // Layer root hashes are pinned only when the guest does not pull images itself.
        const withLayers = (settings as { cluster_config?: { guest_pull?: unknown } }).cluster_config?.guest_pull === false;
        const cachePath = typeof opts.layersCacheFilePath === 'string' ? opts.layersCacheFilePath : opts.layersCacheFilePath === true || opts.useCachedFiles ? 'layers-cache.json' : undefined;
        const cache = new LayerCache(cachePath === undefined ? undefined : resolve(io.cwd, cachePath));
        const pause = pauseImageRef(settings);
        const refs = imageRefsOf(main);
        if (pause !== undefined && !refs.includes(pause)) refs.push(pause);
        const resolved = await resolveImages(refs, {
          map,
          baseDir: io.cwd,
          verifyDigest: opts.verifyDigest,
          registry: opts.offline ? undefined : { insecureRegistries: opts.insecureRegistry, platform: { os, architecture, variant }, env: io.env, home: io.env.HOME },
          layers: withLayers ? { cache } : undefined,
        });
        cache.save();
        const { yaml, pods } = generateForYaml(main, {
          settings,
          configYaml: extra,
          images: (ref) => {
            const r = resolved.get(ref);
            if (!r) throw new CocoError('GENPOLICY_IMAGE', `no image config for ${ref}`, { kind: 'input' });
            return r.config;
          },
          maxAnnotationBytes: opts.maxAnnotationBytes,
          silentUnsupportedFields: opts.silentUnsupportedFields,
          runtimeClassNames: opts.runtimeClassNames,
          initData: opts.initdataPath === undefined ? undefined : readText(io, opts.initdataPath),
          policyFragments: opts.policyFragments,
        });
        if (opts.verbose && opts.runtimeClassNames && pods.length === 0) io.stderr(`no pod has a runtimeClassName starting with ${opts.runtimeClassNames.join(', ')}\n`);
        if (opts.verbose) for (const p of pods) io.stderr(`${p.kind} ${p.name}: policy ${p.sizes.policy} bytes, init-data ${p.sizes.initData} bytes, annotation ${p.sizes.annotation} bytes\n`);
        if (opts.rawOut) for (const p of pods) io.stdout(p.policy);
        if (opts.base64Out) for (const p of pods) io.stdout(`${p.annotation}\n`);
        if (!opts.rawOut && !opts.base64Out) {
          writeFileSync(resolve(io.cwd, opts.output ?? opts.yamlFile), yaml);
        }
      },
    );

  policy
    .command('diff')
    .description('what changed between two generated agent policies (containers, images, args, env, mounts)')
    .argument('<old>', 'a policy (.rego with policy_data), an init-data TOML, or an annotated pod YAML')
    .argument('<new>', 'the same for the re-generated policy')
    .action((oldFile: string, newFile: string) => {
      const lines = diffPolicyData(policyDataOf(io, oldFile), policyDataOf(io, newFile));
      io.stdout(lines.length === 0 ? 'no changes\n' : `${lines.join('\n')}\n`);
      if (lines.length > 0) io.exitCode = 1;
    });

  policy
    .command('agent')
    .description("evaluate Kata agent requests in order with the agent's policy semantics (state carried across requests)")
    .requiredOption('-d, --data <file>', 'the agent policy (.rego; package agent_policy)')
    .option('--request <endpoint=file>', 'a request: endpoint name and its JSON input file (repeatable, in order)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--requests <file>', "requests in the agent's policy.jsonl debug format, one {\"kind\", \"request\"} per line (evaluated before any --request)")
    .option('--v0', 'parse the policy as Rego v0', false)
    .option('--json', 'print {"allowFailures", "decisions", "state"} as JSON instead of one line per request', false)
    .action((opts: { data: string; request: string[]; requests?: string; v0: boolean; json: boolean }) => {
      const requests: Array<{ endpoint: string; run: (p: AgentPolicy) => AgentDecision }> = [];
      if (opts.requests) {
        readText(io, opts.requests)
          .split('\n')
          .forEach((line, i) => {
            if (line.trim() === '') return;
            const where = `${opts.requests}:${i + 1}`;
            let v: unknown;
            try {
              v = toJs(parseJsonValue(line));
            } catch (e) {
              throw new CocoError('CLI_AGENT_REQUESTS', `${where}: ${(e as Error).message}`, { kind: 'input', cause: e });
            }
            const rec = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
            const kind = rec.kind;
            const request = rec.request;
            if (typeof kind !== 'string' || request === undefined) {
              throw new CocoError('CLI_AGENT_REQUESTS', `${where}: expected {"kind": "<Endpoint>", "request": {…}}`, { kind: 'input' });
            }
            requests.push({ endpoint: kind, run: (p) => p.evaluate(kind, request) });
          });
      }
      for (const r of opts.request) {
        const eq = r.indexOf('=');
        if (eq <= 0) throw new CocoError('CLI_USAGE', `--request wants Endpoint=input.json, got ${JSON.stringify(r)}`, { kind: 'usage' });
        const endpoint = r.slice(0, eq);
        const text = readText(io, r.slice(eq + 1));
        requests.push({ endpoint, run: (p) => p.evaluateJson(endpoint, text) });
      }
      const agent = new AgentPolicy(readText(io, opts.data), { regoVersion: opts.v0 ? 'v0' : 'v1' });
      const decisions: Array<Partial<AgentDecision> & { endpoint: string; error?: { code: string; message: string } }> = [];
      let errorExit: number | undefined;
      let denied = false;
      requests.forEach(({ endpoint, run }, i) => {
        let line: string;
        try {
          const d = run(agent);
          decisions.push(d);
          if (!d.allowed) denied = true;
          const ops = d.ops.length > 0 ? ` (${d.ops.length} state op${d.ops.length === 1 ? '' : 's'})` : '';
          line = d.allowed ? `allowed${ops}${d.warning ? ` (warning: ${d.warning})` : ''}` : `denied: ${d.reason}`;
        } catch (e) {
          if (!(e instanceof CocoError)) throw e;
          decisions.push({ endpoint, allowed: false, error: { code: e.code, message: e.message } });
          errorExit ??= e.exitCode;
          line = `error: ${e.code}: ${e.message}`;
        }
        if (!opts.json) io.stdout(`${i + 1} ${endpoint}: ${line}\n`);
      });
      if (opts.json) io.stdout(json({ allowFailures: agent.allowFailures, decisions, state: agent.state() }).replace(/\n\s*/g, ' ') + '\n');
      // Exit status: the first error's, else the policy-denial status (6) if any request was denied, else 0.
      const exit = errorExit ?? (denied ? new CocoError('POLICY_AGENT_DENIED', 'denied', { kind: 'policy' }).exitCode : 0);
      if (exit !== 0) io.exitCode = exit;
    });
}
