// The scripts' one option form: `--name value`, taken out of `args` (the rest stay positional).

/** The value after `--<name>` in `args` (both removed), or `dflt` when absent. */
export function takeOption(args, name, dflt) {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}
