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
  /**
   * The image's /etc/passwd and /etc/group as its layers leave them (the topmost layer holding one wins, a
   * whiteout deletes it), when its layers were read: "" when the image has none.
   */
  passwd?: string;
  group?: string;
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

/**
 * A name as a literal inside a policy pattern, its regex metacharacters escaped (the set the agent's regex
 * engine defines, "-", "#", "&" and "~" among them). genpolicy escapes the pod name so, but writes volume and
 * file names into mount and storage patterns unescaped: there a "." matches any character, and a "+" or "("
 * keeps the pattern from matching the name itself. cocokit escapes them too.
 */
function regexEscape(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$#&~-]/g, '\\$&');
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

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** A decimal uid or gid (0 to 4294967295), or undefined. */
function idOf(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffffffff ? n : undefined;
}

/** The records of an /etc/passwd (name:password:uid:gid:gecos:home:shell); malformed lines are skipped. */
function passwdEntries(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const uid = idOf(f[2]);
    const gid = idOf(f[3]);
    if (f.length !== 7 || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0]!, uid, gid });
  }
  return out;
}

/** The records of an /etc/group (name:password:gid:member,member…); malformed lines are skipped. */
function groupEntries(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const gid = idOf(f[2]);
    if (f.length !== 4 || gid === undefined) continue;
    out.push({ name: f[0]!, gid, members: f[3] === '' ? [] : f[3]!.split(',') });
  }
  return out;
}

/** What the generator knows of an image's users: its /etc/passwd and /etc/group, when its layers were read. */
interface ImageUsers {
  /** False when the image's files are not known (the guest pulls the image): names then resolve to 0. */
  known: boolean;
  passwd: PasswdEntry[];
  group: GroupEntry[];
}

function imageUsers(image: ImageConfig, guestPull: boolean): ImageUsers {
  const known = !guestPull && image.passwd !== undefined;
  return { known, passwd: known ? passwdEntries(image.passwd ?? '') : [], group: known ? groupEntries(image.group ?? '') : [] };
}

/**
 * The uid and gid of the image config's `User` (empty, uid, uid:gid, name or name:group), as the runtime
 * resolves them in the image's /etc/passwd and /etc/group: a name takes its uid from /etc/passwd, the
 * primary group is the explicit group when one is given and otherwise the passwd record's gid for the uid
 * (0 without one). When the guest pulls the image the host has no /etc/passwd to read and a name resolves
 * to uid 0, as genpolicy has it; when the files are known a name they do not hold is an error (the runtime
 * could not start such a container, and a policy for uid 0 would only let another process run as root).
 */
function resolveImageUser(user: string | undefined, users: ImageUsers, ref: string): { uid: number; gid: number } {
  if (user === undefined || user === '') return { uid: 0, gid: 0 };
  const parts = user.split(':');
  if (parts.length > 2 || parts[0] === '') throw new CocoError('GENPOLICY_IMAGE_USER', `image ${ref}: User ${JSON.stringify(user)} is not user[:group]`, { kind: 'input' });
  const [u, g] = parts as [string, string | undefined];
  const numeric = (v: string): number | undefined => {
    if (!/^\d+$/.test(v)) return undefined;
    const id = idOf(v);
    if (id === undefined) throw new CocoError('GENPOLICY_IMAGE_USER', `image ${ref}: User ${JSON.stringify(user)}: ${v} is not an id from 0 to 4294967295`, { kind: 'input' });
    return id;
  };
  let uid: number;
  const uidNumber = numeric(u);
  if (uidNumber !== undefined) uid = uidNumber;
  else if (!users.known) uid = 0;
  else {
    const rec = users.passwd.find((r) => r.name === u);
    if (!rec) throw new CocoError('GENPOLICY_IMAGE_USER', `image ${ref}: User ${JSON.stringify(user)}: no user ${JSON.stringify(u)} in the image's /etc/passwd`, { kind: 'input' });
    uid = rec.uid;
  }
  let gid: number;
  const gidNumber = g === undefined ? undefined : numeric(g);
  if (g === undefined || g === '') gid = users.passwd.find((r) => r.uid === uid)?.gid ?? 0;
  else if (gidNumber !== undefined) gid = gidNumber;
  else if (!users.known) gid = 0;
  else {
    const rec = users.group.find((r) => r.name === g);
    if (!rec) throw new CocoError('GENPOLICY_IMAGE_USER', `image ${ref}: User ${JSON.stringify(user)}: no group ${JSON.stringify(g)} in the image's /etc/group`, { kind: 'input' });
    gid = rec.gid;
  }
  return { uid, gid };
}

