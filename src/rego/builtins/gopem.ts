/**
 * Go's encoding/pem `Decode`, which OPA's builtins use to find a PEM block: the first well-formed block in
 * the text (text before it is skipped, a malformed block is passed over), its type, its leading
 * `Key: value` headers, the body read as padded standard base64 with spaces, tabs and line breaks ignored,
 * and the text after the END line (the END line's own line break consumed, nothing else).
 */
import { goBase64Decode } from './encoding.js';

export interface GoPemBlock {
  type: string;
  headers: Map<string, string>;
  bytes: Buffer;
}

const BEGIN = '-----BEGIN ';
const END = '\n-----END ';
const DASHES = '-----';

/** Go's getLine: the line up to `\n` (a `\r` before it dropped, trailing spaces and tabs trimmed) and the rest. */
function getLine(data: string): [string, string] {
  let i = data.indexOf('\n');
  let j: number;
  if (i < 0) {
    i = data.length;
    j = i;
  } else {
    j = i + 1;
    if (i > 0 && data[i - 1] === '\r') i--;
  }
  return [data.slice(0, i).replace(/[ \t]+$/, ''), data.slice(j)];
}

/** pem.Decode over `text` (its delimiters are ASCII, so positions agree with Go's bytes): the block and the rest, or undefined. */
export function goPemDecode(text: string): { block: GoPemBlock; rest: string } | undefined {
  let rest = text;
  for (;;) {
    if (rest.startsWith(BEGIN)) rest = rest.slice(BEGIN.length);
    else {
      const at = rest.indexOf(`\n${BEGIN}`);
      if (at < 0) return undefined;
      rest = rest.slice(at + 1 + BEGIN.length);
    }
    let typeLine: string;
    [typeLine, rest] = getLine(rest);
    if (!typeLine.endsWith(DASHES)) continue;
    typeLine = typeLine.slice(0, -DASHES.length);
    const headers = new Map<string, string>();
    let truncated = false;
    for (;;) {
      if (rest.length === 0) {
        truncated = true;
        break;
      }
      const [line, next] = getLine(rest);
      const colon = line.indexOf(':');
      if (colon < 0) break;
      headers.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      rest = next;
    }
    if (truncated) return undefined;
    let endIndex: number;
    let endTrailerIndex: number;
    // Without headers the END line may follow at once, with no line break before it.
    if (headers.size === 0 && rest.startsWith(END.slice(1))) {
      endIndex = 0;
      endTrailerIndex = END.length - 1;
    } else {
      endIndex = rest.indexOf(END);
      endTrailerIndex = endIndex + END.length;
    }
    if (endIndex < 0) continue;
    const trailerLen = typeLine.length + DASHES.length;
    let endTrailer = rest.slice(endTrailerIndex);
    if (endTrailer.length < trailerLen) continue;
    const restOfEndLine = endTrailer.slice(trailerLen);
    endTrailer = endTrailer.slice(0, trailerLen);
    if (!endTrailer.startsWith(typeLine) || !endTrailer.endsWith(DASHES)) continue;
    if (getLine(restOfEndLine)[0].length !== 0) continue;
    let bytes: Buffer;
    try {
      bytes = goBase64Decode(rest.slice(0, endIndex).replace(/[ \t]/g, ''), 'std', true);
    } catch {
      continue;
    }
    return { block: { type: typeLine, headers, bytes }, rest: getLine(rest.slice(endIndex + END.length - 1))[1] };
  }
}
