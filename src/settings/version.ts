/** pgbouncer versions as "major.minor[.patch]" strings, compared numerically. */
export function versionParts(v: string): [number, number, number] {
  const [a = '0', b = '0', c = '0'] = v.split('.');
  return [Number(a), Number(b), Number(c)];
}

export function versionAtLeast(version: string, minimum: string): boolean {
  const x = versionParts(version);
  const y = versionParts(minimum);
  for (let i = 0; i < 3; i++) {
    if (x[i]! !== y[i]!) return x[i]! > y[i]!;
  }
  return true;
}
