// The built poll at another version with a changed tally (a new app-wide code), signed with the
// build's dev key: for tests of app-wide modules across versions (issue 15.6) on real processes.
import { builtAppAt } from './app-version.ts';

/** Copy the built poll at `from` to `to` as `version`, its tally's bytes changed; gives `to`. */
export function pollWithNewTally(from: string, to: string, keyFile: string, version: string): Promise<string> {
  return builtAppAt(from, to, keyFile, version, { module: 'tally', text: `\n// ${version}: a new tally\n` });
}
