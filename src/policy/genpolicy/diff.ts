/**
 * What a re-generation changed between two policies' policy_data: containers added or removed (by container
 * name; the pause container is "(pause)"), and per container the image, args, env, mounts, user, working
 * directory, capabilities and exec commands.
 */
type Json = Record<string, any>;

function name(c: Json): string {
  return c?.OCI?.Annotations?.['io.kubernetes.cri.container-name'] ?? '(pause)';
}

function setDiff(label: string, a: string[], b: string[]): string[] {
  const out: string[] = [];
  for (const x of a) if (!b.includes(x)) out.push(`  - ${label} ${x}`);
  for (const x of b) if (!a.includes(x)) out.push(`  + ${label} ${x}`);
  return out;
}

function field(label: string, a: unknown, b: unknown): string[] {
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  return ja === jb ? [] : [`  ~ ${label}: ${ja} -> ${jb}`];
}

export function diffPolicyData(oldData: Json, newData: Json): string[] {
  const lines: string[] = [];
  const olds = new Map<string, Json>((Array.isArray(oldData.containers) ? oldData.containers : []).map((c: Json) => [name(c), c]));
  const news = new Map<string, Json>((Array.isArray(newData.containers) ? newData.containers : []).map((c: Json) => [name(c), c]));
  for (const n of olds.keys()) if (!news.has(n)) lines.push(`- container ${n}`);
  for (const n of news.keys()) if (!olds.has(n)) lines.push(`+ container ${n}`);
  for (const [n, a] of olds) {
    const b = news.get(n);
    if (!b) continue;
    const pa = a.OCI?.Process ?? {};
    const pb = b.OCI?.Process ?? {};
    const changes = [
      ...field('image', a.OCI?.Annotations?.['io.kubernetes.cri.image-name'], b.OCI?.Annotations?.['io.kubernetes.cri.image-name']),
      ...field('args', pa.Args, pb.Args),
      ...setDiff('env', pa.Env ?? [], pb.Env ?? []),
      ...setDiff('mount', (a.OCI?.Mounts ?? []).map((m: Json) => `${m.destination} (${m.type_}, ${m.source})`), (b.OCI?.Mounts ?? []).map((m: Json) => `${m.destination} (${m.type_}, ${m.source})`)),
      ...field('user', pa.User?.UID, pb.User?.UID),
      ...field('cwd', pa.Cwd, pb.Cwd),
      ...field('capabilities', pa.Capabilities, pb.Capabilities),
      ...field('exec_commands', a.exec_commands, b.exec_commands),
      ...field('storages', a.storages, b.storages),
    ];
    if (changes.length > 0) lines.push(`~ container ${n}`, ...changes);
  }
  for (const k of ['common', 'sandbox', 'request_defaults']) lines.push(...field(k, oldData[k], newData[k]).map((l) => l.trimStart()));
  return lines;
}
