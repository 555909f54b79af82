// Drops the function-table entries that nothing calls, so that wasm-opt can remove their
// functions, then optimizes: `node scripts/prune-table.mjs <file.wasm>` rewrites wasm-bindgen's
// output (which still has its function names) in place, as wasm-opt -Oz would, names stripped.
//
// Why: wasm-bindgen learns each closure's adapter ("invoke") from a describe function that takes
// the adapter's table index; it deletes the describe functions afterwards but leaves their table
// entries. So every closure signature that js-sys declares (typed-array and Set callbacks, sort
// comparators...) keeps its adapter in the table although nothing calls it: about 2.4 KB.
//
// An entry is dropped (left empty: a gap between element segments) when
//  - it is such an adapter that wasm-bindgen did not export: JS calls adapters through their
//    exports, and the wasm never calls one through the table; or
//  - no reachable `call_indirect` has its signature. The table is internal (checked), so only
//    `call_indirect` reaches it, and a `call_indirect` traps unless the entry's signature equals
//    its type: such an entry traps before and after. Reachable means from the exports and the
//    start function through direct calls and the entries kept, to a fixpoint.
//
// Works on binaryen's text form (wasm-dis, wasm-as and wasm-opt from tools/), then optimizes.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The wasm features of the Rust target as built (scripts/build-pkg.sh turns reference types off).
const FEATURES = [
  "--enable-bulk-memory",
  "--enable-multivalue",
  "--enable-mutable-globals",
  "--enable-nontrapping-float-to-int",
  "--enable-sign-ext",
];

const file = process.argv[2];
if (!file) throw new Error("usage: prune-table.mjs <file.wasm>");
const dir = mkdtempSync(join(tmpdir(), "prune-table-"));
const run = (tool, args) => execFileSync(tool, args, { stdio: ["ignore", "pipe", "inherit"] });

