// Lookups by a name that came from configuration, a manifest or a template. A plain
// object also answers for Object.prototype's members (`constructor`, `toString`), so
// `images['constructor']` is a function, not "not configured" (issue 10). Every such
// lookup goes through here.

/** record[key] when `key` is the record's own property, else undefined. */
export function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
