/**
 * Bounded echoes of untrusted text. Error details and log lines name the offending value so a client or an
 * operator can see what was wrong, but a request must not be able to copy megabytes of its own body into the
 * response or the log: every echoed value is cut to a few dozen characters, and every message as a whole to a
 * fixed size, whatever the route that built it.
 */

/** How many characters of one untrusted value an error or log line repeats. */
export const ECHO_CHARS = 64;
/** The longest error detail or log message the server writes. */
export const MESSAGE_CHARS = 1024;

/** `value` as JSON (strings quoted), cut to `max` characters and marked with "…" when cut. */
export function echo(value: unknown, max = ECHO_CHARS): string {
  if (typeof value === 'string') return value.length > max ? `${JSON.stringify(value.slice(0, max))}…` : JSON.stringify(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = typeof value;
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** `text` cut to `max` characters (plus "…" and the size of what was left out). */
export function bounded(text: string, max = MESSAGE_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}
