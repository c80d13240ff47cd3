/**
 * The `needs` graph of services: start order (topological, dependencies
 * first), cycle detection, and the services a start pulls in. Pure functions;
 * names are visited in sorted order so every result is deterministic.
 */

/** Service name -> the names it needs. */
export type NeedsGraph = ReadonlyMap<string, readonly string[]>;

/**
 * A cycle in the graph as a path that ends where it starts (["a", "b", "a"]),
 * or undefined. Needs of names not in the graph are ignored.
 */
export function findCycle(graph: NeedsGraph): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const seen = state.get(name);
    if (seen === 'done') return undefined;
    if (seen === 'visiting') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'visiting');
    stack.push(name);
    for (const need of [...(graph.get(name) ?? [])].sort()) {
      if (!graph.has(need)) continue;
      const cycle = visit(need);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const name of [...graph.keys()].sort()) {
    const cycle = visit(name);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Pairs [service, need] where the need is not in the graph. */
export function unknownNeeds(graph: NeedsGraph): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, needs] of graph) for (const need of needs) if (!graph.has(need)) out.push([name, need]);
  return out;
}

/**
 * Every name of the graph, each after all it needs. A graph with a cycle (only
 * possible with hand-edited definition files) still gets every name: the
 * members of the cycle follow in name order once nothing else can go first.
 * Unknown needs are ignored.
 */
export function startOrder(graph: NeedsGraph): string[] {
  const order: string[] = [];
  const placed = new Set<string>();
  const pending = new Set([...graph.keys()].sort());
  while (pending.size > 0) {
    let progressed = false;
    for (const name of pending) {
      const ready = (graph.get(name) ?? []).every((need) => placed.has(need) || !graph.has(need) || need === name);
      if (!ready) continue;
      order.push(name);
      placed.add(name);
      pending.delete(name);
      progressed = true;
    }
    if (!progressed) {
      // A cycle: break it at the first name in sort order.
      const first = [...pending][0] as string;
      order.push(first);
      placed.add(first);
      pending.delete(first);
    }
  }
  return order;
}

/**
 * What starting `name` starts: everything it needs, transitively, in start
 * order, and `name` itself last.
 */
export function startClosure(graph: NeedsGraph, name: string): string[] {
  const wanted = new Set<string>();
  const collect = (n: string): void => {
    if (wanted.has(n) || !graph.has(n)) return;
    wanted.add(n);
    for (const need of graph.get(n) ?? []) collect(need);
  };
  collect(name);
  const order = startOrder(new Map([...graph].filter(([n]) => wanted.has(n))));
  // In a cycle `name` could land anywhere; it is what was asked for, so it goes last.
  return [...order.filter((n) => n !== name), ...(wanted.has(name) ? [name] : [])];
}

/** The services that need `name` directly, sorted. */
export function dependentsOf(graph: NeedsGraph, name: string): string[] {
  return [...graph].filter(([n, needs]) => n !== name && needs.includes(name)).map(([n]) => n).sort();
}
