/**
 * `policy_data` for a pod (specs/rego.md §3.6): the OCI spec, storages and exec commands kata-agent will be
 * asked for, per container, derived from the pod spec, the generator settings (genpolicy-settings.json and
 * its drop-ins) and each image's config. The pause container comes first, then the init containers, then
 * the containers, as the runtime creates them.
 *
 * Placeholders the rules expand at request time: $(sandbox-name), $(sandbox-namespace), $(pod-ip),
 * $(host-ip), $(node-name), $(host-name), $(pod-uid), $(resource-field), $(todo-annotation), $(root_path),
 * $(sfprefix), $(bundle-id), $(sandbox-id), $(default_caps), $(privileged_caps).
 */
import { CocoError } from '../../errors.js';
import { layerStorages } from './layers.js';

type Json = Record<string, any>;

/** The part of an OCI image config (image-spec config.json `config`) the generator uses. */
export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  /** The image's layers (bottom first) with their dm-verity root hashes, when the guest does not pull images. */
  layers?: Array<{ diff_id: string; verity_hash: string }>;
}

/** One pod template found in a workload document: its metadata and spec, and where it sits in the document. */
export interface PodTemplate {
  kind: string;
  /** The pod's metadata (for a workload, the template's metadata, named after the workload when unnamed). */
  metadata: Json;
  spec: Json;
  /** The object whose `metadata.annotations` receives the init-data annotation. */
  annotate: Json;
  /** A pod created by a controller gets a generated name (the rules accept any sandbox name then). */
  generatedName: boolean;
}

const TEMPLATE_KINDS = new Set(['Deployment', 'ReplicaSet', 'ReplicationController', 'StatefulSet', 'DaemonSet', 'Job']);

/** The pod templates of a Kubernetes document (Pod, the workload kinds, CronJob, List). */
export function podTemplates(doc: unknown): PodTemplate[] {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return [];
  const d = doc as Json;
  const kind = d.kind;
  if (kind === 'List') return Array.isArray(d.items) ? d.items.flatMap((i: unknown) => podTemplates(i)) : [];
  if (kind === 'Pod') {
    requireObject(d.spec, 'Pod spec');
    d.metadata ??= {};
    return [{ kind, metadata: d.metadata, spec: d.spec, annotate: d, generatedName: false }];
  }
  let template: Json | undefined;
  if (TEMPLATE_KINDS.has(kind)) template = d.spec?.template;
  else if (kind === 'CronJob') template = d.spec?.jobTemplate?.spec?.template;
  else return [];
  requireObject(template?.spec, `${kind} pod template spec`);
  template!.metadata ??= {};
  const metadata = { ...template!.metadata, name: template!.metadata.name ?? d.metadata?.name, namespace: template!.metadata.namespace ?? d.metadata?.namespace };
  return [{ kind, metadata, spec: template!.spec, annotate: template!, generatedName: true }];
}

function requireObject(v: unknown, what: string): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new CocoError('GENPOLICY_INPUT', `${what} must be an object`, { kind: 'input' });
}

function regexEscape(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/** The value of an env variable as the policy states it (fieldRef values become placeholders). */
function envValue(e: Json, spec: Json): string | undefined {
  if (typeof e.value === 'string') return e.value;
  const vf = e.valueFrom;
  if (!vf) return '';
  const field = vf.fieldRef?.fieldPath;
  if (typeof field === 'string') {
    const known: Record<string, string> = {
      'metadata.name': '$(sandbox-name)',
      'metadata.namespace': '$(sandbox-namespace)',
      'metadata.uid': '$(pod-uid)',
      'status.podIP': '$(pod-ip)',
      'status.hostIP': '$(host-ip)',
      'spec.nodeName': '$(node-name)',
      'spec.serviceAccountName': typeof spec.serviceAccountName === 'string' ? spec.serviceAccountName : 'default',
    };
    return known[field] ?? '$(todo-annotation)';
  }
  if (vf.resourceFieldRef) return '$(resource-field)';
  return undefined; // configMapKeyRef / secretKeyRef: resolved by the caller from the documents
}

/** Kubernetes `$(VAR)` expansion in command and args (a "$$" escapes a literal "$(…)"). */
function expandRefs(arg: string, vars: Map<string, string>): string {
  return arg.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$$';
    const v = name === undefined ? undefined : vars.get(name);
    return v === undefined ? m : v;
  });
}

function parseUser(user: string | undefined): { uid: number; gid: number } {
  const [u, g] = (user ?? '').split(':');
  const uid = /^\d+$/.test(u ?? '') ? Number(u) : 0;
  const gid = /^\d+$/.test(g ?? '') ? Number(g) : uid;
  return { uid, gid };
}

export interface GenerateInput {
  template: PodTemplate;
  settings: Json;
  /** Image config by the image reference the pod names. */
  images: Map<string, ImageConfig>;
  /** ConfigMaps and Secrets of the same documents, by name, for env valueFrom / envFrom. */
  configMaps?: Map<string, Record<string, string>>;
}

