/** Names of networks, sandboxes and aliases: validated before they reach a path or the kernel. */
import { ValidationError } from '../errors';

// Docker's container/network name rule; it also keeps names safe as file
// names (no "/", no leading ".", so no "..").
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

export function validateName(name: unknown, field: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new ValidationError(
      field,
      `${JSON.stringify(name)} is not a valid name (letters, digits, "_", ".", "-"; starting with a letter or digit; at most 64)`,
    );
  }
  return name;
}

// RFC 1123 host names / DNS labels joined by dots.
const HOST =
  /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export function validateHostname(name: unknown, field: string): string {
  if (typeof name !== 'string' || !HOST.test(name)) {
    throw new ValidationError(field, `${JSON.stringify(name)} is not a valid host name`);
  }
  return name;
}

/** An optional list (undefined: empty); anything else but an array is refused, naming `field`. */
export function listOf(value: unknown, field: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ValidationError(field, 'must be an array');
  return value as unknown[];
}

export function validateLabels(labels: unknown, field: string): Record<string, string> {
  if (labels === undefined) return {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throw new ValidationError(field, 'must be an object of string values');
  }
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (
      k.length === 0 ||
      k.length > 255 ||
      typeof v !== 'string' ||
      v.length > 4096 ||
      /[\0\n]/.test(k + v)
    ) {
      throw new ValidationError(
        `${field}.${k}`,
        'label keys and values must be single-line strings (key 1-255, value up to 4096 characters)',
      );
    }
    out.push([k, v]);
  }
  // fromEntries defines own properties: a key named "__proto__" is kept as
  // a label, where `out[k] = v` would have dropped it.
  return Object.fromEntries(out);
}