/**
 * The groups /etc/group lists the user of `uid` as a member of (a group named after the user itself is left
 * out, as the runtime leaves it out).
 */
function memberGroups(uid: number, users: ImageUsers): number[] {
  const name = users.passwd.find((r) => r.uid === uid)?.name;
  if (name === undefined) return [];
  return users.group.filter((g) => g.members.includes(name) && g.name !== name).map((g) => g.gid);
}

export interface GenerateInput {
  template: PodTemplate;
  settings: Json;
  /** Image config by the image reference the pod names. */
  images: Map<string, ImageConfig>;
  /** ConfigMaps and Secrets of the same documents, by name, for env valueFrom / envFrom. */
  configMaps?: Map<string, Record<string, string>>;
  /** The pause image's config, with its layers, when the guest does not pull images. */
  pauseImage?: ImageConfig;
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

/**
 * The sandbox's pause container, from the settings' `pause_container` (its process, mounts, annotations and
 * Linux fields); when the guest does not pull images, its storages are the layers of the pause image
 * (`cluster_config.pause_container_image`), as for any other container.
 */
function pauseContainer(t: PodTemplate, settings: Json, image: ImageConfig | undefined): Json {
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
    storages: image?.layers ? layerStorages(image.layers, String(p.Root.Path).replace('$(root_path)', settings.common.root_path)) : [],
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

function objectField(v: unknown, what: string): Json {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new CocoError('GENPOLICY_INPUT', `${what} must be an object`, { kind: 'input' });
  return v as Json;
}

function listField(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new CocoError('GENPOLICY_INPUT', `${what} must be a list`, { kind: 'input' });
  return v;
}

function intField(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > 0xffffffff) throw new CocoError('GENPOLICY_INPUT', `${what} must be an id from 0 to 4294967295`, { kind: 'input' });
  return v;
}

function stringField(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new CocoError('GENPOLICY_INPUT', `${what} must be a non-empty string`, { kind: 'input' });
  return v;
}

/**
 * The capability sets of a container process: the runtime's default set (or, privileged, every capability),
 * less `capabilities.drop` ("ALL" drops them all) plus `capabilities.add`, names taking the "CAP_" prefix.
 * A set holding exactly the default or the privileged capabilities is written as that list's placeholder.
 */
function containerCaps(common: Json, privileged: boolean, capabilities: unknown, container: string): Json {
  if (privileged) return caps(true);
  const yc = objectField(capabilities, `container ${container}: securityContext.capabilities`);
  const names = (v: unknown, what: string): string[] =>
    v === undefined || v === null ? [] : listField(v, `container ${container}: securityContext.capabilities.${what}`).map((x) => stringField(x, `container ${container}: securityContext.capabilities.${what}[]`));
  const drop = names(yc.drop, 'drop');
  const add = names(yc.add, 'add');
  if (drop.length === 0 && add.length === 0) return caps(false);
  let set: string[] = [...(common.default_caps as string[])];
  for (const d of drop) set = d === 'ALL' ? [] : set.filter((x) => x !== `CAP_${d}`);
  for (const a of add) if (!set.includes(`CAP_${a}`)) set.push(`CAP_${a}`);
  // Both rule sets compare capability sets, so a set equal to a known list in another order still compresses.
  const same = (a: string[], b: string[]): boolean => a.length === new Set(b).size && a.every((x) => b.includes(x));
  const compressed = same(set, common.default_caps) ? ['$(default_caps)'] : same(set, common.privileged_caps) ? ['$(privileged_caps)'] : set;
  return { Ambient: [], Bounding: compressed, Effective: compressed, Inheritable: [], Permitted: compressed };
}

interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly: boolean;
  subPath?: string;
  subPathExpr?: string;
  mountPropagation?: string;
}

