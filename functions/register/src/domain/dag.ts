/**
 * Job dependencies form a DAG: `dependsOn` edges point from a job to the jobs that must complete
 * before it runs. A change that would close a cycle is refused, naming the cycle.
 */

/** The first cycle among `edges` (job → the jobs it depends on), as a closed path, or null. */
export function findCycle(edges: ReadonlyMap<string, readonly string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  for (const start of edges.keys()) {
    if (state.has(start)) continue;
    // Iterative depth-first search: a long chain cannot overflow the stack.
    const path: string[] = [];
    const stack: { id: string; next: number }[] = [{ id: start, next: 0 }];
    state.set(start, 'open');
    path.push(start);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { id: string; next: number };
      const deps = edges.get(top.id) ?? [];
      if (top.next >= deps.length) {
        state.set(top.id, 'done');
        stack.pop();
        path.pop();
        continue;
      }
      const dep = deps[top.next] as string;
      top.next += 1;
      const seen = state.get(dep);
      if (seen === 'open') return [...path.slice(path.indexOf(dep)), dep];
      if (seen === 'done') continue;
      state.set(dep, 'open');
      path.push(dep);
      stack.push({ id: dep, next: 0 });
    }
  }
  return null;
}

/**
 * The jobs to trigger when `jobId`'s run completes: those that depend on it directly (each
 * starts its own run; theirs trigger their dependants in turn).
 */
export function dependantsOf(edges: ReadonlyMap<string, readonly string[]>, jobId: string): string[] {
  const out: string[] = [];
  for (const [job, deps] of edges) if (deps.includes(jobId)) out.push(job);
  return out.sort();
}