try {
  const wat = join(dir, "in.wat");
  run("wasm-dis", [...FEATURES, file, "-o", wat]);
  const lines = readFileSync(wat, "utf8").split("\n");

  // Function names in binaryen's text: `$name`, or `$"..."` when they have spaces or quotes.
  const NAME = String.raw`(?:\$"(?:[^"\\]|\\.)*"|\$[^\s()]+)`;
  const re = (source, flags) => new RegExp(source.replaceAll("NAME", NAME), flags);

  // A signature is the text of its params and results, e.g. "i32 i32 -> i32".
  const sigOf = (text) => {
    const params = [...text.matchAll(/\(param (?:\$\S+ )?([^()]+)\)/g)].map((m) => m[1].trim()).join(" ");
    const results = [...text.matchAll(/\(result ([^()]+)\)/g)].map((m) => m[1].trim()).join(" ");
    return `${params} -> ${results}`;
  };

  const types = new Map(); // type name -> signature
  const sig = new Map(); // function name -> signature
  const body = new Map(); // function name -> its text
  const roots = [];
  const funcTables = new Set();
  const exportedTables = [];
  let elem;
  let current = null;
  for (const line of lines) {
    let m;
    if ((m = line.match(re(String.raw`^ \(type (NAME) \(func(.*)\)\)$`)))) types.set(m[1], sigOf(m[2]));
    else if ((m = line.match(re(String.raw`^ \(import "[^"]*" "[^"]*" \(func (NAME)(.*)\)\)$`)))) sig.set(m[1], sigOf(m[2]));
    else if ((m = line.match(re(String.raw`^ \(export "[^"]*" \(func (NAME)\)\)$`)))) roots.push(m[1]);
    else if ((m = line.match(re(String.raw`^ \(start (NAME)\)$`)))) roots.push(m[1]);
    else if ((m = line.match(re(String.raw`^ \(elem (?:NAME )?(\(table NAME\) )?\(i32\.const (\d+)\) (?:func )?(.*)\)$`)))) {
      if (elem) throw new Error("more than one element segment: not handled");
      elem = { table: m[1] ?? "", offset: Number(m[2]), funcs: m[3].match(re(NAME, "g")), line };
    } else if (line.startsWith(" (elem ")) {
      throw new Error(`element segment not understood: ${line.slice(0, 80)}`);
    } else if ((m = line.match(re(String.raw`^ \(table (NAME) .* funcref\)$`)))) funcTables.add(m[1]);
    else if ((m = line.match(re(String.raw`^ \(export "[^"]*" \(table (NAME)\)\)$`)))) exportedTables.push(m[1]);
    else if (/^ \(import .*\(table .*funcref/.test(line)) throw new Error("imported function table");
    if ((m = line.match(re(String.raw`^ \(func (NAME)(.*)$`)))) {
      current = m[1];
      sig.set(current, sigOf(m[2]));
      body.set(current, []);
    } else if (current && line.startsWith(" (")) current = null;
    if (current) body.get(current).push(line);
  }
  // An exported function table could be called from JS with any index: nothing to prune then.
  if (exportedTables.some((t) => funcTables.has(t))) throw new Error("exported function table");

  // Direct callees and call_indirect types of each function.
  const calls = new Map();
  const indirect = new Map();
  for (const [name, text] of body) {
    const t = text.join("\n");
    for (const m of t.matchAll(re(String.raw`\(table\.\w+ (NAME)`, "g"))) {
      if (funcTables.has(m[1])) throw new Error(`${name}: table instructions on the function table: not handled`);
    }
    // Direct calls, and functions taken as references (kept alive the same way).
    calls.set(name, [...t.matchAll(re(String.raw`\((?:(?:return_)?call|ref\.func) (NAME)`, "g"))].map((m) => m[1]));
    indirect.set(
      name,
      [...t.matchAll(re(String.raw`\((?:return_)?call_indirect (?:NAME )?\(type (NAME)\)`, "g"))].map((m) => types.get(m[1])),
    );
  }

  if (!elem) elem = { offset: 0, funcs: [], line: null };

  // wasm-bindgen's closure adapters that JS does not call (not exported).
  const exported = new Set(roots);
  const adapter = (f) => f.includes("closures::_::invoke") && !exported.has(f);
  const candidate = (f) => !adapter(f) && liveTypes.has(sig.get(f));

  const live = new Set();
  const liveTypes = new Set();
  const queue = [...roots];
  const visit = () => {
    while (queue.length) {
      const f = queue.pop();
      if (live.has(f)) continue;
      live.add(f);
      for (const c of calls.get(f) ?? []) queue.push(c);
      for (const t of indirect.get(f) ?? []) liveTypes.add(t);
    }
  };
  let before = -1;
  while (before !== live.size + liveTypes.size) {
    before = live.size + liveTypes.size;
    visit();
    for (const f of elem.funcs) if (candidate(f)) queue.push(f);
    visit();
  }

  // Consecutive kept entries form one segment each; dropped entries are gaps (empty slots).
  const segments = [];
  elem.funcs.forEach((f, i) => {
    if (!candidate(f)) return;
    const last = segments.at(-1);
    if (last && last.end === i) {
      last.funcs.push(f);
      last.end = i + 1;
    } else segments.push({ start: i, end: i + 1, funcs: [f] });
  });
  const kept = segments.reduce((n, s) => n + s.funcs.length, 0);
  const text = segments
    .map((s) => ` (elem ${elem.table}(i32.const ${elem.offset + s.start}) func ${s.funcs.join(" ")})`)
    .join("\n");
  if (elem.line) writeFileSync(wat, lines.join("\n").replace(elem.line, text));

  // A build with reference types (a Rust application's own) holds externrefs.
  if (lines.some((l) => l.includes("externref"))) FEATURES.push("--enable-reference-types");
  const out = join(dir, "out.wasm");
  run("wasm-as", [...FEATURES, wat, "-o", out]);
  // `--flatten --rereloop` before two -Oz rounds rebuilds the control flow: 0.2 KB gzip less
  // than -Oz alone on this crate.
  const opt = ["--flatten", "--rereloop", "-Oz", "-Oz", "--converge"];
  run("wasm-opt", [...FEATURES, ...opt, "--strip-debug", "--strip-producers", "--strip-target-features", out, "-o", file]);
  console.log(`prune-table: kept ${kept} of ${elem.funcs.length} table entries`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