function containerVolumeMounts(c: Json): VolumeMount[] {
  if (c.volumeMounts === undefined || c.volumeMounts === null) return [];
  return listField(c.volumeMounts, `container ${c.name}: volumeMounts`).map((v, i) => {
    const vm = objectField(v, `container ${c.name}: volumeMounts[${i}]`);
    const what = `container ${c.name}: volumeMounts[${i}]`;
    const opt = (k: string): string | undefined => (vm[k] === undefined || vm[k] === null ? undefined : stringField(vm[k], `${what}.${k}`));
    const mountPath = stringField(vm.mountPath, `${what}.mountPath`);
    if (!mountPath.startsWith('/')) throw new CocoError('GENPOLICY_INPUT', `${what}.mountPath must be an absolute path`, { kind: 'input' });
    return { name: stringField(vm.name, `${what}.name`), mountPath, readOnly: vm.readOnly === true, subPath: opt('subPath'), subPathExpr: opt('subPathExpr'), mountPropagation: opt('mountPropagation') };
  });
}

/** The last component of a path (what the runtime names a shared file after). */
function baseName(path: string): string {
  return path.split('/').filter(Boolean).pop() ?? '';
}

/** Adds a mount, or replaces the one at the same destination (a volume mounted over a default mount). */
function upsertMount(mounts: Json[], m: Json): void {
  const i = mounts.findIndex((x) => x.destination === m.destination);
  if (i >= 0) mounts[i] = m;
  else mounts.push(m);
}

/** A volume shared from the host through the per-container shared directory. */
function sharedBindMount(vm: VolumeMount, mounts: Json[], propagation: string, access: string): void {
  upsertMount(mounts, { destination: vm.mountPath, source: `$(sfprefix)${regexEscape(baseName(vm.mountPath))}$`, type_: 'bind', options: ['rbind', propagation, access] });
}

const VOLUME_TYPES = ['emptyDir', 'persistentVolumeClaim', 'azureFile', 'hostPath', 'configMap', 'secret', 'projected', 'downwardAPI'];

/**
 * The OCI mount (and, for volumes the guest creates itself, the storage) kata-agent receives for one
 * volumeMount: emptyDir (in the guest's memory with medium Memory; otherwise a shared-fs directory or an
 * encrypted or plain block device, as `cluster_config.emptydir_type` says), configMap and secret (bind mounts
 * of the shared files, plus storages when `kata_config.enable_configmap_secret_storages`), projected and
 * downwardAPI (read-only shared binds), hostPath (a shared bind, or the guest's own /dev or /sys path) and
 * persistentVolumeClaim / azureFile (shared binds, read-only when the volumeMount says readOnly: the runtime
 * then mounts them read-only, where genpolicy writes "rw" for every claim).
 */
