/** Types of bundle-agent.mjs (see there for the behaviour). */

export declare const repoRoot: string;
export declare const defaultAgentEntry: string;
export declare const agentExternals: readonly string[];

/** Thrown when the agent's entry file does not exist. */
export declare class AgentEntryMissingError extends Error {
  readonly entry: string;
  constructor(entry: string);
}

export interface AgentBundle {
  /** Absolute path of the written bundle. */
  readonly outfile: string;
  /** Absolute path of the bundled entry. */
  readonly entry: string;
  /** sha256 (hex) of the bundle's bytes. */
  readonly sha256: string;
  readonly bytes: number;
  /** Source files esbuild read, relative to the repository root. */
  readonly inputs: readonly string[];
}

export declare function resolveAgentEntry(): string;
export declare function bundleAgent(options: { outfile: string; entry?: string }): Promise<AgentBundle>;
