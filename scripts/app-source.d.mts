// Types of scripts/app-source.mjs for the tests that import it.
export function parseBudget(v: unknown, at: string): number;
export function sourceManifest(appDir: string): Promise<{ app: string; version: string; modules: Record<string, unknown>[] }>;
export function typecheckApp(appDir: string, entries: string[], tsconfigPath: string): Promise<string[]>;