function volumeMountAndStorage(t: PodTemplate, settings: Json, vm: VolumeMount, mounts: Json[], storages: Json[], podSc: Json): void {
  const volumes = t.spec.volumes === undefined ? [] : listField(t.spec.volumes, 'pod volumes');
  const volume = volumes.find((v) => (v as Json)?.name === vm.name) as Json | undefined;
  if (!volume) throw new CocoError('GENPOLICY_INPUT', `volumeMount ${vm.mountPath} names volume ${JSON.stringify(vm.name)}, which the pod does not define`, { kind: 'input' });
  const type = VOLUME_TYPES.find((k) => volume[k] !== undefined && volume[k] !== null);
  if (!type) {
    const keys = Object.keys(volume).filter((k) => k !== 'name');
    throw new CocoError('GENPOLICY_UNSUPPORTED', `volume ${vm.name}: unsupported volume type ${keys.length > 0 ? keys.join(', ') : '(none given)'}`, { kind: 'input' });
  }
  const access = vm.readOnly ? 'ro' : 'rw';
  const sv = objectField(settings.volumes, 'settings volumes');
  switch (type) {
    case 'emptyDir': {
      const ed = objectField(volume.emptyDir, `volume ${vm.name}: emptyDir`);
      const kind = ed.medium === 'Memory' ? 'emptyDir_memory' : ({ 'block-encrypted': 'emptyDir_encrypted', 'block-plain': 'emptyDir_plain' } as Record<string, string>)[settings.cluster_config?.emptydir_type] ?? 'emptyDir';
      const s = objectField(sv[kind], `settings volumes.${kind}`);
      if (s.driver === undefined) throw new CocoError('GENPOLICY_SETTINGS', `the settings have no volumes.${kind}`, { kind: 'input' });
      const block = kind === 'emptyDir_encrypted' || kind === 'emptyDir_plain';
      const fsGroup = intField(podSc.fsGroup, 'pod securityContext.fsGroup');
      // The runtime creates the volume with the root of the mount only: a subPath mount reuses it.
      if (vm.subPath === undefined && vm.subPathExpr === undefined) {
        const options = [...(s.options ?? [])];
        if (!block && fsGroup !== undefined && fsGroup !== 0) options.push(`fsgid=${fsGroup}`);
        storages.push({
          driver: s.driver,
          driver_options: [...(s.driver_options ?? [])],
          source: s.source ?? '',
          fstype: s.fstype,
          options,
          mount_point: block ? s.mount_point : `${s.mount_point}${regexEscape(vm.name)}$`,
          fs_group: null,
          shared: s.shared === true,
        });
      }
      let source: string;
      if (block) source = '';
      else if (vm.subPathExpr !== undefined) source = `${sv.configMap?.mount_source ?? '$(sfprefix)'}${regexEscape(baseName(vm.mountPath))}$`;
      else if (vm.subPath !== undefined) source = `${s.mount_source}${regexEscape(vm.name)}/${regexEscape(vm.subPath)}$`;
      else source = `${s.mount_source}${regexEscape(vm.name)}$`;
      mounts.push({ destination: vm.mountPath, source, type_: s.mount_type, options: ['rbind', 'rprivate', access] });
      return;
    }
    case 'persistentVolumeClaim':
    case 'azureFile':
      sharedBindMount(vm, mounts, 'rprivate', access);
      return;
    case 'hostPath': {
      const path = stringField(objectField(volume.hostPath, `volume ${vm.name}: hostPath`).path, `volume ${vm.name}: hostPath.path`);
      const propagation = vm.mountPropagation === 'Bidirectional' ? 'rshared' : 'rprivate';
      // Device and sysfs paths are the guest's own; anything else is shared from the host.
      if (path.startsWith('/dev/') || path.startsWith('/sys/')) upsertMount(mounts, { destination: vm.mountPath, source: path, type_: 'bind', options: ['rbind', propagation, access] });
      else sharedBindMount(vm, mounts, propagation, access);
      return;
    }
    case 'configMap':
    case 'secret': {
      const s = objectField(sv.configMap, 'settings volumes.configMap');
      const name = regexEscape(baseName(vm.mountPath));
      if (settings.kata_config?.enable_configmap_secret_storages === true) {
        storages.push({
          driver: s.driver,
          driver_options: [],
          source: `${s.mount_source}${name}$`,
          fstype: s.fstype,
          options: [...(s.options ?? [])],
          mount_point: `${s.mount_point}${name}$`,
          fs_group: null,
          shared: s.shared === true,
        });
      }
      mounts.push({ destination: vm.mountPath, source: `${s.mount_point}${name}$`, type_: s.mount_type, options: [...(s.options ?? [])] });
      return;
    }
    default:
      // projected (service-account tokens, downward API, config maps) and downwardAPI: read-only files
      sharedBindMount(vm, mounts, 'rprivate', 'ro');
  }
}

