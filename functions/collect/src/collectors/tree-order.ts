/**
 * Directories ordered so that every parent comes before its children (depth-first, siblings by
 * `order`), as the page store needs them: a directory whose parent was not listed is a root. A
 * cycle in what a source sends (a parent chain that loops) cannot loop here: nodes on it are never
 * reached from a root and are left out.
 */
export function parentsFirst<T, K>(
  items: readonly T[],
  key: (t: T) => K,
  parent: (t: T) => K | null,
  order: (a: T, b: T) => number,
): T[] {
  const ids = new Set(items.map(key));
  const children = new Map<K | null, T[]>();
  for (const item of items) {
    const p = parent(item);
    const at = p !== null && ids.has(p) ? p : null;
    const list = children.get(at) ?? [];
    list.push(item);
    children.set(at, list);
  }
  for (const list of children.values()) list.sort(order);
  const out: T[] = [];
  const seen = new Set<K>();
  const stack = [...(children.get(null) ?? [])].reverse();
  while (stack.length > 0) {
    const item = stack.pop() as T;
    const k = key(item);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(item);
    stack.push(...[...(children.get(k) ?? [])].reverse());
  }
  return out;
}

/** `root` and every item under it, from a parents-first list, in the same order. */
export function subtreeOf<T, K>(
  ordered: readonly T[],
  root: K,
  key: (t: T) => K,
  parent: (t: T) => K | null,
): T[] {
  const inside = new Set<K>([root]);
  return ordered.filter((item) => {
    const p = parent(item);
    if (key(item) === root || (p !== null && inside.has(p))) {
      inside.add(key(item));
      return true;
    }
    return false;
  });
}
