/**
 * Checks are data: every verifier returns the list of checks it made, and the CLI's `--explain`, the server's
 * denial detail, the audit log and the web inspector all render this same list.
 */
export interface Check {
  /** Stable id, e.g. `signature`, `chain`, `tcb`, `chip-id`, `validity`, `report-data`. */
  id: string;
  ok: boolean;
  expected?: string;
  actual?: string;
  detail: string;
}

export function check(id: string, ok: boolean, detail: string, values: { expected?: string; actual?: string } = {}): Check {
  return { id, ok, detail, ...values };
}

export function allOk(checks: readonly Check[]): boolean {
  return checks.every((c) => c.ok);
}

/** The checks that failed, in order. */
export function failures(checks: readonly Check[]): Check[] {
  return checks.filter((c) => !c.ok);
}

/** One line per check, for `--explain` and logs. */
export function renderChecks(checks: readonly Check[]): string {
  return checks
    .map((c) => {
      const vals = [c.expected !== undefined ? `expected ${c.expected}` : '', c.actual !== undefined ? `actual ${c.actual}` : '']
        .filter(Boolean)
        .join(', ');
      return `${c.ok ? 'ok  ' : 'FAIL'} ${c.id}: ${c.detail}${vals ? ` (${vals})` : ''}`;
    })
    .join('\n');
}