function appContainer(t: PodTemplate, c: Json, input: GenerateInput): Json {
  const { settings } = input;
  if (typeof c.name !== 'string' || typeof c.image !== 'string') throw new CocoError('GENPOLICY_INPUT', 'every container needs a name and an image', { kind: 'input' });
  const image = input.images.get(c.image);
  if (!image) throw new CocoError('GENPOLICY_IMAGE', `no image config for ${c.image}`, { kind: 'input' });
  const sc: Json = objectField(c.securityContext, `container ${c.name}: securityContext`);
  const podSc: Json = objectField(t.spec.securityContext, 'pod securityContext');
  const privileged = sc.privileged === true;
  const ro = sc.readOnlyRootFilesystem === true;
  const users = imageUsers(image, settings.cluster_config?.guest_pull !== false);
  const user = resolveImageUser(image.User, users, c.image);
  // runAsUser and runAsGroup of the container win over the pod's. A runAsUser takes its primary group from
  // the image's /etc/passwd when it lists the uid (runAsGroup wins over both); the groups /etc/group makes the
  // user a member of, and the pod's fsGroup and supplementalGroups, join the process's additional groups.
  const runAsUser = intField(sc.runAsUser, 'securityContext.runAsUser') ?? intField(podSc.runAsUser, 'pod securityContext.runAsUser');
  const runAsGroup = intField(sc.runAsGroup, 'securityContext.runAsGroup') ?? intField(podSc.runAsGroup, 'pod securityContext.runAsGroup');
  const uid = runAsUser ?? user.uid;
  const gid = runAsGroup ?? (runAsUser === undefined ? user.gid : (users.passwd.find((r) => r.uid === runAsUser)?.gid ?? user.gid));
  const fsGroup = intField(podSc.fsGroup, 'pod securityContext.fsGroup');
  const supplemental = podSc.supplementalGroups === undefined ? [] : listField(podSc.supplementalGroups, 'pod securityContext.supplementalGroups').map((g) => intField(g, 'pod securityContext.supplementalGroups')!);
  const additionalGids = [...new Set([gid, ...memberGroups(uid, users), ...supplemental, ...(fsGroup === undefined ? [] : [fsGroup])])].sort((a, b) => a - b);

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
  const volumeMounts = containerVolumeMounts(c);
  const keep = Array.isArray(settings.mount_destinations) ? new Set<string>(settings.mount_destinations) : undefined;
  for (const m of settings.other_container.Mounts as Json[]) {
    if (m.destination === '/dev/shm') continue;
    if (automount === false && m.destination === '/var/run/secrets/kubernetes.io/serviceaccount') continue;
    // A settings mount is kept when the settings list its destination or the pod mounts a volume there.
    if (keep && !keep.has(m.destination) && !volumeMounts.some((vm) => vm.mountPath === m.destination)) continue;
    const mount = settingsMount(m, ro ? 'ro' : 'rw');
    // The runtime bind-mounts the termination log at the container's terminationMessagePath.
    if (m.destination === '/dev/termination-log' && typeof c.terminationMessagePath === 'string') mount.destination = c.terminationMessagePath;
    mounts.push(mount);
  }
  const storages: Json[] = [];
  for (const vm of volumeMounts) volumeMountAndStorage(t, settings, vm, mounts, storages, podSc);
  const p = settings.pause_container.Linux;
  return {
    OCI: {
      Version: settings.kata_config.oci_version,
      Process: {
        Terminal: c.tty === true,
        User: { UID: uid, GID: gid, AdditionalGids: additionalGids, Username: '' },
        Args: argv,
        Env: env,
        Cwd: typeof c.workingDir === 'string' ? c.workingDir : image.WorkingDir || '/',
        Capabilities: containerCaps(settings.common, privileged, sc.capabilities, c.name),
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
    // Image layer storages (guest pull off) come first, then the volumes' storages.
    storages: [
      ...(image.layers ? layerStorages(image.layers, String(settings.other_container.Root.Path).replace('$(root_path)', settings.common.root_path)) : []),
      ...storages,
    ],
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
    containers: [pauseContainer(t, settings, input.pauseImage), ...containers.map((c: Json) => appContainer(t, c, input))],
    common: settings.common,
    sandbox: settings.sandbox ?? { storages: [] },
    request_defaults: settings.request_defaults,
    ...(settings.devices === undefined ? {} : { devices: settings.devices }),
    ...(settings.cluster_config === undefined ? {} : { cluster_config: { cgroup_mount_extras_allowed: settings.cluster_config.cgroup_mount_extras_allowed ?? [] } }),
  };
}

// Fields of a pod spec the generator reads, or that do not change what the agent is asked for. Anything else
// (host namespaces, block devices, ephemeral containers, SELinux or AppArmor settings, sysctls …) would reach
// the guest without the policy describing it.
const KNOWN_POD_FIELDS = new Set([
  'containers', 'initContainers', 'volumes', 'securityContext', 'serviceAccountName', 'serviceAccount', 'automountServiceAccountToken',
  'shareProcessNamespace', 'runtimeClassName', 'restartPolicy', 'nodeSelector', 'nodeName', 'affinity', 'tolerations',
  'terminationGracePeriodSeconds', 'activeDeadlineSeconds', 'imagePullSecrets', 'hostname', 'subdomain', 'hostAliases', 'dnsPolicy', 'dnsConfig',
  'priorityClassName', 'priority', 'preemptionPolicy', 'schedulerName', 'topologySpreadConstraints', 'enableServiceLinks', 'readinessGates',
  'overhead', 'setHostnameAsFQDN', 'os', 'schedulingGates',
]);
const KNOWN_CONTAINER_FIELDS = new Set([
  'name', 'image', 'command', 'args', 'env', 'envFrom', 'workingDir', 'ports', 'resources', 'resizePolicy', 'volumeMounts', 'livenessProbe',
  'readinessProbe', 'startupProbe', 'lifecycle', 'securityContext', 'tty', 'stdin', 'stdinOnce', 'imagePullPolicy', 'terminationMessagePath',
  'terminationMessagePolicy', 'restartPolicy',
]);
const KNOWN_CONTAINER_SC_FIELDS = new Set(['privileged', 'capabilities', 'runAsUser', 'runAsGroup', 'runAsNonRoot', 'allowPrivilegeEscalation', 'readOnlyRootFilesystem', 'seccompProfile']);
const KNOWN_POD_SC_FIELDS = new Set(['runAsUser', 'runAsGroup', 'runAsNonRoot', 'fsGroup', 'fsGroupChangePolicy', 'supplementalGroups', 'supplementalGroupsPolicy', 'seccompProfile']);

/** The paths of the fields of a pod spec the generated policy would not describe (`spec.hostPID`, …). */
export function unsupportedFields(spec: Json): string[] {
  const out: string[] = [];
  const check = (obj: unknown, known: Set<string>, path: string): void => {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return;
    for (const k of Object.keys(obj)) if (!known.has(k)) out.push(`${path}.${k}`);
  };
  check(spec, KNOWN_POD_FIELDS, 'spec');
  check(spec.securityContext, KNOWN_POD_SC_FIELDS, 'spec.securityContext');
  for (const list of ['initContainers', 'containers']) {
    if (!Array.isArray(spec[list])) continue;
    (spec[list] as unknown[]).forEach((c, i) => {
      check(c, KNOWN_CONTAINER_FIELDS, `spec.${list}[${i}]`);
      check((c as Json)?.securityContext, KNOWN_CONTAINER_SC_FIELDS, `spec.${list}[${i}].securityContext`);
    });
  }
  return out;
}