const BASE_MOUNTS = (ro: boolean, privileged: boolean): Json[] => [
  { destination: '/proc', source: 'proc', type_: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev', source: 'tmpfs', type_: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', source: 'devpts', type_: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
  { destination: '/dev/mqueue', source: 'mqueue', type_: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', source: 'sysfs', type_: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged && !ro ? 'rw' : 'ro'] },
];

const CGROUP_MOUNT = (privileged: boolean): Json => ({ destination: '/sys/fs/cgroup', source: 'cgroup', type_: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] });

const NAMESPACES = [
  { Type: 'ipc', Path: '' },
  { Type: 'uts', Path: '' },
  { Type: 'mount', Path: '' },
];

/** A bind mount from the settings: its source defaults to the shared file named after the destination. */
function settingsMount(m: Json, rwDefault: 'rw' | 'ro'): Json {
  const base = m.destination.split('/').filter(Boolean).pop() ?? '';
  const options = [...(m.options ?? [])];
  if (!options.includes('ro') && !options.includes('rw') && m.source === undefined) options.push(rwDefault);
  return { destination: m.destination, source: m.source ?? `$(sfprefix)${base}$`, type_: m.type_, options };
}

function sandboxAnnotations(t: PodTemplate, settings: Json, base: Json): Json {
  const a = { ...base };
  const name = t.metadata.name;
  if (typeof name === 'string' && !t.generatedName) a['io.kubernetes.cri.sandbox-name'] = `^${regexEscape(name)}$`;
  else if (typeof name === 'string') a['io.kubernetes.cri.sandbox-name'] = `^${regexEscape(name)}-$(generated-name)`;
  a['io.kubernetes.cri.sandbox-namespace'] = typeof t.metadata.namespace === 'string' ? t.metadata.namespace : (base['io.kubernetes.cri.sandbox-namespace'] ?? 'default');
  void settings;
  return a;
}

function pauseContainer(t: PodTemplate, settings: Json): Json {
  const p = settings.pause_container;
  const annotations = sandboxAnnotations(t, settings, p.Annotations);
  annotations['nerdctl/network-namespace'] = '^/var/run/netns/cni-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
  const mounts = [...BASE_MOUNTS(true, false)];
  mounts.splice(3, 0, ...p.Mounts.filter((m: Json) => m.destination === '/dev/shm').map((m: Json) => settingsMount(m, 'rw')));
  mounts.push(...p.Mounts.filter((m: Json) => m.destination !== '/dev/shm').map((m: Json) => settingsMount(m, 'ro')));
  return {
    OCI: {
      Version: settings.kata_config.oci_version,
      Process: {
        Terminal: false,
        User: { UID: 65535, GID: 65535, AdditionalGids: [65535], Username: '' },
        Args: p.Process.Args,
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cwd: '/',
        Capabilities: caps(false),
        NoNewPrivileges: p.Process.NoNewPrivileges,
      },
      Root: p.Root,
      Mounts: mounts,
      Annotations: annotations,
      Linux: { Namespaces: NAMESPACES, MaskedPaths: p.Linux.MaskedPaths, ReadonlyPaths: p.Linux.ReadonlyPaths, Devices: [], Sysctl: p.Linux.Sysctl },
    },
    storages: [],
    devices: [],
    sandbox_pidns: false,
    exec_commands: [],
  };
}

function caps(privileged: boolean): Json {
  const set = [privileged ? '$(privileged_caps)' : '$(default_caps)'];
  return { Ambient: [], Bounding: set, Effective: set, Inheritable: [], Permitted: set };
}

function execCommands(c: Json): string[][] {
  const out: string[][] = [];
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe, c.lifecycle?.postStart, c.lifecycle?.preStop]) {
    const cmd = probe?.exec?.command;
    if (Array.isArray(cmd) && cmd.every((x) => typeof x === 'string')) out.push(cmd);
  }
  return out;
}

