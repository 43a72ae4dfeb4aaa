// Types of scripts/firmware-ffi.mjs for the tests that import it.
export function compactFfi(source: string, where?: string): string;
