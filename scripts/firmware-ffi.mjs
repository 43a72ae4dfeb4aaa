// The firmware's QuickJS FFI table in fewer bytes (issue 19.4). @jitl/quickjs-wasmfile-*/dist/ffi.mjs
// is one constructor of ~70 statements `this.QTS_X=this.module.cwrap("QTS_X",<ret>,[<args>])`:
// ~6.3 KB of the box's 256,000, mostly the same words again. compactFfi gives the same class with
// the table as one string and a loop that makes the same cwrap calls, in the same order, onto
// the same properties. Used by build.mjs for the firmware and its snapshot only; the head-end
// loads the package as it is. A file of another shape is refused (a clear build error), never
// passed through half rewritten: a package upgrade that changes it must be looked at.

const STATEMENT = /this\.(\w+)=this\.module\.cwrap\("(\w+)",(null|"(?:number|string|boolean)"),\[((?:"(?:number|string|boolean)",?)*)\]\);?/g;
const PREFIX = 'QTS_';
/** One letter per C type in the table: argument types, and `v` for a null (void) return. */
const LETTER = { number: 'n', string: 's', boolean: 'b', null: 'v' };
const MIN_ENTRIES = 16;

/** The statements as table entries `<name without QTS_>:<return letter><argument letters>`. */
function entries(block) {
  const out = [];
  for (const m of block.matchAll(STATEMENT)) {
    const [, prop, name, ret, args] = m;
    if (prop !== name || !name.startsWith(PREFIX)) throw new Error(`firmware ffi: ${prop} wraps ${name}; expected this.QTS_X = cwrap("QTS_X", ...)`);
    const types = args === '' ? [] : args.replace(/,$/, '').split(',').map((a) => JSON.parse(a));
    out.push(`${name.slice(PREFIX.length)}:${LETTER[JSON.parse(ret)]}${types.map((t) => LETTER[t]).join('')}`);
  }
  return out;
}

/** The loop that replaces the statements: the same calls, in table order. */
function loop(table) {
  return (
    `const T={n:"number",s:"string",b:"boolean",v:null};` +
    `for(const e of ${JSON.stringify(table.join(' '))}.split(" ")){const[n,t]=e.split(":"),k="${PREFIX}"+n;` +
    `this[k]=this.module.cwrap(k,T[t[0]],[...t.slice(1)].map(c=>T[c]))}`
  );
}

/**
 * `source` (ffi.mjs) with its run of cwrap statements as a table and a loop. Throws when the file
 * is not that shape: no single run of at least MIN_ENTRIES statements, or cwrap used elsewhere.
 */
export function compactFfi(source, where = 'ffi.mjs') {
  const run = new RegExp(`(?:${STATEMENT.source})+`, 'g');
  const runs = [...source.matchAll(run)];
  const fail = (why) => new Error(`firmware ffi: ${where} ${why}; update scripts/firmware-ffi.mjs or drop it from build.mjs`);
  if (runs.length !== 1) throw fail(`has ${runs.length} runs of cwrap statements, expected 1`);
  const [block] = runs;
  const before = source.slice(0, block.index);
  const after = source.slice(block.index + block[0].length);
  if (before.includes('cwrap') || after.includes('cwrap')) throw fail('uses cwrap outside the table');
  if (!/[{;]$/.test(before) || !after.startsWith('}')) throw fail('has the table outside a block of statements');
  const table = entries(block[0]);
  if (table.length < MIN_ENTRIES) throw fail(`has ${table.length} cwrap statements, expected at least ${MIN_ENTRIES}`);
  return `${before}${loop(table)}${after}`;
}