function appContainer(t: PodTemplate, c: Json, input: GenerateInput): Json {
  const { settings } = input;
  if (typeof c.name !== 'string' || typeof c.image !== 'string') throw new CocoError('GENPOLICY_INPUT', 'every container needs a name and an image', { kind: 'input' });
  const image = input.images.get(c.image);
  if (!image) throw new CocoError('GENPOLICY_IMAGE', `no image config for ${c.image}`, { kind: 'input' });
  const sc = { ...(t.spec.securityContext ?? {}), ...(c.securityContext ?? {}) };
  const privileged = sc.privileged === true;
  const ro = sc.readOnlyRootFilesystem === true;
  const user = parseUser(image.User);
  const uid = typeof sc.runAsUser === 'number' ? sc.runAsUser : user.uid;
  const gid = typeof sc.runAsGroup === 'number' ? sc.runAsGroup : user.gid;

  // Environment: the image's, then the runtime's HOSTNAME, then the pod spec's (envFrom before env).
  const env: string[] = [...(image.Env ?? []), 'HOSTNAME=$(host-name)'];
  const vars = new Map<string, string>();
  for (const src of Array.isArray(c.envFrom) ? c.envFrom : []) {
    const ref = src.configMapRef?.name ?? src.secretRef?.name;
    const data = typeof ref === 'string' ? input.configMaps?.get(ref) : undefined;
    if (!data) throw new CocoError('GENPOLICY_INPUT', `envFrom names ${JSON.stringify(ref)}, which is not among the documents`, { kind: 'input' });
    for (const [k, v] of Object.entries(data)) {
      env.push(`${src.prefix ?? ''}${k}=${v}`);
      vars.set(`${src.prefix ?? ''}${k}`, v);
    }
  }
  for (const e of Array.isArray(c.env) ? c.env : []) {
    let v = envValue(e, t.spec);
    if (v === undefined) {
      const ref = e.valueFrom?.configMapKeyRef ?? e.valueFrom?.secretKeyRef;
      v = input.configMaps?.get(ref?.name)?.[ref?.key];
      if (v === undefined) throw new CocoError('GENPOLICY_INPUT', `env ${e.name}: ${JSON.stringify(ref?.name)}/${JSON.stringify(ref?.key)} is not among the documents`, { kind: 'input' });
    }
    v = expandRefs(v, vars);
    env.push(`${e.name}=${v}`);
    vars.set(e.name, v);
  }

  // Command and args replace the image's entrypoint and cmd (a command alone drops the image's cmd).
  const command: string[] | undefined = Array.isArray(c.command) ? c.command : undefined;
  const args: string[] | undefined = Array.isArray(c.args) ? c.args : undefined;
  const argv = [...(command ?? image.Entrypoint ?? []), ...(args ?? (command ? [] : (image.Cmd ?? [])))].map((a) => expandRefs(a, vars));

  const annotations = sandboxAnnotations(t, settings, settings.other_container.Annotations);
  annotations['io.kubernetes.cri.container-name'] = c.name;
  annotations['io.kubernetes.cri.image-name'] = c.image;

  const mounts: Json[] = [...BASE_MOUNTS(ro, privileged), CGROUP_MOUNT(privileged)];
  const shm = settings.other_container.Mounts.filter((m: Json) => m.destination === '/dev/shm').map((m: Json) => settingsMount(m, 'rw'));
  mounts.splice(3, 0, ...shm);
  const automount = c.automountServiceAccountToken ?? t.spec.automountServiceAccountToken;
  for (const m of settings.other_container.Mounts as Json[]) {
    if (m.destination === '/dev/shm') continue;
    if (automount === false && m.destination === '/var/run/secrets/kubernetes.io/serviceaccount') continue;
    mounts.push(settingsMount(m, ro ? 'ro' : 'rw'));
  }
  const p = settings.pause_container.Linux;
  return {
    OCI: {
      Version: settings.kata_config.oci_version,
      Process: {
        Terminal: c.tty === true,
        User: { UID: uid, GID: gid, AdditionalGids: [gid], Username: '' },
        Args: argv,
        Env: env,
        Cwd: typeof c.workingDir === 'string' ? c.workingDir : image.WorkingDir || '/',
        Capabilities: caps(privileged),
        NoNewPrivileges: !privileged && sc.allowPrivilegeEscalation === false,
      },
      Root: { Path: settings.other_container.Root.Path, Readonly: ro },
      Mounts: mounts,
      Annotations: annotations,
      Linux: {
        Namespaces: NAMESPACES,
        MaskedPaths: privileged ? [] : p.MaskedPaths,
        ReadonlyPaths: privileged ? [] : p.ReadonlyPaths,
        Devices: [],
        Sysctl: settings.other_container.Linux.Sysctl,
      },
    },
    storages: image.layers ? layerStorages(image.layers, String(settings.other_container.Root.Path).replace('$(root_path)', settings.common.root_path)) : [],
    devices: [],
    sandbox_pidns: t.spec.shareProcessNamespace === true,
    exec_commands: execCommands(c),
  };
}

/** policy_data for one pod template. */
export function generatePolicyData(input: GenerateInput): Json {
  const { template: t, settings } = input;
  for (const k of ['pause_container', 'other_container', 'common', 'kata_config', 'request_defaults']) {
    if (settings?.[k] === undefined) throw new CocoError('GENPOLICY_SETTINGS', `the settings have no "${k}"`, { kind: 'input' });
  }
  const containers = [...(Array.isArray(t.spec.initContainers) ? t.spec.initContainers : []), ...(Array.isArray(t.spec.containers) ? t.spec.containers : [])];
  if (containers.length === 0) throw new CocoError('GENPOLICY_INPUT', 'the pod has no containers', { kind: 'input' });
  return {
    containers: [pauseContainer(t, settings), ...containers.map((c: Json) => appContainer(t, c, input))],
    common: settings.common,
    sandbox: settings.sandbox ?? { storages: [] },
    request_defaults: settings.request_defaults,
    ...(settings.devices === undefined ? {} : { devices: settings.devices }),
    ...(settings.cluster_config === undefined ? {} : { cluster_config: { cgroup_mount_extras_allowed: settings.cluster_config.cgroup_mount_extras_allowed ?? [] } }),
  };
}
